//! What the fault cases share: requests that are timed and never hang, the contract's
//! bounds, the checks of a 503, background traffic, ways to wait for a tier to
//! recover, and the tier's sessions as `pg_stat_activity` shows them.
//!
//! Every request here has a hard deadline ([`HANG`]): a tier that never answers fails
//! its case with a message, instead of hanging the test run.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::proxy::FaultProxy;
use crate::{TestApp, TestDb, TestResponse};
use users_api::UserStore;
use users_api::config::Config;

/// API.md: "database unreachable, or no pooled connection within 5 s: 503 with
/// `Retry-After`, never a hung request". Also how fast a server must recover.
pub(super) const CONTRACT_BOUND: Duration = Duration::from_secs(5);

/// What a loaded 2-core CI machine may add to the contract's bound: a tier that waits
/// exactly 5 s for a connection answers a few milliseconds later, and a test machine
/// running other tests in parallel can add more.
pub(super) const SLACK: Duration = Duration::from_secs(1);

/// A request with no answer after this long is hung, and fails its test (rather than
/// hanging the test run).
const HANG: Duration = Duration::from_secs(30);

/// The HTTP layer's backstop (`users_api::app::REQUEST_TIMEOUT`): a request the
/// database never answers is cut off with a 503 after this long.
pub(super) const REQUEST_TIMEOUT: Duration = users_api::app::REQUEST_TIMEOUT;

/// A response, with when its request started and how long it took.
#[derive(Debug, Clone)]
pub(super) struct Timed {
    /// The response.
    pub response: TestResponse,
    /// When the request was sent.
    pub started: Instant,
    /// How long the answer took.
    pub elapsed: Duration,
}

