//! The reference solutions, `exercises/solutions/exNN_*.rs`, and their copy of the checks.
//!
//! Read one when you are done, or stuck past the last hint: each solution's comments
//! say why it is written the way it is.

#[path = "../solutions/ex01_join.rs"]
pub mod ex01_join;
#[path = "../solutions/ex02_blocking.rs"]
pub mod ex02_blocking;
#[path = "../solutions/ex03_field.rs"]
pub mod ex03_field;
#[path = "../solutions/ex04_n_plus_one.rs"]
pub mod ex04_n_plus_one;
#[path = "../solutions/ex05_transaction.rs"]
pub mod ex05_transaction;
#[path = "../solutions/ex06_streaming.rs"]
pub mod ex06_streaming;

// The same checks as `crate::stubs`, here run against the solutions above.
#[path = "checks/mod.rs"]
pub mod checks;
