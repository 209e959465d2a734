//! The streamed export under faults: a client that hangs up, a database that fails
//! after the first byte, and a client that reads slowly.
//!
//! API.md, "Export: a streamed response":
//!
//! * "A client that disconnects mid-export stops the query within 1 s: no session of the
//!   server's stays `active` or `idle in transaction` for it, and the connection serves
//!   the next request."
//! * "If the database fails after the first byte, the response is cut off (the chunked
//!   encoding is not terminated), so a client can tell the export is incomplete."
//! * "A slow reader still gets all of it: an export that takes longer than the 5 s
//!   statement timeout ... is not cut off."
//!
//! Each case seeds its users directly in the database (tens of thousands, megabytes of
//! ndjson) and talks to the tier on a raw socket ([`raw_http`]) whose small receive
//! buffer makes the tier wait for the reader: the export is then still reading from
//! the database while the case hangs up, cuts the database off, or reads slowly. Each
//! case first checks that this is so (a session of the tier's is busy), so it cannot
//! pass because the whole export had already been buffered somewhere.

use std::time::Duration;

use reqwest::Method;
use tokio::time::Instant;
use users_api::pool::STATEMENT_TIMEOUT;

use super::helpers::{
    CONTRACT_BOUND, SLACK, describe, millis, sessions, timed, until_no_session_busy, until_status,
};
use super::raw_http::{self, RawAnswer};
use crate::proxy::FaultProxy;
use crate::{TEST_POOL_SIZE, TestApp};

/// API.md: a dropped export stops its query within this long.
const STOP_BOUND: Duration = Duration::from_secs(1);

/// The reader's receive buffer: the tier can only be this far ahead of it (plus its
/// own socket's send buffer).
const SMALL_RECV_BUFFER: u32 = 16 * 1024;

/// Seeds `count` users directly (not through the tier): `User N`, `userN@example.com`;
/// with `wide`, each line of the export is about 420 bytes instead of 100 (a name of
/// 100 characters and an email of 240, still valid), so megabytes take fewer rows.
async fn seed(app: &TestApp, count: i64, wide: bool) {
    let (name_pad, local_pad, domain_pad): (i32, i32, i32) =
        if wide { (88, 160, 60) } else { (0, 0, 0) };
    let client = app.db.connect().await;
    client
        .execute(
            "INSERT INTO users (name, email) \
             SELECT left('User ' || n || ' ' || repeat('x', $2), 100), \
                    'user' || n || repeat('x', $3) || '@' || repeat('d', $4) || '.example.com' \
             FROM generate_series(1, $1::bigint) AS n",
            &[&count, &name_pad, &local_pad, &domain_pad],
        )
        .await
        .expect("seed users");
}

/// Polls until some session of the test database is busy (active, or inside the
/// export's transaction): the export is still reading. Fails the test after 2 s.
async fn until_export_busy(admin: &tokio_postgres::Client, what: &str) {
    let started = Instant::now();
    loop {
        let now = sessions(admin).await;
        if now.iter().any(|session| session.busy()) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{what}: no session of the tier is reading the export (the export is done, or \
             reads outside a transaction):{}",
            describe(&now)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Fails the test unless the lines are users in ascending `id` order. The first and
/// the last line are parsed whole; the others only as far as their leading `"id"`
/// (parsing 30 MB of JSON in a debug build takes most of a second).
fn assert_ascending(lines: &[&str]) {
    for line in [lines.first(), lines.last()].into_iter().flatten() {
        let user: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("an export line is not JSON ({err}): {line:?}"));
        assert!(user["id"].is_i64() && user["email"].is_string(), "{user}");
    }
    let mut last = 0;
    for line in lines {
        let id = line
            .strip_prefix("{\"id\":")
            .and_then(|rest| rest.split(',').next())
            .and_then(|id| id.parse::<i64>().ok())
            .unwrap_or_else(|| panic!("an export line without a leading id: {line:?}"));
        assert!(id > last, "ids not ascending: {id} after {last}");
        last = id;
    }
}

/// A client reads the first bytes of an export of 50,000 users and hangs up: within
/// 1 s no session of the test database is active or inside a transaction, and the tier
/// then serves the next requests (a full export among them).
pub(super) async fn export_disconnect_stops_the_query(app: &TestApp) {
    const USERS: i64 = 50_000;
    seed(app, USERS, false).await;
    let admin = app.db.connect().await;
    let mut stream = raw_http::open(app.addr, Some(SMALL_RECV_BUFFER)).await;
    raw_http::send(&mut stream, "GET", "/users/export", None).await;
    let first = raw_http::read_at_least(&mut stream, 64 * 1024).await;
    assert!(
        first.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&first[..first.len().min(200)])
    );
    until_export_busy(&admin, "before the hang-up").await;

    drop(stream);
    let stopped = until_no_session_busy(&admin, None, CONTRACT_BOUND).await;
    println!(
        "FIGURE export hang-up: no session busy after {} ms (API.md: within {} ms)",
        millis(stopped),
        millis(STOP_BOUND)
    );
    assert!(
        stopped <= STOP_BOUND,
        "the export's query ran on for {stopped:?} after the client hung up"
    );

    // The connections serve: as many reads at once as the pool has connections, then
    // the whole export.
    let reads = (0..TEST_POOL_SIZE).map(|_| timed(app, Method::GET, "/users?limit=5", None));
    for answer in futures::future::join_all(reads).await {
        answer.response.assert_status(200);
    }
    let export = timed(app, Method::GET, "/users/export", None).await;
    export.response.assert_status(200);
    let lines = export.response.text().lines().count();
    assert_eq!(
        lines, USERS as usize,
        "the export after the hang-up is incomplete"
    );
}

