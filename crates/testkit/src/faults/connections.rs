//! Slow and idle clients, and too many of them (API.md, "Connections"), on the real
//! binary, with raw sockets: a client that never finishes its request head is closed,
//! however slowly it trickles bytes; a keep-alive connection left idle is closed; the
//! connections open at once are capped, and the next one waits until one closes.
//!
//! The contract's timeout is 30 s. These cases run the binary with
//! `HEADER_READ_TIMEOUT_SECS=2`, so the suite does not wait 30 s per tier; that the
//! default is 30 s is a unit test of `users_api::config::ServeConfig`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::helpers::{SLACK, millis, read_one_answer};
use crate::process::{TierBinary, TierProcess};
use crate::{TEST_POOL_SIZE, TestDb};

/// The header-read timeout the binary is given here.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// A keep-alive request for `/health`.
const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Starts the binary on `db` with `vars` on top of the usual ones; returns it and its
/// address.
async fn spawn(
    binary: TierBinary,
    db: &TestDb,
    vars: &[(&str, &str)],
) -> (TierProcess, SocketAddr) {
    let url = secrecy::ExposeSecret::expose_secret(db.config().database.url()).to_owned();
    let pool_size = TEST_POOL_SIZE.to_string();
    let mut all = vec![
        ("DATABASE_URL", url.as_str()),
        ("DB_POOL_SIZE", pool_size.as_str()),
        ("RUST_LOG", "info"),
    ];
    all.extend_from_slice(vars);
    let mut server = TierProcess::spawn(binary, &all);
    let base_url = server.wait_listening(Duration::from_secs(20)).await;
    let addr = base_url
        .trim_start_matches("http://")
        .parse()
        .expect("an address");
    (server, addr)
}

/// Reads until the server closes the connection (or resets it); fails the test after
/// `within`. Returns when it closed, and the bytes read on the way.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> (Instant, Vec<u8>) {
    let mut read = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => panic!("the connection was still open after {within:?}"),
            Ok(Ok(0) | Err(_)) => return (Instant::now(), read),
            Ok(Ok(count)) => read.extend_from_slice(&buffer[..count]),
        }
    }
}

/// A client that sends nothing, one that sends its head a byte a second, and one idle
/// after an answer are each closed once the header-read timeout has passed (and not
/// before), while `/health` keeps being answered on fresh connections all along.
pub(super) async fn slow_and_idle_clients_are_closed(binary: TierBinary) {
    let db = TestDb::create().await;
    let timeout_secs = HEADER_TIMEOUT.as_secs().to_string();
    let (mut server, addr) =
        spawn(binary, &db, &[("HEADER_READ_TIMEOUT_SECS", &timeout_secs)]).await;
    // Within the timeout plus what a loaded machine adds; never before the timeout.
    let bound = HEADER_TIMEOUT + 2 * SLACK;

    let silent = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let opened = Instant::now();
        let (closed, _) = until_closed(&mut stream, bound).await;
        closed - opened
    };
    let trickling = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let opened = Instant::now();
        let mut closed_at = None;
        // A byte a second of a head that would take far longer than the timeout.
        for byte in HEALTH.iter().cycle().take(60) {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            let mut probe = [0u8; 256];
            match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut probe)).await {
                Err(_) => {}
                Ok(Ok(0) | Err(_)) => {
                    closed_at = Some(Instant::now());
                    break;
                }
                Ok(Ok(_)) => panic!("an answer to an unfinished head"),
            }
            assert!(opened.elapsed() < bound, "still open after {bound:?}");
        }
        closed_at.unwrap_or_else(Instant::now) - opened
    };
    let idle = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(HEALTH).await.expect("send");
        let answer = read_one_answer(&mut stream).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        let answered = Instant::now();
        let (closed, _) = until_closed(&mut stream, bound).await;
        closed - answered
    };
    // Normal clients are served all the while, each on a connection of its own.
    let normal = async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("a client");
        let mut served = 0;
        let started = Instant::now();
        while started.elapsed() < HEADER_TIMEOUT + SLACK {
            let response = client
                .get(format!("http://{addr}/health"))
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .expect("/health answered while slow clients hold connections");
            assert_eq!(response.status(), 200);
            served += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        served
    };
    let (silent, trickling, idle, served) = tokio::join!(silent, trickling, idle, normal);
    // hyper's timer starts when the server starts waiting for a head, a moment after the
    // client's `connect` returns or its answer arrives: an idle connection may close a
    // little before the timeout as the client counts.
    let early = HEADER_TIMEOUT - Duration::from_millis(500);
    for (what, after) in [("silent", silent), ("trickling", trickling), ("idle", idle)] {
        assert!(
            after >= early && after <= bound,
            "the {what} client was closed after {after:?}; expected {HEADER_TIMEOUT:?} to {bound:?}"
        );
    }
    let status = server.stop(Duration::from_secs(15)).await.expect("stop");
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        server.output()
    );
    println!(
        "FIGURE slow clients with a {} ms head timeout: silent closed after {} ms, trickling {} ms, idle {} ms; {served} /health answered meanwhile",
        millis(HEADER_TIMEOUT),
        millis(silent),
        millis(trickling),
        millis(idle)
    );
}

