//! The open loop: requests at a fixed rate, whatever the server does, so that the
//! latency tail is free of *coordinated omission*.
//!
//! The closed loop ([`super::run`]) sends a connection's next request when the last
//! one answers. When the server stalls for 200 ms, each connection waits once, and the
//! requests a real client would have sent during the stall are never sent: the
//! histogram holds one slow request per connection and thousands of fast ones, and
//! p99 looks fine. The load generator has *coordinated* with the server and *omitted*
//! the requests that would have shown the stall.
//!
//! Here, as in wrk2, the run has a rate R and a schedule: request k of the run is
//! *intended* at `t0 + k / R`. The C keep-alive connections deal the slots out in turn
//! (connection c owns slots c, c + C, c + 2C, ...), so each still has one request in
//! flight at most. A connection that is on time sleeps until its slot; one that is
//! still busy with the previous request when its slot comes is *late*, sends as soon as
//! it is free, and the latency it records is measured from the intended time, not from
//! the moment it sent: the time the request spent queued behind the stall is the
//! server's, and it shows in the tail.
//!
//! Two figures say whether a run means what it seems to: how many requests went out
//! late (and how many slots were never sent before the window closed), and the rate
//! achieved. A server that cannot keep up with R falls behind more and more; its
//! latencies then measure how long the queue has grown, not the server's service time,
//! and [`OpenLoopResult::kept_up`] says so.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::{
    Connection, LoadResult, REQUEST_TIMEOUT, Rng, Window, connect, new_histogram, request_for,
    send, unique_tag,
};
use crate::seed::Seeded;
use crate::workload::Workload;

/// How far short of the intended rate a run may fall and still count as kept up: the
/// window's edges and the timer's 1 ms ticks cost a request or two, a server that
/// cannot keep up loses far more.
pub const SHORTFALL_ALLOWED: f64 = 0.03;

/// What one open-loop run measured.
#[derive(Debug, Clone)]
pub struct OpenLoopResult {
    /// The intended rate, requests per second.
    pub rate: f64,
    /// Requests, errors and latencies in the window; each latency runs from the
    /// request's intended time (or from its sending when it left on time) to the end
    /// of its response.
    pub load: LoadResult,
    /// Requests ending in the window that went out late: their connection was still
    /// busy with the previous request when their time came.
    pub late: u64,
    /// Slots intended in the window that were never sent (the backlog at its end).
    pub unsent: u64,
}

impl OpenLoopResult {
    /// Successful requests per second in the window.
    pub fn achieved_rps(&self) -> f64 {
        self.load.rps()
    }

    /// Whether the server kept up with the intended rate (within [`SHORTFALL_ALLOWED`]).
    /// When it did not, the tail measures the queue the run built up, not the server.
    pub fn kept_up(&self) -> bool {
        self.achieved_rps() >= self.rate * (1.0 - SHORTFALL_ALLOWED)
    }
}

/// Drives `workload` against `addr` at `rate` requests per second over `connections`
/// keep-alive connections, from now (the warm-up, at the same rate) until
/// `window.end`, and returns what completed inside the window.
pub async fn run(
    addr: SocketAddr,
    workload: Workload,
    seeded: Seeded,
    connections: usize,
    rate: f64,
    window: Window,
) -> anyhow::Result<OpenLoopResult> {
    anyhow::ensure!(
        rate.is_finite() && rate > 0.0,
        "an open loop needs a positive rate, not {rate}"
    );
    anyhow::ensure!(connections > 0, "an open loop needs a connection");
    let schedule = Schedule {
        start: Instant::now(),
        rate,
        connections,
    };
    let tag: Arc<str> = unique_tag().into();
    let mut tasks = tokio::task::JoinSet::new();
    for conn in 0..connections {
        let tag = Arc::clone(&tag);
        let mut result = LoadResult::empty(&window, new_histogram()?);
        // The same streams of ids as the closed loop's connections.
        let seed = 0x5EED_0000 ^ (conn as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        tasks.spawn(async move {
            let counts = connection_loop(
                addr,
                workload,
                seeded,
                &tag,
                conn,
                seed,
                schedule,
                window,
                &mut result,
            )
            .await;
            (result, counts)
        });
    }
    let mut total = OpenLoopResult {
        rate,
        load: LoadResult::empty(&window, new_histogram()?),
        late: 0,
        unsent: 0,
    };
    while let Some(done) = tasks.join_next().await {
        let (load, counts) = done.context("a connection task panicked")?;
        total.load.merge(load)?;
        total.late += counts.late;
        total.unsent += counts.unsent;
    }
    Ok(total)
}

/// When each request of the run is intended.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    /// When slot 0 is intended.
    start: Instant,
    /// Requests per second.
    rate: f64,
    /// Connections sharing the slots.
    connections: usize,
}

