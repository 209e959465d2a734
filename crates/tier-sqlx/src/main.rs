//! The `tier-sqlx` server: `cargo run -p tier-sqlx`, then open http://127.0.0.1:3002/docs.

use std::process::ExitCode;

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    users_api::run_tier(tier_sqlx::TIER, tier_sqlx::connect).await
}
// ANCHOR_END: main
