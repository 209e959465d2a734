//! Load shedding (API.md: "more requests in flight than `MAX_IN_FLIGHT` allows: 503 with
//! `Retry-After` in under 100 ms"), on the real binary with `MAX_IN_FLIGHT=4`.
//!
//! Ten times the limit of slow requests arrive at once: the database is behind a fault
//! proxy that adds latency, so the first four hold their slots for seconds. Every other
//! request must be refused at once, not queued behind them. What is timed is the first
//! byte of each 503, from the moment its request was written, on connections opened and
//! used beforehand (so no handshake or first-connection cost is in the figure).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::helpers::{millis, read_one_answer};
use crate::TestDb;
use crate::process::{TierBinary, TierProcess};
use crate::proxy::FaultProxy;

/// The limit the binary is given.
const MAX_IN_FLIGHT: usize = 4;

/// The contract's bound on a shed answer.
const SHED_BOUND: Duration = Duration::from_millis(100);

/// What the proxy adds to each direction: a request that reaches the database takes at
/// least twice this, far longer than sending every request of the burst, and well
/// under the 5 s a request may wait for a pooled connection (the pool has a connection
/// for each of the four, so none waits for one).
const LATENCY: Duration = Duration::from_millis(300);

/// What the shed 503 says (`users_api::app::limits`), to tell it from a database's 503.
const SHED_DETAIL: &str = "serving as many requests as it can";

/// Ten times `MAX_IN_FLIGHT` requests that need the database, at once: four are served
/// (404: no such user), every other is a problem+json 503 with `Retry-After`, its first
/// byte under 100 ms after its request was written.
pub(super) async fn excess_requests_are_shed_at_once(binary: TierBinary) {
    let proxy = FaultProxy::in_front_of_test_server().await;
    let db = TestDb::create().await;
    let config = proxy.config_through(db.config());
    let url = secrecy::ExposeSecret::expose_secret(config.database.url()).to_owned();
    let limit = MAX_IN_FLIGHT.to_string();
    let mut server = TierProcess::spawn(
        binary,
        &[
            ("DATABASE_URL", &url),
            ("DB_POOL_SIZE", &MAX_IN_FLIGHT.to_string()),
            ("MAX_IN_FLIGHT", &limit),
            ("RUST_LOG", "info"),
        ],
    );
    let base_url = server.wait_listening(Duration::from_secs(20)).await;
    let addr = base_url.trim_start_matches("http://").to_owned();

    // Every connection opened and used once, one request at a time (never over the
    // limit): accepted, with hyper's buffers allocated, before the burst.
    let mut connections = Vec::new();
    for _ in 0..10 * MAX_IN_FLIGHT {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        stream
            .write_all(b"GET /warm-up HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .expect("send");
        let answer = read_one_answer(&mut stream).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 404"),
            "warm-up: {}",
            String::from_utf8_lossy(&answer)
        );
        connections.push(stream);
    }

    // The pool's connections opened and in use before the database slows down.
    let client = reqwest::Client::new();
    let warm = (0..MAX_IN_FLIGHT).map(|_| client.get(format!("{base_url}/users/1")).send());
    for response in futures::future::join_all(warm).await {
        assert_eq!(response.expect("warm-up").status(), 404);
    }

    proxy.set_latency(LATENCY);
    let burst = connections.into_iter().map(|mut stream| {
        tokio::spawn(async move {
            let sent = Instant::now();
            stream
                .write_all(b"GET /users/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .await
                .expect("send");
            // The first byte is when the answer began to arrive.
            let mut first = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut first))
                .await
                .expect("no answer within 30 s");
            assert_eq!(read.expect("read"), 1, "closed without an answer");
            let first_byte = sent.elapsed();
            let mut answer = first.to_vec();
            answer.extend(read_one_answer(&mut stream).await);
            (first_byte, String::from_utf8_lossy(&answer).into_owned())
        })
    });
    let answers = futures::future::join_all(burst).await;
    proxy.restore().await;

    let mut shed = Vec::new();
    let mut served = 0;
    for answer in answers {
        let (first_byte, text) = answer.expect("a burst request");
        let head = text.to_ascii_lowercase();
        if head.starts_with("http/1.1 503") {
            assert!(
                head.contains("content-type: application/problem+json")
                    && head.contains("retry-after: ")
                    && text.contains(SHED_DETAIL),
                "a 503 that is not the load shed's: {text}"
            );
            shed.push(first_byte);
        } else {
            assert!(head.starts_with("http/1.1 404"), "unexpected: {text}");
            served += 1;
        }
    }
    shed.sort();
    let slowest = shed.last().copied().unwrap_or_default();
    assert_eq!(
        served,
        MAX_IN_FLIGHT,
        "{served} requests served with MAX_IN_FLIGHT={MAX_IN_FLIGHT}, {} shed",
        shed.len()
    );
    assert!(
        slowest < SHED_BOUND,
        "a shed request waited {slowest:?} for its 503 (bound {SHED_BOUND:?}): {shed:?}"
    );
    let status = server.stop(Duration::from_secs(15)).await.expect("stop");
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        server.output()
    );
    println!(
        "FIGURE load shedding, MAX_IN_FLIGHT={MAX_IN_FLIGHT}: {served} served, {} shed with 503, first byte median {} ms, slowest {} ms",
        shed.len(),
        millis(shed[shed.len() / 2]),
        millis(slowest)
    );
}