impl Schedule {
    /// The intended time of connection `conn`'s `j`-th request: slot `conn + j * C`.
    fn intended(&self, conn: usize, j: u64) -> Instant {
        let slot = conn as f64 + j as f64 * self.connections as f64;
        self.start + Duration::from_secs_f64(slot / self.rate)
    }
}

/// One connection's late and unsent requests.
#[derive(Debug, Default, Clone, Copy)]
struct Backlog {
    late: u64,
    unsent: u64,
}

/// One connection's share of the schedule: on time, it sleeps until its slot; late, it
/// sends at once and measures from the slot. Reconnects after a transport error.
#[allow(clippy::too_many_arguments)]
async fn connection_loop(
    addr: SocketAddr,
    workload: Workload,
    seeded: Seeded,
    tag: &str,
    conn: usize,
    seed: u64,
    schedule: Schedule,
    window: Window,
    result: &mut LoadResult,
) -> Backlog {
    let mut rng = Rng::new(seed);
    let mut backlog = Backlog::default();
    let mut sender: Option<Connection> = None;
    // When this connection last became free to send (its last answer, or connecting).
    let mut free_since = Instant::now();
    let in_window = |at: Instant| at >= window.start && at < window.end;
    let mut j = 0;
    loop {
        let intended = schedule.intended(conn, j);
        if intended >= window.end {
            break;
        }
        tokio::time::sleep_until(intended.into()).await;
        if Instant::now() >= window.end {
            // The window closed with slots of it still unsent. Those that came while
            // the connection was busy are the backlog; a last slot the timer woke up
            // for just after the end is not (its answer would not count anyway).
            backlog.unsent += (j..)
                .map(|k| schedule.intended(conn, k))
                .take_while(|at| *at < window.end)
                .filter(|at| in_window(*at) && *at < free_since)
                .count() as u64;
            break;
        }
        j += 1;
        let connection = match sender.as_mut() {
            Some(connection) => connection,
            None => match connect(addr).await {
                Ok(connection) => {
                    free_since = Instant::now();
                    sender.insert(connection)
                }
                Err(err) => {
                    result.note_error(Instant::now(), &window, format!("connect: {err}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        // Late means busy when the slot came. Then the wait is the server's and counts;
        // on time, the latency runs from the sending, so the timer's own lateness (it
        // ticks every millisecond) is not charged to the server.
        let late = free_since > intended;
        let spec = request_for(workload, &mut rng, seeded, tag, conn, j);
        let sent = Instant::now();
        let from = if late { intended } else { sent };
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, send(connection, addr, &spec)).await;
        let done = Instant::now();
        free_since = done;
        // Counted like the requests, by when they end, so late / requests is a share.
        if late && in_window(done) {
            backlog.late += 1;
        }
        match outcome {
            Ok(Ok(status)) if status == spec.expected => {
                if in_window(done) {
                    result.requests += 1;
                    let micros = (done - from).as_micros().min(u128::from(u64::MAX)) as u64;
                    result.latency_us.saturating_record(micros.max(1));
                }
            }
            Ok(Ok(status)) => {
                let what = format!("{} {} answered {status}", spec.method, spec.path);
                result.note_error(done, &window, what);
            }
            Ok(Err(err)) => {
                sender = None;
                let what = format!("{} {}: {err}", spec.method, spec.path);
                result.note_error(done, &window, what);
            }
            Err(_) => {
                sender = None;
                let what = format!(
                    "{} {}: no answer within {REQUEST_TIMEOUT:?}",
                    spec.method, spec.path
                );
                result.note_error(done, &window, what);
            }
        }
    }
    backlog
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const SEEDED: Seeded = Seeded {
        users: 100,
        posts_per_user: 10,
    };

    /// A tiny HTTP server on loopback that answers every request `200 {}` at once,
    /// but for the first request that arrives `stall_after` after it started (if
    /// given), which it holds for `STALL`.
    async fn server(stall_after: Option<Duration>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let started = Instant::now();
        let stalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let stalled = Arc::clone(&stalled);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    // Requests are small GETs: one read is one request.
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let due = stall_after.is_some_and(|after| started.elapsed() >= after);
                        if due && !stalled.swap(true, std::sync::atomic::Ordering::SeqCst) {
                            tokio::time::sleep(STALL).await;
                        }
                        let reply = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                        if socket.write_all(reply.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    const STALL: Duration = Duration::from_millis(200);

    fn ms(micros: u64) -> f64 {
        micros as f64 / 1000.0
    }

    /// A result in one line (a histogram's `Debug` is pages long).
    fn brief(r: &OpenLoopResult) -> String {
        let h = &r.load.latency_us;
        format!(
            "{} ok, {} errors, {:.0} req/s of {:.0}, late {}, unsent {}, p50 {} ms, p99.9 {} ms, max {} ms",
            r.load.requests,
            r.load.errors,
            r.achieved_rps(),
            r.rate,
            r.late,
            r.unsent,
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.999)),
            ms(h.max())
        )
    }

    /// One 200 ms stall in the middle of the window: the closed loop sees it once
    /// (its max) and its p99 hides it; the open loop charges the stall to every
    /// request queued behind it, and its p99.9 shows it.
    #[tokio::test]
    async fn a_stall_shows_in_the_open_loops_tail_only() {
        let warmup = Duration::from_millis(100);
        let duration = Duration::from_secs(1);
        // The stall comes 400 ms after the server starts: inside either window.
        let stall_after = Some(warmup + Duration::from_millis(300));

        let addr = server(stall_after).await;
        let window = Window::after(warmup, duration);
        let closed = super::super::run(addr, Workload::Get, SEEDED, 2, window)
            .await
            .unwrap();
        assert!(closed.requests > 200, "{} requests", closed.requests);
        let closed_max = ms(closed.latency_us.max());
        assert!(
            closed_max >= 150.0,
            "the stall is in the window: max {closed_max} ms"
        );
        let closed_p99 = ms(closed.latency_us.value_at_quantile(0.99));
        assert!(closed_p99 < 50.0, "closed loop p99 {closed_p99} ms");

        let addr = server(stall_after).await;
        let window = Window::after(warmup, duration);
        let open = run(addr, Workload::Get, SEEDED, 2, 1000.0, window)
            .await
            .unwrap();
        let open_p999 = ms(open.load.latency_us.value_at_quantile(0.999));
        assert!(
            open_p999 >= 150.0,
            "open loop p99.9 {open_p999} ms: {}",
            brief(&open)
        );
        // At 500 requests a second per connection, the stalled one fell ~100 behind.
        assert!(open.late >= 50, "{}", brief(&open));
        assert_eq!(open.load.errors, 0, "{}", brief(&open));
    }

    /// Against a server that answers at once, the run achieves its rate within 2 %,
    /// and counts as kept up.
    #[tokio::test]
    async fn a_fast_server_gets_the_intended_rate() {
        let addr = server(None).await;
        // 8 ms between one connection's slots, as 64 connections at 8,000 req/s.
        let rate = 1000.0;
        let window = Window::after(Duration::from_millis(100), Duration::from_secs(1));
        let open = run(addr, Workload::Get, SEEDED, 8, rate, window)
            .await
            .unwrap();
        let achieved = open.achieved_rps();
        assert!((achieved - rate).abs() <= rate * 0.02, "{}", brief(&open));
        assert!(open.kept_up());
        // The machine may hiccup (it is shared): a slot or two, not a backlog.
        assert!(open.unsent <= 5, "{}", brief(&open));
        assert_eq!(open.load.latency_us.len(), open.load.requests);
    }

    /// A rate the server cannot follow (one connection, each request held 200 ms:
    /// 5 a second at most, against 100 intended) leaves slots unsent and is flagged.
    #[tokio::test]
    async fn a_server_that_cannot_keep_up_is_flagged() {
        let slow = Duration::from_millis(200);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        tokio::time::sleep(slow).await;
                        let reply = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                        if socket.write_all(reply.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let window = Window::after(Duration::from_millis(50), Duration::from_millis(600));
        let open = run(addr, Workload::Get, SEEDED, 1, 100.0, window)
            .await
            .unwrap();
        assert!(!open.kept_up(), "{}", brief(&open));
        // ~65 slots, 3 or 4 sent: the rest are the backlog.
        assert!(open.unsent > 40, "{}", brief(&open));
        assert!(open.late > 0, "{}", brief(&open));
        assert!(
            run(addr, Workload::Get, SEEDED, 1, 0.0, window)
                .await
                .is_err()
        );
    }
}