/// The cap on connections.
const MAX_CONNECTIONS: usize = 8;

/// With `MAX_CONNECTIONS=8` and eight connections open, a ninth gets no answer (it
/// waits in the kernel's queue); once one of the eight closes, it is answered.
pub(super) async fn connection_cap_makes_the_next_client_wait(binary: TierBinary) {
    let db = TestDb::create().await;
    let cap = MAX_CONNECTIONS.to_string();
    let (mut server, addr) = spawn(binary, &db, &[("MAX_CONNECTIONS", &cap)]).await;
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(HEALTH).await.expect("send");
        let answer = read_one_answer(&mut stream).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        held.push(stream);
    }
    // The ninth connects (the kernel completes the handshake) and sends its request,
    // but nobody accepts it: no answer comes.
    let mut ninth = TcpStream::connect(addr).await.expect("connect");
    ninth.write_all(HEALTH).await.expect("send");
    let mut first = [0u8; 1];
    let waited = tokio::time::timeout(Duration::from_secs(1), ninth.read(&mut first)).await;
    assert!(
        waited.is_err(),
        "the ninth connection was answered with eight open and MAX_CONNECTIONS=8: {waited:?}"
    );
    // One of the eight leaves: the ninth is accepted and answered.
    drop(held.pop());
    let left = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(5), read_one_answer(&mut ninth))
        .await
        .expect("the ninth connection was not answered within 5 s of a slot freeing");
    let answered_after = left.elapsed();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    drop(held);
    let status = server.stop(Duration::from_secs(15)).await.expect("stop");
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        server.output()
    );
    println!(
        "FIGURE connection cap {MAX_CONNECTIONS}: the ninth connection unanswered for 1 s, answered {} ms after one closed",
        millis(answered_after)
    );
}

/// Connections the server is left room for, over what it holds open already.
const SPARE_FDS: u64 = 16;

/// Out of file descriptors (`EMFILE`): with its limit lowered from outside (`prlimit`)
/// to what it holds plus 16, and `MAX_CONNECTIONS` far above that, the server is
/// sent 64 connections at once. `accept` fails; the server logs it, pauses, retries,
/// and once the clients are gone it answers a fresh one: it survived.
pub(super) async fn out_of_file_descriptors_is_survived(binary: TierBinary) {
    use rustix::process::{Pid, Resource, Rlimit, getrlimit, prlimit};

    let db = TestDb::create().await;
    let (mut server, addr) = spawn(binary, &db, &[("MAX_CONNECTIONS", "100000")]).await;
    // The pool's connections opened first: they need descriptors too.
    let client = reqwest::Client::new();
    let health = format!("http://{addr}/health");
    let status = client.get(&health).send().await.expect("/health").status();
    assert_eq!(status, 200);
    drop(client);

    let pid = i32::try_from(server.pid())
        .ok()
        .and_then(Pid::from_raw)
        .expect("a process id");
    let open = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .expect("the server's descriptors")
        .count() as u64;
    let limit = Rlimit {
        current: Some(open + SPARE_FDS),
        // The hard limit is the one it inherited from us: unchanged.
        maximum: getrlimit(Resource::Nofile).maximum,
    };
    prlimit(Some(pid), Resource::Nofile, limit).expect("prlimit on the server");

    let mut clients = Vec::new();
    for _ in 0..4 * SPARE_FDS {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(HEALTH).await.expect("send");
        clients.push(stream);
    }
    let waiting = Instant::now();
    while !server.output().contains("accept failed") {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "no accept error logged with {} connections and a limit of {} descriptors:\n{}",
            clients.len(),
            open + SPARE_FDS,
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(clients);

    // The descriptors come back as the connections close: a new client is served.
    let recovering = Instant::now();
    let answered = loop {
        let attempt = reqwest::Client::new()
            .get(&health)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if let Ok(response) = attempt {
            assert_eq!(response.status(), 200);
            break recovering.elapsed();
        }
        assert!(
            recovering.elapsed() < Duration::from_secs(10),
            "not serving 10 s after the clients left: {attempt:?}\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        server.try_exit().is_none(),
        "the server exited:\n{}",
        server.output()
    );
    let errors_logged = server.output().matches("accept failed").count();
    let status = server.stop(Duration::from_secs(15)).await.expect("stop");
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        server.output()
    );
    println!(
        "FIGURE out of descriptors (limit {} = {open} open + {SPARE_FDS}, {} clients): {errors_logged} accept errors logged, served again {} ms after the clients left",
        open + SPARE_FDS,
        4 * SPARE_FDS,
        millis(answered)
    );
}
