//! The fault suite of `testkit`, run against tier-sqlx: outages, killed connections,
//! overload, graceful shutdown of the real binary, lost writes, timeouts, generated
//! hostile requests, and the password and SQL-injection checks. Each case is its own
//! test, against a fresh database, most of them behind a fault-injecting proxy.
//!
//! `cargo test -p tier-sqlx --test faults` (needs PostgreSQL: see the README). The
//! measured figures print as `FIGURE` lines. `env!("CARGO_BIN_EXE_tier-sqlx")` is the
//! tier's binary, which Cargo builds for this package's tests.

fn main() -> std::process::ExitCode {
    testkit::run_faults(tier_sqlx::connect, env!("CARGO_BIN_EXE_tier-sqlx"), &[])
}
