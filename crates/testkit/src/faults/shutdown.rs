//! Graceful shutdown of the real binary: SIGTERM (what `docker stop` and orchestrators
//! send) with a request in flight. The request is finished, new connections are
//! refused at once, and the process exits 0; and it exits 0 within 12 s even when the
//! database has stopped answering.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio::time::Instant;

use super::helpers::{SLACK, millis, timed_at};
use crate::process::{TierBinary, TierProcess};
use crate::proxy::FaultProxy;
use crate::{TEST_POOL_SIZE, TestDb};

/// SIGTERM with a request in flight: the request completes with its normal answer
/// (and its write is stored), new connections are refused at once, and the process
/// exits 0.
pub(super) async fn sigterm_finishes_in_flight_then_exits_0(binary: TierBinary) {
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

    // The next request must still be in flight when the listener closes, however slowly
    // this machine handles the signal. Each round trip gets a second of latency, and once
    // the request's first bytes reach the proxy the proxy turns into a black hole, so no
    // answer can come back until `restore` below: the request is held, not timed.
    proxy.set_latency(Duration::from_secs(1));
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
    proxy.blackhole().await;
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
        "the in-flight request finished while the database was unreachable"
    );
    // The database answers again: the request the tier is still serving completes.
    proxy.restore().await;

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

/// API.md: the process exits 0 within 12 s of SIGTERM "even when the database has
/// stopped answering".
const EXIT_BOUND: Duration = Duration::from_secs(12);

/// SIGTERM while the database is silent (the proxy a black hole) and a request is stuck
/// on it: the server waits for that request (its 503, or the 10 s grace period,
/// whichever comes first), abandons the pool's close after its deadline (1 s; sqlx's
/// own close waits for every connection, and the stuck one never comes back), and
/// exits 0 within 12 s.
pub(super) async fn sigterm_exits_0_when_the_database_is_silent(binary: TierBinary) {
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
    let client = reqwest::Client::new();
    let warm = json!({"name": "Warm", "email": "warm@example.com"});
    timed_at(&client, &base_url, Method::POST, "/users", Some(&warm))
        .await
        .response
        .assert_status(201);

    // The database goes silent; a request goes in and gets stuck on it.
    proxy.blackhole().await;
    let sent = proxy.client_chunks();
    let accepted = proxy.accepted();
    let stuck = tokio::spawn({
        let client = client.clone();
        let url = format!("{base_url}/users?limit=1");
        async move {
            let started = Instant::now();
            let answer = client.get(url).send().await;
            let status = match answer {
                Ok(response) => response.status().to_string(),
                Err(err) => format!("no answer ({err})"),
            };
            (status, started.elapsed())
        }
    });
    // It is stuck once the tier has sent bytes on an open connection, or opened a new
    // one: a pool whose only connection is still busy (sqlx pings a connection it takes
    // back, and the ping may now be stuck in the partition) connects anew, and in a
    // partition the proxy accepts that connection but reads nothing from it.
    let waiting = Instant::now();
    while proxy.client_chunks() == sent && proxy.accepted() == accepted {
        assert!(
            waiting.elapsed() < Duration::from_secs(5),
            "the request never reached the database"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.sigterm();
    let signalled = Instant::now();
    let status = server.wait_exit(EXIT_BOUND + Duration::from_secs(5)).await;
    let exited_after = signalled.elapsed();
    assert!(
        status.success(),
        "exit status {status} after SIGTERM:\n{}",
        server.output()
    );
    assert!(
        exited_after <= EXIT_BOUND + SLACK,
        "exited {exited_after:?} after SIGTERM (bound {EXIT_BOUND:?}):\n{}",
        server.output()
    );
    let (stuck_answer, stuck_after) = stuck.await.expect("the stuck request");
    proxy.restore().await;
    println!(
        "FIGURE shutdown with a silent database: exit 0 after {} ms; the stuck request: {stuck_answer} after {} ms",
        millis(exited_after),
        millis(stuck_after)
    );
}
