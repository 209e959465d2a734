//! The conformance suite against tier-raw in its pipelined mode (`DB_PIPELINE=true`):
//! reads on shared clients must answer exactly as the pooled store does.
//!
//! `cargo test -p tier-raw --test conformance_pipelined` (needs PostgreSQL).

fn main() -> std::process::ExitCode {
    testkit::run_conformance(tier_raw::connect_pipelined)
}
