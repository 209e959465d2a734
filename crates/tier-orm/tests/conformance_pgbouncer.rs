//! The conformance suite against tier-orm behind a real PgBouncer (transaction pooling
//! mode, `DB_PREPARED_STATEMENTS=false`), plus what breaks with prepared statements on
//! and a start-up against a missing database: see `testkit::behind_pgbouncer`.
//!
//! `cargo test -p tier-orm --test conformance_pgbouncer` (needs PostgreSQL and
//! `pgbouncer`: `apt-get install -y pgbouncer`).

fn main() -> std::process::ExitCode {
    testkit::run_conformance_through_pgbouncer(tier_orm::connect, env!("CARGO_BIN_EXE_tier-orm"))
}
