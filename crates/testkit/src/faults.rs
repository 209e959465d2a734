//! Fault tests: what a tier does when its database goes away, slows down, or is cut
//! off mid-traffic, when it is shut down with requests in flight, and when many
//! clients write at once.
//!
//! API.md promises that no request hangs (a dead database answers 503 with
//! `Retry-After`), that a server recovers by itself when the database comes back, that
//! a shutdown finishes the requests in flight, and that no acknowledged write is lost.
//! Each `pub async fn` here checks one of those promises against a tier, through a
//! [`FaultProxy`] that breaks the tier's connection to PostgreSQL on command.
//! [`crate::fault_suite!`] runs every case (and those of [`crate::hostile`] and
//! [`crate::security`]) as its own test for a tier.
//!
//! The cases print what they measure (`FIGURE ...` lines; see them with
//! `cargo test -p tier-raw --test faults -- --nocapture`). They assert only the
//! contract's bounds, never how fast a tier happens to be today.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::conformance::all_users;
use crate::process::{TierBinary, TierProcess};
use crate::proxy::FaultProxy;
use crate::{TEST_POOL_SIZE, TestApp, TestDb, TestResponse};

/// API.md: "database unreachable, or no pooled connection within 5 s: 503 with
/// `Retry-After`, never a hung request". Also how fast a server must recover.
pub const CONTRACT_BOUND: Duration = Duration::from_secs(5);

/// What a loaded 2-core CI machine may add to the contract's bound: a tier that waits
/// exactly 5 s for a connection answers a few milliseconds later, and a test machine
/// running other tests in parallel can add more.
pub const SLACK: Duration = Duration::from_secs(1);

/// A request with no answer after this long is hung, and fails its test (rather than
/// hanging the test run).
const HANG: Duration = Duration::from_secs(30);

/// The HTTP layer's backstop (`users_api::app::REQUEST_TIMEOUT`): a request the
/// database never answers is cut off with a 503 after this long.
const REQUEST_TIMEOUT: Duration = users_api::app::REQUEST_TIMEOUT;

/// `detail` of a 503 made by a store (as opposed to the request-timeout backstop).
const STORE_503_DETAIL: &str = "the database is unavailable; retry later";

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

/// A response, with when its request started and how long it took.
#[derive(Debug, Clone)]
pub struct Timed {
    /// The response.
    pub response: TestResponse,
    /// When the request was sent.
    pub started: Instant,
    /// How long the answer took.
    pub elapsed: Duration,
}

