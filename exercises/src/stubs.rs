//! The exercises as you edit them: one file of `src/` each, and their checks.
//!
//! Every file starts as a stub that fails its checks. (The `#[path]`s say that the
//! files are `src/exNN_*.rs`, not `src/stubs/exNN_*.rs`, where a module `stubs` would
//! look by default.) See the crate's documentation for
//! how this module and [`crate::solutions`] share the checks.

#[path = "ex01_join.rs"]
pub mod ex01_join;
#[path = "ex02_blocking.rs"]
pub mod ex02_blocking;
#[path = "ex03_field.rs"]
pub mod ex03_field;
#[path = "ex04_n_plus_one.rs"]
pub mod ex04_n_plus_one;
#[path = "ex05_transaction.rs"]
pub mod ex05_transaction;
#[path = "ex06_streaming.rs"]
pub mod ex06_streaming;

// The checks, written against `super::exNN_*`: here, the files above.
#[path = "checks/mod.rs"]
pub mod checks;
