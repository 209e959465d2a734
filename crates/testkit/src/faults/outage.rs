//! Outages: the database goes away entirely, or the network to it stops answering.
//! Every request is answered 503 with `Retry-After` within the contract's bound, and
//! the tier recovers by itself once the database is back.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use tokio::time::Instant;

use super::helpers::{
    CONTRACT_BOUND, SLACK, all_at_once, check_traffic, every_endpoint,
    every_endpoint_answers_normally, id_of, millis, slowest_503, traffic, until_status, warm_pool,
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
/// each is answered 503 within 5 s (the operation deadline every handler runs its store
/// call under, `users_api::deadline`), and the server recovers once the network heals.
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
    let worst = slowest_503(&answers, CONTRACT_BOUND + SLACK, "a partition");
    proxy.restore().await;
    let recovery = until_status(app, &format!("/users/{user}"), 200, CONTRACT_BOUND + SLACK).await;
    until_status(app, "/health", 200, CONTRACT_BOUND + SLACK).await;
    println!(
        "FIGURE partition {}: 503 after {} ms (slowest); first success {} ms after the network healed",
        tier_label(),
        millis(worst),
        millis(recovery)
    );
}

/// A partition under steady traffic: four clients loop through create, read, rename and
/// list while the network to the database is silent for 7 s, longer than any deadline.
/// Every answer is a success or a 503 with `Retry-After` within 5 s (plus slack), none
/// is cut off; a request sent 5 s after the network healed succeeds.
///
/// Under traffic every pooled connection is busy when the network goes silent, so each
/// holds a query that will never be answered: what the single requests above cannot
/// show is that the connections lost this way are not lent out again and again.
pub(super) async fn partition_under_traffic_answers_in_time(app: &TestApp, proxy: &FaultProxy) {
    const WORKERS: usize = 4;
    const PARTITION: Duration = Duration::from_secs(7);
    let start = Instant::now();
    let until = start + Duration::from_secs(1) + PARTITION + CONTRACT_BOUND + SLACK * 2;
    let partition = async {
        // A second of healthy traffic first, so the pool is warm and busy.
        tokio::time::sleep_until(start + Duration::from_secs(1)).await;
        proxy.blackhole().await;
        let cut = Instant::now();
        tokio::time::sleep(PARTITION).await;
        proxy.restore().await;
        (cut, Instant::now())
    };
    let (answers, (cut, healed)) =
        tokio::join!(traffic(app, WORKERS, until, "partition"), partition);
    // Every answer in time, a success or a 503; no 503 for a request sent once the
    // network had been back for `CONTRACT_BOUND`.
    let (ok, unavailable, _) = check_traffic(&answers, cut, healed - cut + CONTRACT_BOUND);
    assert!(
        unavailable >= WORKERS,
        "{unavailable} requests answered 503 during a {PARTITION:?} partition: was the network cut?"
    );
    let after_heal = |since: Duration| answers.iter().filter(move |a| a.started >= healed + since);
    assert!(
        after_heal(CONTRACT_BOUND).count() > 0,
        "no request was sent 5 s after the network healed: nothing shows the tier recovered"
    );
    let recovered = after_heal(Duration::ZERO)
        .filter(|answer| answer.response.status < 300)
        .map(|answer| (answer.started + answer.elapsed) - healed)
        .min()
        .expect("a request sent after the network healed succeeds");
    let slowest = answers.iter().map(|answer| answer.elapsed).max();
    println!(
        "FIGURE partition_under_traffic {} slowest={} ms ({ok} ok, {unavailable} 503); first success {} ms after the network healed",
        tier_label(),
        millis(slowest.unwrap_or_default()),
        millis(recovered)
    );
}

/// The tier a figure is for, read from the test binary's name (`faults` or
/// `faults_pipelined`) and the package that built it.
fn tier_label() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let pipelined = exe.to_string_lossy().contains("pipelined");
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "tier".to_owned());
    if pipelined {
        format!("{package}-pipelined")
    } else {
        package
    }
}