/// Sends a request with an optional JSON body, timing it. A request with no answer
/// (hung, or the connection broke) fails the test.
pub(crate) async fn timed(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Timed {
    timed_at(&app.client, &app.base_url, method, path, body).await
}

async fn timed_at(
    client: &reqwest::Client,
    base_url: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Timed {
    let started = Instant::now();
    let mut request = client
        .request(method.clone(), format!("{base_url}{path}"))
        .timeout(HANG);
    if let Some(body) = body {
        request = request
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).expect("serialize"));
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => panic!(
            "{method} {path}: no answer after {:?}: {err}",
            started.elapsed()
        ),
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .unwrap_or_else(|err| panic!("{method} {path}: body broke off: {err}"))
        .to_vec();
    Timed {
        response: TestResponse {
            method,
            path: path.to_owned(),
            status,
            headers,
            body,
        },
        started,
        elapsed: started.elapsed(),
    }
}

/// Fails the test unless this is the contract's 503: problem+json, `Retry-After`.
fn assert_unavailable(response: &TestResponse) {
    response.assert_problem(503);
    assert!(
        response
            .header("retry-after")
            .is_some_and(|value| value.parse::<u64>().is_ok()),
        "{} {}: 503 without a numeric Retry-After: {:?}",
        response.method,
        response.path,
        response.headers
    );
}

/// Fails the test unless every answer is a 503 with `Retry-After` that came within
/// `bound`; returns the slowest, for the figures.
fn slowest_503(answers: &[Timed], bound: Duration, fault: &str) -> Duration {
    let mut worst = Duration::ZERO;
    for answer in answers {
        assert_unavailable(&answer.response);
        assert!(
            answer.elapsed <= bound,
            "{} {} took {:?} to answer 503 in {fault}",
            answer.response.method,
            answer.response.path,
            answer.elapsed
        );
        worst = worst.max(answer.elapsed);
    }
    worst
}

/// One request to each endpoint (and `/health`), with what it answers when all is well.
fn every_endpoint(
    existing: i64,
    doomed: i64,
    tag: &str,
) -> Vec<(Method, String, Option<Value>, u16)> {
    vec![
        (
            Method::POST,
            "/users".to_owned(),
            Some(json!({"name": "New", "email": format!("{tag}@example.com")})),
            201,
        ),
        (Method::GET, "/users?limit=5".to_owned(), None, 200),
        (Method::GET, format!("/users/{existing}"), None, 200),
        (
            Method::PATCH,
            format!("/users/{existing}"),
            Some(json!({"name": format!("Renamed {tag}")})),
            200,
        ),
        (Method::DELETE, format!("/users/{doomed}"), None, 204),
        (Method::GET, "/health".to_owned(), None, 200),
    ]
}

/// Sends every request of `requests` at once.
async fn all_at_once(
    app: &TestApp,
    requests: &[(Method, String, Option<Value>, u16)],
) -> Vec<Timed> {
    futures::future::join_all(
        requests
            .iter()
            .map(|(method, path, body, _)| timed(app, method.clone(), path, body.as_ref())),
    )
    .await
}

fn id_of(user: &Value) -> i64 {
    user["id"].as_i64().expect("id is an integer")
}

/// Every endpoint at once, each expected to answer as it would on a healthy database.
async fn every_endpoint_answers_normally(app: &TestApp, existing: i64, doomed: i64) {
    let answers = all_at_once(app, &every_endpoint(existing, doomed, "after")).await;
    for (answer, (_, _, _, expected)) in answers.iter().zip(every_endpoint(existing, doomed, "x")) {
        answer.response.assert_status(expected);
    }
}

/// Opens several pooled connections: three reads of user `existing` at once.
async fn warm_pool(app: &TestApp, existing: i64) {
    let warm = all_at_once(app, &every_endpoint(existing, existing, "warm")[1..4]).await;
    for answer in &warm {
        assert!(answer.response.status < 300, "{:?}", answer.response);
    }
}

/// `pg_terminate_backend` on every connection to the test database but `admin`'s own
/// (what an administrator, or a database restart, does to the tier's pool); returns
/// how many there were, and fails the test if there were none.
async fn terminate_tier_connections(admin: &tokio_postgres::Client) -> i64 {
    let row = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .expect("terminate the tier's connections");
    let killed: i64 = row.get(0);
    assert!(killed > 0, "the tier had no connection to terminate");
    killed
}

/// Polls `GET path` until it answers `status`; returns how long that took, or fails
/// the test after `within`.
async fn until_status(app: &TestApp, path: &str, status: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let answer = timed(app, Method::GET, path, None).await;
        if answer.response.status == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "GET {path} still answers {} (not {status}) {:?} after the fault ended: {}",
            answer.response.status,
            started.elapsed(),
            answer.response.text()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn millis(duration: Duration) -> u128 {
    duration.as_millis()
}

/// Background traffic: `workers` clients, each looping create / read / rename / list
/// on its own users until `until`. Returns every answer.
async fn traffic(app: &TestApp, workers: usize, until: Instant, tag: &str) -> Vec<Timed> {
    let seed = app
        .create_user("Seed", &format!("seed-{tag}@example.com"))
        .await;
    let seed_id = id_of(&seed);
    let worker = |index: usize| async move {
        let mut answers = Vec::new();
        let mut own = seed_id;
        let mut step = 0usize;
        while Instant::now() < until {
            let answer = match step % 4 {
                0 => {
                    let body = json!({
                        "name": format!("w{index} #{step}"),
                        "email": format!("{tag}-w{index}-{step}@example.com"),
                    });
                    let answer = timed(app, Method::POST, "/users", Some(&body)).await;
                    if answer.response.status == 201 {
                        own = id_of(&answer.response.json());
                    }
                    answer
                }
                1 => timed(app, Method::GET, &format!("/users/{own}"), None).await,
                2 => {
                    let body = json!({"name": format!("w{index} renamed #{step}")});
                    timed(app, Method::PATCH, &format!("/users/{own}"), Some(&body)).await
                }
                _ => timed(app, Method::GET, "/users?limit=5", None).await,
            };
            answers.push(answer);
            step += 1;
        }
        answers
    };
    futures::future::join_all((0..workers).map(worker))
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Checks traffic that lived through a fault at `fault_at`: every answer is a success
/// or the contract's 503, never a 500, and comes within the contract's bound; failures
/// only hit requests sent before `fault_at + heal`. Returns (successes, 503s, time from the fault to the last 503).
fn check_traffic(answers: &[Timed], fault_at: Instant, heal: Duration) -> (usize, usize, Duration) {
    let mut failures = 0;
    let mut last_failure = Duration::ZERO;
    for answer in answers {
        let response = &answer.response;
        assert!(
            answer.elapsed <= CONTRACT_BOUND + SLACK,
            "{} {} took {:?} (answered {}): a request hung on a broken connection",
            response.method,
            response.path,
            answer.elapsed,
            response.status
        );
        match response.status {
            200 | 201 => {}
            503 => {
                assert_unavailable(response);
                failures += 1;
                let since_fault =
                    (answer.started + answer.elapsed).saturating_duration_since(fault_at);
                last_failure = last_failure.max(since_fault);
                assert!(
                    answer.started < fault_at + heal,
                    "{} {} sent {:?} after the fault still failed: the pool did not heal",
                    response.method,
                    response.path,
                    answer.started.saturating_duration_since(fault_at)
                );
            }
            other => panic!(
                "{} {}: {other} during a fault (only success or 503 allowed): {}",
                response.method,
                response.path,
                response.text()
            ),
        }
    }
    (answers.len() - failures, failures, last_failure)
}

// ---------------------------------------------------------------------------------
// Outages
// ---------------------------------------------------------------------------------

/// The database goes away (open connections cut, new ones refused): every endpoint
/// answers 503 problem+json with `Retry-After` within 5 s, `/health` says 503; once it
/// is back, requests succeed again within 5 s, with no restart.
pub async fn outage_answers_503_then_recovers(app: &TestApp, proxy: &FaultProxy) {
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
pub async fn partition_answers_503_then_recovers(app: &TestApp, proxy: &FaultProxy) {
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

// ---------------------------------------------------------------------------------
// Connections killed mid-traffic
// ---------------------------------------------------------------------------------

/// How long after a connection kill requests may still fail: the requests in flight,
/// and those that picked a dead connection before the pool noticed.
const HEAL: Duration = Duration::from_secs(2);

/// Workers sending traffic during the kill tests.
const WORKERS: usize = 3 * TEST_POOL_SIZE;

/// `pg_terminate_backend` on every connection of the tier, mid-traffic (what an
/// administrator, or a database restart, does): only requests in flight may fail, and
/// only with 503; the pool replaces the dead connections by itself.
pub async fn terminated_backends_heal(app: &TestApp, _proxy: &FaultProxy) {
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
pub async fn cut_connections_heal(app: &TestApp, proxy: &FaultProxy) {
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
pub async fn restart_while_idle_fails_no_request(app: &TestApp, _proxy: &FaultProxy) {
    let existing = id_of(&app.create_user("Ada", "ada@example.com").await);
    let doomed = id_of(&app.create_user("Doomed", "doomed@example.com").await);
    // Warm the pool: several connections open, all of them about to die.
    warm_pool(app, existing).await;
    terminate_tier_connections(&app.db.connect().await).await;
    tokio::time::sleep(QUIET).await;

    every_endpoint_answers_normally(app, existing, doomed).await;
}

// ---------------------------------------------------------------------------------
// Overload
// ---------------------------------------------------------------------------------

/// Added to every round trip to the database in the overload test.
const OVERLOAD_LATENCY: Duration = Duration::from_millis(300);

/// A slow database (300 ms more per round trip) and ten times more concurrent requests
/// than the pool has connections: every request either succeeds or is shed with a
/// 503, none waits past the contract's bound for a connection, none hangs.
///
/// A request that got its connection just before the 5 s bound still runs its own
/// statements (a few round trips at the added latency): that work is allowed on top.
pub async fn overload_sheds_or_serves_in_time(app: &TestApp, proxy: &FaultProxy) {
    let user = id_of(&app.create_user("Ada", "ada@example.com").await);
    proxy.set_latency(OVERLOAD_LATENCY);
    let requests: Vec<(Method, String, Option<Value>, u16)> = (0..10 * TEST_POOL_SIZE)
        .map(|index| match index % 3 {
            0 => (Method::GET, format!("/users/{user}"), None, 200),
            1 => (Method::GET, "/users?limit=10".to_owned(), None, 200),
            _ => (
                Method::POST,
                "/users".to_owned(),
                Some(json!({"name": "Load", "email": format!("load{index}@example.com")})),
                201,
            ),
        })
        .collect();
    let answers = all_at_once(app, &requests).await;
    let own_work = 4 * OVERLOAD_LATENCY;
    let (mut served, mut shed) = (0, 0);
    let (mut slowest_served, mut slowest_shed) = (Duration::ZERO, Duration::ZERO);
    for (answer, (_, _, _, expected)) in answers.iter().zip(&requests) {
        let response = &answer.response;
        if response.status == 503 {
            assert_unavailable(response);
            assert!(
                answer.elapsed <= CONTRACT_BOUND + SLACK,
                "{} {}: shed only after {:?}",
                response.method,
                response.path,
                answer.elapsed
            );
            shed += 1;
            slowest_shed = slowest_shed.max(answer.elapsed);
        } else {
            response.assert_status(*expected);
            assert!(
                answer.elapsed <= CONTRACT_BOUND + own_work + SLACK,
                "{} {}: served only after {:?}",
                response.method,
                response.path,
                answer.elapsed
            );
            served += 1;
            slowest_served = slowest_served.max(answer.elapsed);
        }
    }
    proxy.restore().await;
    until_status(app, "/health", 200, CONTRACT_BOUND).await;
    println!(
        "FIGURE overload ({} requests, pool {TEST_POOL_SIZE}, +{} ms per round trip): {served} served (slowest {} ms), {shed} shed with 503 (slowest {} ms)",
        requests.len(),
        millis(OVERLOAD_LATENCY),
        millis(slowest_served),
        millis(slowest_shed)
    );
}

// ---------------------------------------------------------------------------------
// No lost writes
// ---------------------------------------------------------------------------------

/// Concurrent clients in the write tests.
const WRITERS: usize = 64;

/// What one writer was told: its user's id (if the create succeeded) and every name
/// it tried, with whether the server acknowledged it.
struct WriterLog {
    email: String,
    id: Option<i64>,
    create: u16,
    /// `(name, status)` of the create (first) and each rename, in order.
    names: Vec<(String, u16)>,
}

async fn writer(app: &TestApp, index: usize, renames: usize) -> WriterLog {
    let email = format!("writer{index}@example.com");
    let name = format!("writer {index} v0");
    let create = timed(
        app,
        Method::POST,
        "/users",
        Some(&json!({"name": name, "email": email})),
    )
    .await;
    let mut log = WriterLog {
        email,
        id: None,
        create: create.response.status,
        names: vec![(name, create.response.status)],
    };
    if create.response.status != 201 {
        return log;
    }
    let id = id_of(&create.response.json());
    log.id = Some(id);
    for version in 1..=renames {
        let name = format!("writer {index} v{version}");
        let answer = timed(
            app,
            Method::PATCH,
            &format!("/users/{id}"),
            Some(&json!({"name": name})),
        )
        .await;
        if answer.response.status == 200 {
            assert_eq!(answer.response.json()["name"], name.as_str());
        }
        log.names.push((name, answer.response.status));
    }
    log
}

/// 64 clients at once, each creating a user and renaming it three times: every
/// request succeeds, and a full listing shows exactly the users the clients were told
/// were created, each with the last name it was told was stored.
pub async fn concurrent_writes_all_land(app: &TestApp, _proxy: &FaultProxy) {
    let logs = futures::future::join_all((0..WRITERS).map(|index| writer(app, index, 3))).await;
    let mut expected = BTreeMap::new();
    for log in &logs {
        for (name, status) in &log.names {
            assert!(
                *status == 201 || *status == 200,
                "{}: writing {name:?} answered {status} with nothing broken",
                log.email
            );
        }
        let id = log.id.expect("created");
        let last = &log.names.last().expect("a name").0;
        expected.insert(id, (log.email.clone(), last.clone()));
    }
    let listed: BTreeMap<i64, (String, String)> = all_users(app)
        .await
        .iter()
        .map(|user| {
            (
                id_of(user),
                (
                    user["email"].as_str().expect("email").to_owned(),
                    user["name"].as_str().expect("name").to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(
        listed, expected,
        "the listing differs from what clients were told"
    );
}

/// The same 64 writers while every database connection is cut mid-way. A write the
/// server acknowledged (201, 200) is never lost: it is in the listing, and a user's
/// name is the last acknowledged one, or a later one whose answer was a 503 (the
/// database may have committed it just before the cut: the client cannot know, which
/// is what `Retry-After` and idempotent retries are for). No other status occurs, and
/// nothing appears that no client sent.
pub async fn acknowledged_writes_survive_a_cut(app: &TestApp, proxy: &FaultProxy) {
    let cutter = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        proxy.cut_all();
    };
    let (logs, ()) = tokio::join!(
        futures::future::join_all((0..WRITERS).map(|index| writer(app, index, 6))),
        cutter
    );
    let listed: BTreeMap<String, Value> = all_users(app)
        .await
        .into_iter()
        .map(|user| (user["email"].as_str().expect("email").to_owned(), user))
        .collect();
    let mut ambiguous = 0;
    let mut acknowledged = 0;
    for log in &logs {
        for (name, status) in &log.names {
            assert!(
                matches!(status, 200 | 201 | 503),
                "{}: writing {name:?} answered {status}",
                log.email
            );
            if *status == 503 {
                ambiguous += 1;
            } else {
                acknowledged += 1;
            }
        }
        let stored = listed.get(&log.email);
        match (log.create, stored) {
            (201, None) => panic!("{}: created (201) but missing from the listing", log.email),
            (201, Some(user)) => {
                assert_eq!(Some(id_of(user)), log.id, "{}: id changed", log.email);
                let stored_name = user["name"].as_str().expect("name");
                let last_ack = log
                    .names
                    .iter()
                    .rposition(|(_, status)| *status != 503)
                    .expect("the create was acknowledged");
                let allowed: Vec<&str> = log.names[last_ack..]
                    .iter()
                    .enumerate()
                    .filter(|(offset, (_, status))| *offset == 0 || *status == 503)
                    .map(|(_, (name, _))| name.as_str())
                    .collect();
                assert!(
                    allowed.contains(&stored_name),
                    "{}: stored name {stored_name:?}, but the client was told {:?}",
                    log.email,
                    log.names
                );
            }
            // A 503'd create may or may not have committed; if it did, it holds the
            // only name that client ever sent for it.
            (_, Some(user)) => assert_eq!(user["name"], log.names[0].0.as_str()),
            (_, None) => {}
        }
    }
    let senders: Vec<&String> = logs.iter().map(|log| &log.email).collect();
    for email in listed.keys() {
        assert!(senders.contains(&email), "{email} was never sent");
    }
    println!(
        "FIGURE writes under a cut: {acknowledged} acknowledged (all present), {ambiguous} answered 503"
    );
}

// ---------------------------------------------------------------------------------
// Statement timeout
// ---------------------------------------------------------------------------------

/// Every statement a tier runs is bounded by a statement timeout. Proved from outside:
/// another session locks the `users` table, so the tier's next read and write block on
/// the lock inside PostgreSQL. Within about 5 s PostgreSQL cancels them (SQLSTATE
/// 57014), the tier answers 503 from its store (not the HTTP layer's 12 s backstop,
/// whose `detail` differs), and once the lock is gone the same connections serve again.
pub async fn statement_timeout_cancels_a_blocked_query(app: &TestApp, _proxy: &FaultProxy) {
    let user = id_of(&app.create_user("Ada", "ada@example.com").await);
    let locker = app.db.connect().await;
    locker
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock the table");
    let watcher = app.db.connect().await;
    let observe = async {
        // While the requests wait: the tier's statements are blocked on the lock.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let row = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("read pg_stat_activity");
        row.get::<_, i64>(0)
    };
    let body = json!({"name": "Blocked", "email": "blocked@example.com"});
    let path = format!("/users/{user}");
    let (read, write, blocked) = tokio::join!(
        timed(app, Method::GET, &path, None),
        timed(app, Method::POST, "/users", Some(&body)),
        observe
    );
    assert!(blocked >= 1, "no statement of the tier waited on the lock");
    for answer in [&read, &write] {
        assert_unavailable(&answer.response);
        assert_eq!(
            answer.response.json()["detail"],
            STORE_503_DETAIL,
            "{} {} was not cancelled by the database",
            answer.response.method,
            answer.response.path
        );
        assert!(
            answer.elapsed < REQUEST_TIMEOUT,
            "cancelled only after {:?}",
            answer.elapsed
        );
    }
    locker.batch_execute("ROLLBACK").await.expect("unlock");
    app.get(&format!("/users/{user}")).await.assert_status(200);
    assert!(
        all_users(app).await.len() == 1,
        "the cancelled insert left a row"
    );
    println!(
        "FIGURE statement_timeout: blocked read cancelled after {} ms, write after {} ms",
        millis(read.elapsed),
        millis(write.elapsed)
    );
}

// ---------------------------------------------------------------------------------
// The real binary
// ---------------------------------------------------------------------------------

/// SIGTERM with a request in flight: the request completes with its normal answer
/// (and its write is stored), new connections are refused at once, and the process
/// exits 0.
pub async fn sigterm_finishes_in_flight_then_exits_0(binary: TierBinary) {
    let proxy = FaultProxy::in_front_of_test_server().await;
    let db = TestDb::create().await;
    let config = proxy.config_through(db.config());
    let url = secrecy::ExposeSecret::expose_secret(config.database.url()).to_owned();
    let mut server = TierProcess::spawn(
        binary,
        &[
            ("DATABASE_URL", &url),
            ("DB_POOL_SIZE", &TEST_POOL_SIZE.to_string()),
            ("RUST_LOG", "info"),
        ],
    );
    let base_url = server.wait_listening(Duration::from_secs(20)).await;
    let addr = base_url.trim_start_matches("http://").to_owned();
    let client = reqwest::Client::new();
    let warm = json!({"name": "Warm", "email": "warm@example.com"});
    let answer = timed_at(&client, &base_url, Method::POST, "/users", Some(&warm)).await;
    answer.response.assert_status(201);

    // Every round trip to the database now takes half a second: the next request is still
    // in flight when SIGTERM arrives.
    proxy.set_latency(Duration::from_millis(500));
    let sent = proxy.client_chunks();
    let in_flight = tokio::spawn({
        let client = client.clone();
        let base_url = base_url.clone();
        async move {
            let body = json!({"name": "In Flight", "email": "inflight@example.com"});
            timed_at(&client, &base_url, Method::POST, "/users", Some(&body)).await
        }
    });
    // The request has reached the database (the tier sent it bytes).
    let waiting = Instant::now();
    while proxy.client_chunks() == sent {
        assert!(
            waiting.elapsed() < Duration::from_secs(5),
            "the request never reached the database"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.sigterm();
    let signalled = Instant::now();

    // New connections are refused while the request is still being served.
    loop {
        match tokio::net::TcpStream::connect(&addr).await {
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => break,
            _ => {
                assert!(
                    signalled.elapsed() < Duration::from_secs(2),
                    "still accepting connections {:?} after SIGTERM",
                    signalled.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    let refused_after = signalled.elapsed();
    assert!(
        !in_flight.is_finished(),
        "the in-flight request finished before the listener closed; the test proves nothing"
    );

    let answer = in_flight.await.expect("the in-flight request");
    answer.response.assert_status(201);
    assert_eq!(answer.response.json()["name"], "In Flight");
    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "exit status {status} after SIGTERM:\n{}",
        server.output()
    );
    let exited_after = signalled.elapsed();
    assert!(
        server.output().contains("shutdown requested"),
        "{}",
        server.output()
    );
    let stored = db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM users WHERE email = 'inflight@example.com'",
            &[],
        )
        .await
        .expect("count");
    assert_eq!(stored.get::<_, i64>(0), 1, "the in-flight write was lost");
    println!(
        "FIGURE shutdown: refusing connections {} ms after SIGTERM; in-flight request answered {} after {} ms; exit 0 after {} ms",
        millis(refused_after),
        answer.response.status,
        millis(answer.elapsed),
        millis(exited_after)
    );
}

// ---------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------

/// Turns every case of [`crate::faults`], [`crate::hostile`] and [`crate::security`]
/// into its own `#[tokio::test]` for one tier.
///
/// Use it once per tier, in `tests/faults.rs`, with the tier's `connect` and the name
/// of its binary (the package's own binary, which Cargo builds for its integration
/// tests and names in `CARGO_BIN_EXE_<name>`), then any variables the binary needs to
/// run the same way `connect` does:
///
/// ```text
/// testkit::fault_suite!(tier_raw::connect, "tier-raw");
/// testkit::fault_suite!(tier_raw::connect_pipelined, "tier-raw", "DB_PIPELINE" = "true");
/// ```
///
/// Cases come in three kinds, by what they need:
///
/// * `app`: `(app: &TestApp, proxy: &FaultProxy)`, a tier served behind a fault proxy;
/// * `binary`: `(binary: TierBinary)`, the tier's binary, to run as a process;
/// * `connect`: `(connect)`, the tier's `connect`, for cases that set the tier up
///   themselves.
///
/// The list below is the only one. `fault_suite!(@names)` yields it as a slice of
/// `module::case` names, and a unit test checks it against every `pub async fn` of the
/// three modules, so no case can be written and then silently never run.
#[macro_export]
macro_rules! fault_suite {
    ($connect:path, $binary:literal $(, $var:literal = $value:literal)* $(,)?) => {
        $crate::fault_suite!(@list (@test $connect, $binary, [$(($var, $value)),*]));
    };
    (@names) => {
        $crate::fault_suite! {@list (@names_of)}
    };
    (@list ($($command:tt)*)) => {
        $crate::fault_suite! {$($command)*;
            app: [
                faults::outage_answers_503_then_recovers,
                faults::partition_answers_503_then_recovers,
                faults::terminated_backends_heal,
                faults::cut_connections_heal,
                faults::restart_while_idle_fails_no_request,
                faults::overload_sheds_or_serves_in_time,
                faults::concurrent_writes_all_land,
                faults::acknowledged_writes_survive_a_cut,
                faults::statement_timeout_cancels_a_blocked_query,
                hostile::random_requests_never_fail_the_contract,
                hostile::random_bodies_never_fail_the_contract,
                hostile::malformed_http_never_fails_the_contract,
                hostile::stalled_body_is_408_not_5xx,
            ],
            binary: [
                faults::sigterm_finishes_in_flight_then_exits_0,
                security::password_never_logged_while_serving,
                security::password_never_logged_when_start_up_fails,
            ],
            connect: [
                security::values_travel_as_bound_parameters,
                security::database_name_is_quoted,
            ],
        }
    };
    (@test $connect:path, $binary:literal, $env:tt;
        app: [$($app_module:ident :: $app_case:ident),* $(,)?],
        binary: [$($bin_module:ident :: $bin_case:ident),* $(,)?],
        connect: [$($con_module:ident :: $con_case:ident),* $(,)?] $(,)?
    ) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $app_case() {
                let (app, proxy) = $crate::TestApp::spawn_behind_proxy($connect).await;
                $crate::$app_module::$app_case(&app, &proxy).await;
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $bin_case() {
                $crate::init_test_logging();
                let binary = $crate::process::TierBinary {
                    path: env!(concat!("CARGO_BIN_EXE_", $binary)),
                    env: &$env,
                };
                $crate::$bin_module::$bin_case(binary).await;
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $con_case() {
                $crate::init_test_logging();
                $crate::$con_module::$con_case($connect).await;
            }
        )*
    };
    (@names_of;
        app: [$($app_module:ident :: $app_case:ident),* $(,)?],
        binary: [$($bin_module:ident :: $bin_case:ident),* $(,)?],
        connect: [$($con_module:ident :: $con_case:ident),* $(,)?] $(,)?
    ) => {
        &[
            $(concat!(stringify!($app_module), "::", stringify!($app_case)),)*
            $(concat!(stringify!($bin_module), "::", stringify!($bin_case)),)*
            $(concat!(stringify!($con_module), "::", stringify!($con_case)),)*
        ]
    };
}

/// The names of all fault-suite cases, as `module::case`.
pub const FAULT_CASES: &[&str] = crate::fault_suite!(@names);

#[cfg(test)]
mod tests {
    use super::FAULT_CASES;

    /// Every `pub async fn` in faults.rs, hostile.rs and security.rs is listed in the
    /// suite, and vice versa.
    #[test]
    fn every_case_is_listed_once() {
        let sources = [
            ("faults", include_str!("faults.rs")),
            ("hostile", include_str!("hostile.rs")),
            ("security", include_str!("security.rs")),
        ];
        let mut defined: Vec<String> = sources
            .iter()
            .flat_map(|(module, source)| {
                source
                    .lines()
                    .filter_map(|line| line.strip_prefix("pub async fn "))
                    .filter_map(|rest| rest.split(['(', '<']).next())
                    .map(move |case| format!("{module}::{case}"))
            })
            .collect();
        let mut listed: Vec<String> = FAULT_CASES.iter().map(|name| (*name).to_owned()).collect();
        defined.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, defined, "the modules and the suite's list differ");
        listed.dedup();
        assert_eq!(listed.len(), FAULT_CASES.len(), "a case is listed twice");
    }
}
