//! The fault suite against tier-raw in its pipelined mode (`DB_PIPELINE=true`): the
//! shared read clients must survive outages, cuts and kills as the pool does, and
//! reconnect by themselves. The binary cases run the binary with `DB_PIPELINE=true`.
//!
//! `cargo test -p tier-raw --test faults_pipelined` (needs PostgreSQL).

testkit::fault_suite!(
    tier_raw::connect_pipelined,
    "tier-raw",
    "DB_PIPELINE" = "true"
);
