//! The fault suite of `testkit`, run against tier-raw: outages, killed connections,
//! overload, graceful shutdown of the real binary, lost writes, the statement timeout,
//! generated hostile requests, and the password and SQL-injection checks. Each case is
//! its own test, against a fresh database, behind a fault-injecting proxy.
//!
//! `cargo test -p tier-raw --test faults` (needs PostgreSQL: see the README). Add
//! `-- --nocapture` to see the measured figures (`FIGURE` lines).

testkit::fault_suite!(tier_raw::connect, "tier-raw");