/// An export is under way (the client has its first bytes) when every connection to
/// the database is cut: the response ends without the chunked encoding's terminating
/// chunk, within the contract's 5 s, after only whole lines of users in ascending
/// order. The tier then recovers by itself and leaves no session busy.
pub(super) async fn export_cut_off_when_the_database_fails(app: &TestApp, proxy: &FaultProxy) {
    const USERS: i64 = 50_000;
    seed(app, USERS, false).await;
    let admin = app.db.connect().await;
    let mut stream = raw_http::open(app.addr, Some(SMALL_RECV_BUFFER)).await;
    raw_http::send(&mut stream, "GET", "/users/export", None).await;
    let mut raw = raw_http::read_at_least(&mut stream, 32 * 1024).await;
    until_export_busy(&admin, "before the cut").await;

    proxy.cut_all();
    let cut_at = Instant::now();
    raw_http::read_to_end(&mut stream, &mut raw, None).await;
    let ended = cut_at.elapsed();
    let answer: RawAnswer = raw_http::decode(&raw);
    let lines = answer.complete_lines();
    println!(
        "FIGURE export cut: response ended {} ms after the cut, {} of {USERS} lines, terminated: {}",
        millis(ended),
        lines.len(),
        answer.terminated
    );
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert!(
        !answer.terminated,
        "the export ended with a terminating chunk after the database failed ({} of {USERS} \
         lines): a client takes it for complete",
        lines.len()
    );
    assert!(
        ended <= CONTRACT_BOUND + SLACK,
        "the cut-off response took {ended:?} to end"
    );
    assert!(
        !lines.is_empty() && lines.len() < USERS as usize,
        "{} lines",
        lines.len()
    );
    assert_ascending(&lines);

    until_status(app, "/health", 200, CONTRACT_BOUND).await;
    until_no_session_busy(&admin, None, CONTRACT_BOUND).await;
}

/// A client reads an export of 72,000 users (about 30 MB) at 4 MB/s: it takes longer
/// than the 4 s statement timeout, and the tier's export is reading from the database
/// for longer than that too (watched in `pg_stat_activity`), yet the response ends with
/// the terminating chunk and holds every user once, in ascending order.
pub(super) async fn slow_reader_gets_the_whole_export(app: &TestApp) {
    // The tier's socket buffers take up to about 4 MB ahead of the reader (the kernel
    // grows the send buffer up to `net.ipv4.tcp_wmem`'s maximum): the database is done
    // that much before the client. 30 MB at 4 MB/s keeps it reading for 6.5 s of 7.5.
    const USERS: i64 = 72_000;
    const RATE: f64 = 4_000_000.0;
    seed(app, USERS, true).await;
    let watcher = app.db.connect().await;
    let mut stream = raw_http::open(app.addr, Some(SMALL_RECV_BUFFER)).await;
    let started = Instant::now();
    raw_http::send(&mut stream, "GET", "/users/export", None).await;

    // Meanwhile: when was a session of the tier's last seen busy?
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let watch = async {
        let mut last_busy = Duration::ZERO;
        loop {
            if sessions(&watcher)
                .await
                .iter()
                .any(|session| session.busy())
            {
                last_busy = started.elapsed();
            }
            tokio::select! {
                _ = done_rx.wait_for(|done| *done) => return last_busy,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    };
    let read = async {
        let mut raw = Vec::new();
        raw_http::read_to_end(&mut stream, &mut raw, Some(RATE)).await;
        let _ = done_tx.send(true);
        raw
    };
    let (raw, last_busy) = tokio::join!(read, watch);
    let took = started.elapsed();
    let answer = raw_http::decode(&raw);
    let lines = answer.complete_lines();
    println!(
        "FIGURE slow reader: {} bytes in {} ms ({:.1} MB/s), the database read for {} ms, \
         {} of {USERS} lines, terminated: {}",
        answer.body.len(),
        millis(took),
        answer.body.len() as f64 / took.as_secs_f64() / 1e6,
        millis(last_busy),
        lines.len(),
        answer.terminated
    );
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert!(
        last_busy > STATEMENT_TIMEOUT,
        "the tier was done reading after {last_busy:?}: the case did not outlast the \
         statement timeout (buffers larger than thought? seed more users)"
    );
    assert!(
        answer.terminated,
        "a slow reader's export was cut off after {took:?}"
    );
    assert_eq!(
        lines.len(),
        USERS as usize,
        "a slow reader's export is incomplete"
    );
    assert!(
        answer.body.ends_with(b"\n"),
        "the export does not end with a whole line"
    );
    assert_ascending(&lines);
}
