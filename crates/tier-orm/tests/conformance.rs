//! The conformance suite of `testkit`, run against tier-orm: one test per case of the
//! `/users` contract, each against a fresh database.
//!
//! `cargo test -p tier-orm --test conformance` (needs PostgreSQL: see the README).

testkit::conformance_suite!(tier_orm::connect);
