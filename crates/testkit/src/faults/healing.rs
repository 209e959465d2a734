//! Healing: the tier's connections die under it (terminated by the server, reset on
//! the network, or killed while the tier sat idle). Only the requests in flight may
//! fail, and only with 503; the pool replaces its dead connections by itself.

use std::time::Duration;

use tokio::time::Instant;

use super::helpers::{
    CONTRACT_BOUND, check_traffic, every_endpoint_answers_normally, id_of, millis,
    terminate_tier_connections, traffic, until_status, warm_pool,
};
use crate::proxy::FaultProxy;
use crate::{TEST_POOL_SIZE, TestApp};

/// How long after a connection kill requests may still fail: the requests in flight,
/// and those that picked a dead connection before the pool noticed.
const HEAL: Duration = Duration::from_secs(2);

/// Workers sending traffic during the kill tests.
const WORKERS: usize = 3 * TEST_POOL_SIZE;

/// `pg_terminate_backend` on every connection of the tier, mid-traffic (what an
/// administrator, or a database restart, does): only requests in flight may fail, and
/// only with 503; the pool replaces the dead connections by itself.
pub(super) async fn terminated_backends_heal(app: &TestApp) {
    let admin = app.db.connect().await;
    let started = Instant::now();
    let until = started + Duration::from_millis(3500);
    let killer = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let killed_at = Instant::now();
        (killed_at, terminate_tier_connections(&admin).await)
    };
    let (answers, (killed_at, killed)) = tokio::join!(traffic(app, WORKERS, until, "kill"), killer);
    let (ok, failed, last) = check_traffic(&answers, killed_at, HEAL);
    until_status(app, "/health", 200, CONTRACT_BOUND).await;
    println!(
        "FIGURE terminate_backend: {killed} connections killed; {ok} ok, {failed} 503, last 503 {} ms after the kill",
        millis(last)
    );
}

/// Every connection reset at the network level, mid-traffic (a crash or failover):
/// only requests in flight may fail, and only with 503; the pool heals.
pub(super) async fn cut_connections_heal(app: &TestApp, proxy: &FaultProxy) {
    let started = Instant::now();
    let until = started + Duration::from_millis(3500);
    let cutter = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let open = proxy.open_connections();
        proxy.cut_all();
        (Instant::now(), open)
    };
    let (answers, (cut_at, open)) = tokio::join!(traffic(app, WORKERS, until, "cut"), cutter);
    assert!(open > 0, "the tier had no connection to cut");
    let (ok, failed, last) = check_traffic(&answers, cut_at, HEAL);
    until_status(app, "/health", 200, CONTRACT_BOUND).await;
    println!(
        "FIGURE cut_all: {open} connections cut; {ok} ok, {failed} 503, last 503 {} ms after the cut",
        millis(last)
    );
}

/// How long the tier sits idle after its connections are killed, in
/// [`restart_while_idle_fails_no_request`]: longer than the idle time after which
/// tier-sqlx and tier-orm check a connection before lending it (1 s).
const QUIET: Duration = Duration::from_secs(2);

/// The database restarts while the tier is idle (its connections are terminated, then
/// nothing happens for a while): the next requests must not notice. A pool has had
/// time to learn that its connections died, or checks an idle connection before
/// lending it; either way no request fails. A tier that skips every check to save a
/// round trip fails here with 503s.
pub(super) async fn restart_while_idle_fails_no_request(app: &TestApp) {
    let existing = id_of(&app.create_user("Ada", "ada@example.com").await);
    let doomed = id_of(&app.create_user("Doomed", "doomed@example.com").await);
    // Warm the pool: several connections open, all of them about to die.
    warm_pool(app, existing).await;
    terminate_tier_connections(&app.db.connect().await).await;
    tokio::time::sleep(QUIET).await;

    every_endpoint_answers_normally(app, existing, doomed).await;
}
