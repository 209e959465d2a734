//! The conformance suite against tier-raw behind a real PgBouncer (transaction pooling
//! mode, `DB_PREPARED_STATEMENTS=false`), plus what breaks with prepared statements on
//! and a start-up against a missing database: see `testkit::behind_pgbouncer`.
//!
//! `cargo test -p tier-raw --test conformance_pgbouncer` (needs PostgreSQL and
//! `pgbouncer`: `apt-get install -y pgbouncer`).

fn main() -> std::process::ExitCode {
    testkit::run_conformance_through_pgbouncer(tier_raw::connect, env!("CARGO_BIN_EXE_tier-raw"))
}
