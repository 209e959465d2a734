//! The `tier-raw` server: `cargo run -p tier-raw`, then open http://127.0.0.1:3001/docs.
//!
//! `DB_PIPELINE=true cargo run -p tier-raw` serves reads through shared, pipelined
//! connections instead (see `src/pipelined.rs`): the benchmark's fourth row. The two
//! stores are different types, so the choice is made here, after the configuration is
//! read and before anything connects.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match users_api::load_config(tier_raw::TIER) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if config.pipeline.enabled {
        users_api::serve_tier(tier_raw::TIER, config, tier_raw::connect_pipelined).await
    } else {
        users_api::serve_tier(tier_raw::TIER, config, tier_raw::connect).await
    }
}
