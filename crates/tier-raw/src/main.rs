//! The `tier-raw` server: `cargo run -p tier-raw`, then open http://127.0.0.1:3001/docs.
//!
//! `DB_PIPELINE=true cargo run -p tier-raw` serves reads through shared, pipelined
//! connections instead (see `src/pipelined.rs`): the benchmark's fourth row.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // `.env` may set DB_PIPELINE, so read it before choosing (run_tier reads it again,
    // which changes nothing: variables already set are kept).
    let _ = dotenvy::dotenv();
    if tier_raw::pipeline_enabled() {
        users_api::run_tier(tier_raw::TIER, tier_raw::connect_pipelined).await
    } else {
        users_api::run_tier(tier_raw::TIER, tier_raw::connect).await
    }
}
