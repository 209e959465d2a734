//! The HTTP load generator: a fixed set of keep-alive connections, closed loop.
//!
//! Each of C connections is one task that sends a request, waits for the whole
//! response, records the latency, and sends the next: a *closed* loop, so the load
//! is "C users clicking as fast as the server lets them", like `wrk` or pgbench.
//! Requests are HTTP/1.1 written straight on the socket (`loadgen/wire.rs`): one
//! request in flight per connection, reused buffers, heads parsed by httparse, no
//! pool and no retries: what we time is the server, plus one TCP write and read.
//!
//! Why one task per connection on the binary's one current-thread runtime, and not a
//! runtime per generator thread: that is already what wrk does (one thread, epoll,
//! every connection a state machine), and with the lean client it measures as lean
//! as wrk: in one `--quick` run on this busy 2-core machine the bench's generator
//! spent 14 CPU ms per 1,000 gets and wrk 17, and tier-raw/pgbench differed by 2.5 %
//! between them (it was 24 ms with hyper's client). A second thread would only take
//! a core from the tier and PostgreSQL.
//!
//! A run has a warm-up (connections opened, pools filled, statements prepared, caches
//! warm) and then a measured window; only responses that *complete inside the window*
//! count, so `requests / window` is the throughput. Latencies go into an HDR
//! histogram (microseconds, 3 significant digits), which keeps p99.9 exact to 0.1 %
//! in a few kilobytes, however many requests there are.
//!
//! Every loop is bounded: no request starts after the window ends, and each request
//! has a timeout, so a run lasts at most warm-up + window + [`REQUEST_TIMEOUT`].
//!
//! The parts, each in a file of its own so one can be replaced without the others:
//!
//! * `loadgen/requests.rs`: what each workload sends ([`request_for`], [`Rng`]);
//! * `loadgen/wire.rs`: one keep-alive connection and one request on it ([`send`],
//!   [`Connection::get`]);
//! * `loadgen/client.rs`: a hyper connection, for the export's streamed body;
//! * `loadgen/result.rs`: the window and what was measured in it ([`LoadResult`]);
//! * this file: the closed loops that drive the connections ([`run`],
//!   [`run_sequential`]);
//! * `loadgen/open_loop.rs`: the open loop, requests at a fixed rate over the same
//!   connections, whose tail is free of coordinated omission ([`open_loop::run`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;

use crate::seed::Seeded;
use crate::workload::Workload;

mod client;
pub mod open_loop;
mod requests;
mod result;
mod wire;

pub use client::{HyperConnection, connect_hyper};
pub use requests::{PAGE, RequestSpec, Rng, request_for, unique_tag};
pub use result::{LoadResult, Window, new_histogram};
pub use wire::{Answer, Connection, connect, send, send_answer, status_of};