/// Sends a request with an optional JSON body, timing it. A request with no answer
/// (hung, or the connection broke) fails the test.
pub(super) async fn timed(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Timed {
    timed_at(&app.client, &app.base_url, method, path, body).await
}

pub(super) async fn timed_at(
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
pub(super) fn assert_unavailable(response: &TestResponse) {
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
pub(super) fn slowest_503(answers: &[Timed], bound: Duration, fault: &str) -> Duration {
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
pub(super) fn every_endpoint(
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
pub(super) async fn all_at_once(
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

pub(super) fn id_of(user: &Value) -> i64 {
    user["id"].as_i64().expect("id is an integer")
}

/// Every endpoint at once, each expected to answer as it would on a healthy database.
pub(super) async fn every_endpoint_answers_normally(app: &TestApp, existing: i64, doomed: i64) {
    let answers = all_at_once(app, &every_endpoint(existing, doomed, "after")).await;
    for (answer, (_, _, _, expected)) in answers.iter().zip(every_endpoint(existing, doomed, "x")) {
        answer.response.assert_status(expected);
    }
}

/// Opens several pooled connections: three reads of user `existing` at once.
pub(super) async fn warm_pool(app: &TestApp, existing: i64) {
    let warm = all_at_once(app, &every_endpoint(existing, existing, "warm")[1..4]).await;
    for answer in &warm {
        assert!(answer.response.status < 300, "{:?}", answer.response);
    }
}

/// `pg_terminate_backend` on every connection to the test database but `admin`'s own
/// (what an administrator, or a database restart, does to the tier's pool); returns
/// how many there were, and fails the test if there were none.
pub(super) async fn terminate_tier_connections(admin: &tokio_postgres::Client) -> i64 {
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
pub(super) async fn until_status(
    app: &TestApp,
    path: &str,
    status: u16,
    within: Duration,
) -> Duration {
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

pub(super) fn millis(duration: Duration) -> u128 {
    duration.as_millis()
}

/// Background traffic: `workers` clients, each looping create / read / rename / list
/// on its own users until `until`. Returns every answer.
pub(super) async fn traffic(
    app: &TestApp,
    workers: usize,
    until: Instant,
    tag: &str,
) -> Vec<Timed> {
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
pub(super) fn check_traffic(
    answers: &[Timed],
    fault_at: Instant,
    heal: Duration,
) -> (usize, usize, Duration) {
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

/// Reads one HTTP/1 answer: its head, then `Content-Length` bytes of body (or up to
/// the close).
pub(super) async fn read_one_answer(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;

    let mut answer = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        if let Some(end) = answer.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok());
            if let Some(length) = length
                && answer.len() >= end + 4 + length
            {
                return answer;
            }
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return answer,
            Ok(read) => answer.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Like [`TestApp::spawn_capturing`], with a pool of `pool_size` connections: a pool
/// of 1 makes every request reuse the connection a cancelled one left behind.
pub(super) async fn spawn_capturing_with_pool<S, F>(
    connect: F,
    pool_size: usize,
) -> (TestApp, FaultProxy)
where
    S: UserStore,
    F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
{
    crate::init_test_logging();
    let proxy = FaultProxy::in_front_of_test_server().await;
    proxy.start_capturing();
    let db = TestDb::create().await;
    let config = Config {
        pool_size,
        ..proxy.plaintext_config(db.config())
    };
    let store = connect(&config)
        .await
        .unwrap_or_else(|err| panic!("the tier could not connect: {err:#}"));
    (TestApp::serve(store, db).await, proxy)
}

/// One session on the test database, as `pg_stat_activity` shows it.
#[derive(Debug)]
pub(super) struct Session {
    pub pid: i32,
    pub state: String,
    /// The start of its last statement, in seconds since the epoch (server clock).
    pub query_start: f64,
    /// Its last statement, shortened.
    pub query: String,
}

impl std::fmt::Display for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} {:?} after {:?}",
            self.pid, self.state, self.query
        )
    }
}

/// The sessions, one a line, for a failure message.
pub(super) fn describe(sessions: &[Session]) -> String {
    let lines: Vec<String> = sessions.iter().map(|s| format!("  {s}")).collect();
    format!("\n{}", lines.join("\n"))
}

impl Session {
    /// Running a statement, or inside a transaction: what API.md says a cancelled
    /// batch or export must not leave behind.
    pub fn busy(&self) -> bool {
        self.state == "active" || self.state.starts_with("idle in transaction")
    }
}

/// The client sessions on `admin`'s database (the test database), `admin`'s own left
/// out: the tier's connections, and any other the case opened.
pub(super) async fn sessions(admin: &tokio_postgres::Client) -> Vec<Session> {
    let rows = admin
        .query(
            "SELECT pid, coalesce(state, ''), \
                    coalesce(extract(epoch FROM query_start)::float8, 0), \
                    left(coalesce(query, ''), 60) \
             FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
               AND backend_type = 'client backend'",
            &[],
        )
        .await
        .expect("read pg_stat_activity");
    rows.iter()
        .map(|row| Session {
            pid: row.get(0),
            state: row.get(1),
            query_start: row.get(2),
            query: row.get(3),
        })
        .collect()
}

/// The database server's clock, in seconds since the epoch: a mark to compare
/// [`Session::query_start`] with.
pub(super) async fn server_clock(admin: &tokio_postgres::Client) -> f64 {
    let row = admin
        .query_one("SELECT extract(epoch FROM clock_timestamp())::float8", &[])
        .await
        .expect("read the server's clock");
    row.get(0)
}

/// Polls `pg_stat_activity` until no session on the test database is busy (running a
/// statement or inside a transaction), and, with `after` (a [`server_clock`] mark),
/// until some session has started a statement since then: so a statement still on its
/// way through a slow proxy cannot make the check pass before it has even arrived.
/// Returns how long that took; fails the test, listing the sessions, after `within`.
pub(super) async fn until_no_session_busy(
    admin: &tokio_postgres::Client,
    after: Option<f64>,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let sessions = sessions(admin).await;
        let arrived = after.is_none_or(|mark| sessions.iter().any(|s| s.query_start >= mark));
        if arrived && !sessions.iter().any(Session::busy) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "after {:?}, {}:{}",
            started.elapsed(),
            if arrived {
                "a session of the test database is still active or inside a transaction"
            } else {
                "no statement reached the database after the mark"
            },
            describe(&sessions)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
