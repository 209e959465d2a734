//! # exercises: graded exercises for the course, with their checks and solutions
//!
//! Six exercises, in the order of the lecture. Each is one file of `src/` that you edit;
//! its checks say whether it is solved. Start with `cargo run -p exercises`, which lists
//! them as solved or not yet, and names the next one (see `exercises/README.md`).
//!
//! | module | the lecture's topic | you write |
//! | --- | --- | --- |
//! | `ex01_join` | waiting for several things at once | `tokio::join!`, a deadline, `tokio::select!` |
//! | `ex02_blocking` | why blocking calls hurt | `tokio::task::spawn_blocking` |
//! | `ex03_field` | the three tiers | a new column through tokio-postgres, sqlx and SeaORM |
//! | `ex04_n_plus_one` | relations and N+1 | posts with their authors in 1 or 2 statements, not 1 + N |
//! | `ex05_transaction` | transactions | a user and their first post, both or neither |
//! | `ex06_streaming` | streaming | an NDJSON export that sends rows as they come |
//!
//! ## Two copies of every exercise, and which one is checked
//!
//! * [`stubs`] holds the files you edit, `src/exNN_*.rs`: a `todo!()` or a version that
//!   works but is wrong in the way the exercise is about.
//! * [`solutions`] holds the reference solutions, `solutions/exNN_*.rs`.
//!
//! Both are compiled in every build, so a solution can never stop compiling unnoticed.
//! Each includes the same checks (`src/checks/`, written once against `super::exNN_*`),
//! so each has its own copy of them. [`selected`] is the copy that `cargo test` and
//! `cargo run` check: your files, or with the `solutions` feature the reference ones.
//!
//! Nobody passes that feature by hand. The root package (`users-course`) has
//! `exercises = { path = "exercises", features = ["solutions"] }` as a dev-dependency;
//! `cargo test --workspace` builds it, and cargo builds each package once per run with
//! the union of the features anyone asked for. So the workspace's test command (what
//! CI runs) checks the solutions, and also checks that every stub still fails every
//! check (`unsolved_stub::*` in `tests/checks.rs`), while your `cargo test -p exercises`
//! builds only this package, without the feature, and checks your files.

// Loading `src/checks/` twice, once per copy of the exercises, is the design above.
#![allow(
    clippy::duplicate_mod,
    reason = "the checks are compiled once against the stubs and once against the solutions"
)]

#[macro_use]
pub mod check;
pub mod given;
pub mod solutions;
pub mod stubs;

/// Your files (`src/`): what `cargo test -p exercises` and `cargo run -p exercises` check.
#[cfg(not(feature = "solutions"))]
pub use stubs as selected;

/// The reference solutions (`solutions/`): checked when the `solutions` feature is on,
/// as it is in `cargo test --workspace`.
#[cfg(feature = "solutions")]
pub use solutions as selected;

/// Whether this build checks the reference solutions rather than your files.
pub const CHECKS_SOLUTIONS: bool = cfg!(feature = "solutions");
