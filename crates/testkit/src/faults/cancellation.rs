//! Cancellation: a client that hangs up while its batch is in the database.
//!
//! When a client disconnects, hyper drops the handler's future at whatever `.await` it
//! was parked on: the store's future is dropped mid-transaction, with statements
//! already on the wire. API.md: "A client that disconnects mid-batch leaves nothing
//! written and no connection poisoned: the transaction rolls back and the pool's next
//! request on that connection works." Whether it does depends on each driver's drop
//! guards: tokio-postgres sends `ROLLBACK` from `Transaction`'s `Drop`; sqlx 0.9.0
//! queues one only once its `begin()` has read `BEGIN`'s answer, so a future dropped
//! during that round trip leaves the session inside a transaction that nothing ends,
//! and the pool lends that connection out again (transact-rs/sqlx#4393). The next
//! borrower's statements then run inside the stale transaction: a single create
//! answers 201 and is never committed.
//!
//! How a case catches the moment: the tier reaches PostgreSQL through a capturing
//! [`FaultProxy`] with latency, so each statement spends [`LATENCY`] on its way there
//! (and back). The case sends the batch by hand on a raw socket, watches the captured
//! messages until the statement it wants is on its way, and closes the socket. Then:
//!
//! 1. within [`SETTLE`], no session of the test database is active or inside a
//!    transaction, and a statement has reached it since the hang-up (so the check
//!    cannot pass before the in-flight statement has even arrived);
//! 2. none of the batch's users exist (after `COMMIT` left: all of them, or none);
//! 3. every pooled connection still writes, and what it writes is committed: more
//!    concurrent creates than the pool has connections, with latency so that each holds
//!    its connection a while, all read back from a connection of our own.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use users_api::UserStore;
use users_api::config::Config;

use super::helpers::{
    millis, server_clock, spawn_capturing_with_pool, timed, until_no_session_busy,
};
use super::raw_http;
use crate::proxy::FaultProxy;
use crate::{TEST_POOL_SIZE, TestApp};

/// Added by the proxy to each chunk, each way: a statement is in flight this long.
const LATENCY: Duration = Duration::from_millis(150);

/// How long the database may take to be clean after the hang-up (in-flight statements
/// arrive after [`LATENCY`]; the rollback follows them).
const SETTLE: Duration = Duration::from_secs(2);

/// Entries of each batch sent.
const BATCH: usize = 20;

/// What the tier has sent, counted over every captured connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    /// Statements: `Bind` and simple `Query` messages (see `statements.rs`).
    statements: usize,
    /// Simple queries that open a transaction (`BEGIN`, `START TRANSACTION`).
    begins: usize,
    /// Simple queries `COMMIT` (or `END`).
    commits: usize,
}

fn sent(proxy: &FaultProxy) -> Sent {
    let mut sent = Sent {
        statements: 0,
        begins: 0,
        commits: 0,
    };
    for (kind, body) in proxy.client_messages() {
        match kind {
            b'B' => sent.statements += 1,
            b'Q' => {
                sent.statements += 1;
                let sql = String::from_utf8_lossy(&body).trim().to_ascii_uppercase();
                if sql.starts_with("BEGIN") || sql.starts_with("START TRANSACTION") {
                    sent.begins += 1;
                } else if sql.starts_with("COMMIT") || sql.starts_with("END") {
                    sent.commits += 1;
                }
            }
            _ => {}
        }
    }
    sent
}

/// The moment of a hang-up: which statement of the batch's transaction is in flight.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// `BEGIN` has left the tier, its answer has not come back.
    Begin,
    /// The statement after `BEGIN` (the one `INSERT`) is on its way.
    Insert,
    /// `COMMIT` is on its way: the database may commit, so all or nothing is right.
    Commit,
}

impl Moment {
    /// Whether the tier has sent, since `before`, what this moment waits for.
    fn reached(self, before: Sent, now: Sent) -> bool {
        match self {
            Moment::Begin => now.begins > before.begins,
            Moment::Insert => now.begins > before.begins && now.statements >= before.statements + 2,
            Moment::Commit => now.commits > before.commits,
        }
    }
}

/// A batch of [`BATCH`] new users, all with emails starting with `tag`.
fn batch(tag: &str) -> Value {
    let users: Vec<Value> = (0..BATCH)
        .map(|i| json!({"name": format!("{tag} {i}"), "email": format!("{tag}-{i}@example.com")}))
        .collect();
    json!({ "users": users })
}

/// How many users have an email starting with `tag`, read by `admin` (not the tier).
async fn users_tagged(admin: &tokio_postgres::Client, tag: &str) -> i64 {
    let row = admin
        .query_one(
            "SELECT count(*) FROM users WHERE email LIKE $1 || '-%'",
            &[&tag],
        )
        .await
        .expect("count users");
    row.get(0)
}

