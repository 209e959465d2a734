//! The `tier-orm` server: `cargo run -p tier-orm`, then open http://127.0.0.1:3003/docs.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    users_api::run_tier(tier_orm::TIER, tier_orm::connect).await
}
