//! Root package of the workspace: it owns the lecture's example programs in `examples/`.
