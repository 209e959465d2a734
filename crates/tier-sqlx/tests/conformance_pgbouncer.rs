//! The conformance suite against tier-sqlx behind a real PgBouncer (transaction pooling
//! mode, `DB_PREPARED_STATEMENTS=false`), plus what breaks with prepared statements on
//! and a start-up against a missing database: see `testkit::behind_pgbouncer`.
//!
//! `cargo test -p tier-sqlx --test conformance_pgbouncer` (needs PostgreSQL and
//! `pgbouncer`: `apt-get install -y pgbouncer`).

fn main() -> std::process::ExitCode {
    testkit::run_conformance_through_pgbouncer(tier_sqlx::connect, env!("CARGO_BIN_EXE_tier-sqlx"))
}
