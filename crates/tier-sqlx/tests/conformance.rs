//! The conformance suite of `testkit`, run against tier-sqlx: one test per case of the
//! `/users` contract, each against a fresh database.
//!
//! `cargo test -p tier-sqlx --test conformance` (needs PostgreSQL: see the README).

testkit::conformance_suite!(tier_sqlx::connect);
