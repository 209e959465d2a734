//! The conformance suite of `testkit`, run against tier-raw: one test per case of the
//! `/users` contract, each against a fresh database.
//!
//! `cargo test -p tier-raw --test conformance` (needs PostgreSQL: see the README).
//! A test target without the built-in harness (`harness = false` in Cargo.toml):
//! testkit lists the cases and runs each as a test.

fn main() -> std::process::ExitCode {
    testkit::run_conformance(tier_raw::connect)
}