/// Sends a batch on a raw socket, hangs up once the tier has sent what `moment` waits
/// for, and waits until the database is clean. Returns how many of the batch's users
/// were written, and how long the database took to settle after the hang-up.
async fn hang_up_at(
    app: &TestApp,
    proxy: &FaultProxy,
    admin: &tokio_postgres::Client,
    moment: Moment,
    tag: &str,
) -> (i64, Duration) {
    let before = sent(proxy);
    proxy.set_latency(LATENCY);
    let mut stream = raw_http::open(app.addr, None).await;
    raw_http::send(&mut stream, "POST", "/users/batch", Some(&batch(tag))).await;
    let started = tokio::time::Instant::now();
    while !moment.reached(before, sent(proxy)) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{moment:?}: the tier never sent it (sent since the request: {:?} -> {:?})",
            before,
            sent(proxy)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Statements arriving from now on started after this mark: the one in flight will.
    let mark = server_clock(admin).await;
    drop(stream);
    proxy.set_latency(Duration::ZERO);
    let settled = until_no_session_busy(admin, Some(mark), SETTLE).await;
    (users_tagged(admin, tag).await, settled)
}

/// Every pooled connection writes, and its writes are committed: twice as many
/// concurrent creates as the pool has connections, each holding its connection for a
/// round trip of latency, all 201, all visible to `admin`; then no session is left
/// inside a transaction.
async fn every_connection_commits(
    app: &TestApp,
    proxy: &FaultProxy,
    admin: &tokio_postgres::Client,
    pool_size: usize,
    tag: &str,
) {
    proxy.set_latency(Duration::from_millis(50));
    let creates = (0..2 * pool_size).map(|i| {
        let body = json!({"name": format!("{tag} {i}"), "email": format!("{tag}-{i}@example.com")});
        async move { timed(app, Method::POST, "/users", Some(&body)).await }
    });
    let answers = futures::future::join_all(creates).await;
    proxy.set_latency(Duration::ZERO);
    for answer in &answers {
        answer.response.assert_status(201);
    }
    let visible = users_tagged(admin, tag).await;
    assert_eq!(
        visible,
        i64::try_from(answers.len()).expect("small"),
        "{tag}: {} creates answered 201, another connection sees {visible}: a pooled \
         connection is stuck inside a transaction that is never committed",
        answers.len()
    );
    until_no_session_busy(admin, None, SETTLE).await;
}

/// A client hangs up while its batch's `BEGIN`, `INSERT` or `COMMIT` is in flight:
/// nothing is written (after `COMMIT`: all or nothing), no session stays active or
/// `idle in transaction`, and every pooled connection then writes and commits.
pub(super) async fn batch_disconnect_writes_nothing<S, F>(connect: F)
where
    S: UserStore,
    F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
{
    let (app, proxy) = spawn_capturing_with_pool(connect, TEST_POOL_SIZE).await;
    let admin = app.db.connect().await;
    every_connection_commits(&app, &proxy, &admin, TEST_POOL_SIZE, "warm").await;
    let mut figures = Vec::new();
    for moment in [Moment::Begin, Moment::Insert, Moment::Commit] {
        let tag = format!("{moment:?}").to_ascii_lowercase();
        let (written, settled) = hang_up_at(&app, &proxy, &admin, moment, &tag).await;
        match moment {
            Moment::Commit => assert!(
                written == 0 || written == BATCH as i64,
                "a hang-up during COMMIT left {written} of {BATCH} users: not all or nothing"
            ),
            _ => assert_eq!(
                written, 0,
                "a hang-up during {moment:?} left {written} of {BATCH} users written"
            ),
        }
        every_connection_commits(
            &app,
            &proxy,
            &admin,
            TEST_POOL_SIZE,
            &format!("after-{tag}"),
        )
        .await;
        figures.push(format!(
            "{moment:?} {} ms ({written} written)",
            millis(settled)
        ));
    }
    println!(
        "FIGURE batch hang-up, database clean after: {}",
        figures.join(", ")
    );
}

/// sqlx#4393, against the tier: with a pool of one connection, a client hangs up while
/// its batch's `BEGIN` is in flight, three times over. Each time the connection must
/// come back clean (no session `idle in transaction`), and the writes that follow on it
/// (single creates and a batch) must be committed, as another connection sees.
pub(super) async fn cancelled_begin_does_not_poison_the_pool<S, F>(connect: F)
where
    S: UserStore,
    F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
{
    let (app, proxy) = spawn_capturing_with_pool(connect, 1).await;
    let admin = app.db.connect().await;
    every_connection_commits(&app, &proxy, &admin, 1, "warm").await;
    let mut slowest = Duration::ZERO;
    for round in 0..3 {
        let tag = format!("begin{round}");
        let (written, settled) = hang_up_at(&app, &proxy, &admin, Moment::Begin, &tag).await;
        assert_eq!(
            written, 0,
            "round {round}: the cancelled batch wrote {written} users"
        );
        slowest = slowest.max(settled);
        every_connection_commits(&app, &proxy, &admin, 1, &format!("after{round}")).await;
        let next = format!("next{round}");
        let answer = timed(&app, Method::POST, "/users/batch", Some(&batch(&next))).await;
        answer.response.assert_status(201);
        assert_eq!(
            users_tagged(&admin, &next).await,
            BATCH as i64,
            "round {round}: the batch after a cancelled BEGIN answered 201 but is not committed"
        );
    }
    println!(
        "FIGURE cancelled BEGIN (pool of 1, 3 rounds): connection clean within {} ms, later writes committed",
        millis(slowest)
    );
}
