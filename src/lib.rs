//! # users-course: the lecture around the three tiers
//!
//! The root package of the workspace. It owns what the course shows rather than what
//! it serves:
//!
//! * `examples/`: the lecture's small programs, `cargo run --example NAME` (each file
//!   opens with what it shows and what you should see);
//! * `slides/lecture.md`: the lecture as a Marp deck, its code quoted from the sources;
//! * [`anchors`]: reads the `// ANCHOR:` regions those quotes come from, for the slide
//!   test (`tests/slides.rs`) and for the side-by-side view;
//! * [`outputs`]: the program output the slides show, marked with the program that
//!   prints it, and compared with a fresh run by `tests/slide_outputs.rs`;
//! * [`side_by_side`]: the three tiers next to each other,
//!   `cargo run --bin side-by-side -- create` or `-- --html target/side-by-side.html`;
//! * `tests/`: the examples run as tests, the slides checked against the sources, and
//!   the type-safety evidence (`tests/type_safety.rs`, `tests/compile-fail/`).

pub mod anchors;
pub mod outputs;
pub mod side_by_side;
