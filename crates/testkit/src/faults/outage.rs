//! Outages: the database goes away entirely, or the network to it stops answering.
//! Every request is answered 503 with `Retry-After` within the contract's bound, and
//! the tier recovers by itself once the database is back.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::helpers::{
    CONTRACT_BOUND, REQUEST_TIMEOUT, SLACK, all_at_once, every_endpoint,
    every_endpoint_answers_normally, id_of, millis, slowest_503, until_status, warm_pool,
};
use crate::TestApp;
use crate::proxy::FaultProxy;

/// The database goes away (open connections cut, new ones refused): every endpoint
/// answers 503 problem+json with `Retry-After` within 5 s, `/health` says 503; once it
/// is back, requests succeed again within 5 s, with no restart.
pub(super) async fn outage_answers_503_then_recovers(app: &TestApp, proxy: &FaultProxy) {
    let existing = id_of(&app.create_user("Ada", "ada@example.com").await);
    let doomed = id_of(&app.create_user("Doomed", "doomed@example.com").await);
    // Warm the pool: several connections open, so the cut has something to cut.
    warm_pool(app, existing).await;

    proxy.outage().await;
    let mut worst = Duration::ZERO;
    // Twice: once while the pool still holds the cut connections, once after.
    for round in ["outage-1", "outage-2"] {
        let answers = all_at_once(app, &every_endpoint(existing, doomed, round)).await;
        worst = worst.max(slowest_503(&answers, CONTRACT_BOUND + SLACK, "an outage"));
    }

    proxy.restore().await;
    let recovery = until_status(
        app,
        &format!("/users/{existing}"),
        200,
        CONTRACT_BOUND + SLACK,
    )
    .await;
    every_endpoint_answers_normally(app, existing, doomed).await;
    println!(
        "FIGURE outage: slowest 503 {} ms; first success {} ms after restore",
        millis(worst),
        millis(recovery)
    );
}

/// A network partition: connections stay open but nothing answers. No request hangs:
/// each is answered 503 (by the pool's timeouts, or at the latest by the HTTP layer's
/// request timeout), and the server recovers once the network heals.
pub(super) async fn partition_answers_503_then_recovers(app: &TestApp, proxy: &FaultProxy) {
    let user = id_of(&app.create_user("Ada", "ada@example.com").await);
    proxy.blackhole().await;
    let requests = vec![
        (Method::GET, format!("/users/{user}"), None, 200),
        (Method::GET, "/health".to_owned(), None, 200),
        (
            Method::POST,
            "/users".to_owned(),
            Some(json!({"name": "P", "email": "p@example.com"})),
            201,
        ),
    ];
    let answers = all_at_once(app, &requests).await;
    let worst = slowest_503(&answers, REQUEST_TIMEOUT + SLACK, "a partition");
    proxy.restore().await;
    let recovery = until_status(app, &format!("/users/{user}"), 200, CONTRACT_BOUND + SLACK).await;
    until_status(app, "/health", 200, CONTRACT_BOUND + SLACK).await;
    println!(
        "FIGURE partition: 503 after {} ms (slowest); first success {} ms after the network healed",
        millis(worst),
        millis(recovery)
    );
}
