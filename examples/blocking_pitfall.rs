//! Why blocking calls hurt an async server, measured.
//!
//! ```text
//! cargo run --example blocking_pitfall
//! ```
//!
//! One axum server, on a runtime with two worker threads (a 2-core machine), has three
//! handlers that each wait one second, in three different ways. For each handler the
//! program sends 16 requests at once, measures how long until all 16 are answered, and
//! prints a table, then exits by itself (after about 10 s). What you should see:
//!
//! ```text
//! 16 concurrent requests per handler; each handler waits 1 s; the server has 2 worker threads.
//!
//! handler               waits with             16 requests   slowest   ideal
//! GET /std-sleep        std::thread::sleep          9.02 s    9.02 s  1.00 s
//! GET /tokio-sleep      tokio::time::sleep          1.02 s    1.01 s  1.00 s
//! GET /spawn-blocking   spawn_blocking              1.05 s    1.03 s  1.00 s
//!
//! std::thread::sleep: 8.9x slower than tokio::time::sleep
//! ```
//!
//! (measured on a 2-core machine; your seconds will differ a little, the ratio hardly).
//!
//! What it shows: a runtime runs many tasks on few threads, and a task gives its thread
//! back only at an `.await` that has to wait. `std::thread::sleep` (like any blocking
//! call: a synchronous driver, heavy computation, `std::fs` on a slow disk) keeps the
//! thread, so two blocked handlers stop the whole server: 16 requests need at least
//! 16 / 2 = 8 seconds (we measured 9). `tokio::time::sleep` yields, so all 16 wait
//! together. Blocking work that cannot be avoided belongs on tokio's blocking thread
//! pool (`spawn_blocking`), which keeps the worker threads free.

use std::time::{Duration, Instant};

use axum::{Router, routing::get};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// How long each handler waits.
const WAIT: Duration = Duration::from_secs(1);
/// Concurrent requests sent to each handler.
const REQUESTS: usize = 16;
/// Worker threads of the server's runtime.
const WORKERS: usize = 2;

// ANCHOR: handlers
// ANCHOR: blocking_handler
/// Wrong: blocks the worker thread. No other task can run on it for a second.
async fn std_sleep() -> &'static str {
    std::thread::sleep(WAIT);
    "done"
}
// ANCHOR_END: blocking_handler

// ANCHOR: tokio_sleep_handler
/// Right: `.await` gives the thread back to the runtime while the timer runs.
async fn tokio_sleep() -> &'static str {
    tokio::time::sleep(WAIT).await;
    "done"
}
// ANCHOR_END: tokio_sleep_handler

// ANCHOR: spawn_blocking_handler
/// Right, for blocking work that cannot be avoided: run it on the blocking pool.
async fn spawn_blocking() -> &'static str {
    let _ = tokio::task::spawn_blocking(|| std::thread::sleep(WAIT)).await;
    "done"
}
// ANCHOR_END: spawn_blocking_handler
// ANCHOR_END: handlers

/// The three routes: path, how the handler waits.
const ROUTES: [(&str, &str); 3] = [
    ("/std-sleep", "std::thread::sleep"),
    ("/tokio-sleep", "tokio::time::sleep"),
    ("/spawn-blocking", "spawn_blocking"),
];

/// What one handler's round of requests measured.
struct Measured {
    total: Duration,
    slowest: Duration,
}

fn main() -> anyhow::Result<()> {
    // ANCHOR: runtime
    // The server's runtime: exactly two worker threads, whatever this machine has.
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()?;
    // ANCHOR_END: runtime
    let app = Router::new()
        .route(ROUTES[0].0, get(std_sleep))
        .route(ROUTES[1].0, get(tokio_sleep))
        .route(ROUTES[2].0, get(spawn_blocking));
    let listener = server.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    server.spawn(async move { axum::serve(listener, app).await });

    // The client gets a runtime of its own, on this thread: when the server's workers
    // are blocked, the measuring must not be blocked with them.
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "{REQUESTS} concurrent requests per handler; each handler waits {:.0} s; \
         the server has {WORKERS} worker threads.\n",
        WAIT.as_secs_f64()
    );
    println!(
        "{:<21} {:<20} {:>13} {:>9} {:>7}",
        "handler", "waits with", "16 requests", "slowest", "ideal"
    );
    let mut totals = Vec::new();
    for (path, how) in ROUTES {
        let url = format!("http://{addr}{path}");
        let measured = client.block_on(measure(&url))?;
        println!(
            "{:<21} {:<20} {:>11.2} s {:>7.2} s {:>5.2} s",
            format!("GET {path}"),
            how,
            measured.total.as_secs_f64(),
            measured.slowest.as_secs_f64(),
            WAIT.as_secs_f64()
        );
        totals.push(measured.total);
    }
    println!(
        "\nstd::thread::sleep: {:.1}x slower than tokio::time::sleep",
        totals[0].as_secs_f64() / totals[1].as_secs_f64()
    );

    // Handlers still sleeping on a blocked thread would hold up a plain drop.
    server.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Sends `REQUESTS` requests to `url` at once; returns the time until the last answer
/// and the slowest single request.
async fn measure(url: &str) -> anyhow::Result<Measured> {
    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut requests = JoinSet::new();
    for _ in 0..REQUESTS {
        let request = http.get(url).send();
        requests.spawn(async move {
            let sent = Instant::now();
            let response = request.await?.error_for_status()?;
            response.bytes().await?;
            Ok::<_, reqwest::Error>(sent.elapsed())
        });
    }
    let mut slowest = Duration::ZERO;
    while let Some(answered) = requests.join_next().await {
        slowest = slowest.max(answered??);
    }
    Ok(Measured {
        total: start.elapsed(),
        slowest,
    })
}