/// The longest one request may take before it counts as an error. The API promises
/// an answer (503 at worst) within 5 s of waiting for a connection.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Drives `workload` against `addr` with `connections` closed-loop connections until
/// `window.end`, and returns what completed inside the window.
pub async fn run(
    addr: SocketAddr,
    workload: Workload,
    seeded: Seeded,
    connections: usize,
    window: Window,
) -> anyhow::Result<LoadResult> {
    let tag: Arc<str> = unique_tag().into();
    let mut tasks = tokio::task::JoinSet::new();
    for conn in 0..connections {
        let tag = Arc::clone(&tag);
        let histogram = new_histogram()?;
        // Distinct, reproducible streams of ids per connection.
        let seed = 0x5EED_0000 ^ (conn as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        tasks.spawn(connection_loop(
            addr, workload, seeded, tag, conn, seed, window, histogram,
        ));
    }
    let mut total = LoadResult::empty(&window, new_histogram()?);
    while let Some(done) = tasks.join_next().await {
        total.merge(done.context("a connection task panicked")?)?;
    }
    Ok(total)
}

/// One connection's closed loop. Reconnects after a transport error (pausing a little,
/// so a dead server does not make it spin).
#[allow(clippy::too_many_arguments)]
async fn connection_loop(
    addr: SocketAddr,
    workload: Workload,
    seeded: Seeded,
    tag: Arc<str>,
    conn: usize,
    seed: u64,
    window: Window,
    latency_us: Histogram<u64>,
) -> LoadResult {
    let mut rng = Rng::new(seed);
    let mut result = LoadResult::empty(&window, latency_us);
    let mut sender: Option<Connection> = None;
    let mut seq = 0;
    while Instant::now() < window.end {
        let connection = match sender.as_mut() {
            Some(connection) if !connection.is_closed() => connection,
            _ => match connect(addr).await {
                Ok(connection) => sender.insert(connection),
                Err(err) => {
                    result.note_error(Instant::now(), &window, format!("connect: {err}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        seq += 1;
        let next = if workload == Workload::Get {
            Next::User(rng.range(1, seeded.users))
        } else {
            Next::Spec(request_for(workload, &mut rng, seeded, &tag, conn, seq))
        };
        let started = Instant::now();
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, next.send(connection, addr)).await;
        let done = Instant::now();
        match outcome {
            Ok(Ok(status)) if status == next.expected() => {
                if done >= window.start && done < window.end {
                    result.requests += 1;
                    let micros = (done - started).as_micros().min(u128::from(u64::MAX)) as u64;
                    result.latency_us.saturating_record(micros.max(1));
                }
            }
            Ok(Ok(status)) => {
                let what = format!("{} answered {status}", next.describe());
                result.note_error(done, &window, what);
            }
            Ok(Err(err)) => {
                sender = None;
                result.note_error(done, &window, format!("{}: {err}", next.describe()));
            }
            Err(_) => {
                sender = None;
                let what = format!("{}: no answer within {REQUEST_TIMEOUT:?}", next.describe());
                result.note_error(done, &window, what);
            }
        }
    }
    result
}

/// The next request of a closed loop.
enum Next {
    /// `GET /users/{id}`, the `get` workload (the one compared with wrk): its path is
    /// formatted straight into the connection's buffer, so it allocates nothing.
    User(u64),
    /// Any other request, built by [`request_for`].
    Spec(RequestSpec),
}

impl Next {
    /// Sends the request and reads the whole response; returns the status.
    async fn send(&self, connection: &mut Connection, addr: SocketAddr) -> anyhow::Result<u16> {
        match self {
            Next::User(id) => {
                // Two statements: `format_args!`'s temporaries must be gone before
                // the `.await`, or the task would not be `Send`.
                let answer = connection.get(format_args!("/users/{id}"));
                answer.await
            }
            Next::Spec(spec) => send(connection, addr, spec).await,
        }
    }

    /// The status of a successful answer.
    fn expected(&self) -> u16 {
        match self {
            Next::User(_) => 200,
            Next::Spec(spec) => spec.expected,
        }
    }

    /// `METHOD path`, for an error's description.
    fn describe(&self) -> String {
        match self {
            Next::User(id) => format!("GET /users/{id}"),
            Next::Spec(spec) => format!("{} {}", spec.method, spec.path),
        }
    }
}

/// Sends `count` requests of `workload` one after the other on one connection (for
/// counting protocol messages per request); returns how many failed.
pub async fn run_sequential(
    addr: SocketAddr,
    workload: Workload,
    seeded: Seeded,
    count: usize,
) -> anyhow::Result<usize> {
    let tag = unique_tag();
    let mut rng = Rng::new(0x5EC0_0000);
    let mut sender = connect(addr).await?;
    let mut failed = 0;
    for seq in 0..count as u64 {
        let spec = request_for(workload, &mut rng, seeded, &tag, 0, seq);
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, send(&mut sender, addr, &spec)).await;
        match outcome {
            Ok(Ok(status)) if status == spec.expected => {}
            Ok(Ok(_)) => failed += 1,
            _ => {
                failed += 1;
                sender = connect(addr).await?;
            }
        }
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole client loop against a tiny HTTP server on loopback: counts only
    /// the window, counts wrong statuses as errors.
    #[tokio::test]
    async fn measures_a_window_against_a_local_server() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut count = 0u32;
                    // Requests are small GETs: one read is one request.
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        count += 1;
                        let status = if count.is_multiple_of(10) {
                            "404 Not Found"
                        } else {
                            "200 OK"
                        };
                        let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\n{{}}");
                        if socket.write_all(reply.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        assert_eq!(status_of(addr, "/health").await.unwrap(), 200);
        let seeded = Seeded {
            users: 100,
            posts_per_user: 10,
        };
        let window = Window::after(Duration::from_millis(50), Duration::from_millis(200));
        let result = run(addr, Workload::Get, seeded, 2, window).await.unwrap();
        assert!(result.requests > 10, "{result:?}");
        assert!(
            result.errors > 0 && result.errors < result.requests,
            "{result:?}"
        );
        assert_eq!(result.latency_us.len(), result.requests);
        assert!(result.error_samples[0].contains("answered 404"));
        let failed = run_sequential(addr, Workload::Get, seeded, 20)
            .await
            .unwrap();
        assert_eq!(failed, 2);
    }
}
