//! The `tier-raw` server: `cargo run -p tier-raw`, then open http://127.0.0.1:3001/docs.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    users_api::run_tier(tier_raw::TIER, tier_raw::connect).await
}
