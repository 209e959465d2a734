//! The conformance suite of `testkit`, run against tier-orm: one test per case of the
//! `/users` contract, each against a fresh database.
//!
//! `cargo test -p tier-orm --test conformance` (needs PostgreSQL: see the README).
//! A test target without the built-in harness (`harness = false` in Cargo.toml):
//! testkit lists the cases and runs each as a test.

fn main() -> std::process::ExitCode {
    testkit::run_conformance(tier_orm::connect)
}
