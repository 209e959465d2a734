//! The fault suite against tier-raw in its pipelined mode (`DB_PIPELINE=true`): the
//! shared read clients must survive outages, cuts and kills as the pool does, and
//! reconnect by themselves. The binary cases run the binary with `DB_PIPELINE=true`.
//!
//! `cargo test -p tier-raw --test faults_pipelined` (needs PostgreSQL).

fn main() -> std::process::ExitCode {
    testkit::run_faults(
        tier_raw::connect_pipelined,
        env!("CARGO_BIN_EXE_tier-raw"),
        &[("DB_PIPELINE", "true")],
    )
}
