//! The conformance suite of `testkit`, run against tier-raw: one test per case of the
//! `/users` contract, each against a fresh database.
//!
//! `cargo test -p tier-raw --test conformance` (needs PostgreSQL: see the README).

testkit::conformance_suite!(tier_raw::connect);
