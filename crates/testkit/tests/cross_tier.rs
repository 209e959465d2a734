//! The three tiers serve one API: the same request script, sent to each tier (each on
//! a fresh database), must get the same statuses, headers and bodies, for users, their
//! posts, the batch and the export alike. Bodies are compared byte for byte (member
//! order, escapes, the export's line breaks), and also parsed, for a readable failure.
//! Only `created_at` values (a post's, its embedded author's, a batch's users', an
//! export line's) and request ids may differ, and they are masked. The script and the
//! masks are in `testkit::script`, shared with `tests/several_instances.rs`.
//!
//! `cargo test -p testkit --test cross_tier` (needs PostgreSQL: see the README).

use serde_json::Value;
use testkit::TestApp;
use testkit::script::run_round_robin;

/// The script ([`testkit::script`]), every step to `app`.
async fn run(app: &TestApp) -> Vec<Value> {
    run_round_robin(&app.client, std::slice::from_ref(&app.base_url)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_three_tiers_answer_alike() {
    let raw = run(&TestApp::spawn(tier_raw::connect).await).await;
    let sqlx = run(&TestApp::spawn(tier_sqlx::connect).await).await;
    let orm = run(&TestApp::spawn(tier_orm::connect).await).await;

    // The script exercises every status that needs no fault injection.
    let statuses: std::collections::BTreeSet<u64> =
        raw.iter().filter_map(|t| t["status"].as_u64()).collect();
    let expected = [200, 201, 204, 400, 404, 405, 409, 413, 415, 422];
    assert_eq!(statuses.into_iter().collect::<Vec<_>>(), expected);

    for (name, other) in [("tier-sqlx", &sqlx), ("tier-orm", &orm)] {
        for (a, b) in raw.iter().zip(other.iter()) {
            assert_eq!(
                a, b,
                "\n{name} answered differently from tier-raw to {}:\n tier-raw: {a:#}\n {name}: {b:#}",
                a["request"]
            );
        }
        assert_eq!(raw.len(), other.len());
    }
}
