//! Three one-second waits, first one after another, then concurrently.
//!
//! ```text
//! cargo run --example concurrent_tasks
//! ```
//!
//! What you should see (after about five seconds in all):
//!
//! ```text
//! one after another (three .await in a row): 3.00 s
//! concurrently with tokio::join!:            1.00 s
//! concurrently as tasks in a JoinSet:        1.00 s
//! ```
//!
//! What it shows: `.await` waits for one thing at a time. To wait for several at once,
//! hand them to the runtime together, either as futures polled side by side in this
//! task (`tokio::join!`, like Python's `asyncio.gather`) or as spawned tasks collected
//! by a `JoinSet` (like `asyncio.create_task`). The runtime here has a single thread
//! (`flavor = "current_thread"`), so this is concurrency, not parallelism: one thread
//! interleaves the three waits, because none of them blocks it.

use std::time::{Duration, Instant};

use tokio::task::JoinSet;

/// Stands for any I/O that takes a second: a query, an HTTP call.
async fn wait_one_second(name: &'static str) -> &'static str {
    tokio::time::sleep(Duration::from_secs(1)).await;
    name
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // ANCHOR: sequential
    // One after another: each `.await` finishes before the next wait starts.
    let start = Instant::now();
    wait_one_second("a").await;
    wait_one_second("b").await;
    wait_one_second("c").await;
    report("one after another (three .await in a row)", start);
    // ANCHOR_END: sequential

    // ANCHOR: join
    // Concurrently, in this task: join! polls all three futures until all are done.
    let start = Instant::now();
    let (_a, _b, _c) = tokio::join!(
        wait_one_second("a"),
        wait_one_second("b"),
        wait_one_second("c")
    );
    report("concurrently with tokio::join!", start);
    // ANCHOR_END: join

    // ANCHOR: join_set
    // Concurrently, as separate tasks: the runtime schedules each one on its own.
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for name in ["a", "b", "c"] {
        tasks.spawn(wait_one_second(name));
    }
    while let Some(finished) = tasks.join_next().await {
        // A task that panicked comes back as an error: report it instead of hiding it.
        if let Err(err) = finished {
            eprintln!("a task failed: {err}");
        }
    }
    report("concurrently as tasks in a JoinSet", start);
    // ANCHOR_END: join_set
}

/// Prints the label and the seconds elapsed since `start`, aligned.
fn report(label: &str, start: Instant) {
    let label = format!("{label}:");
    println!("{label:<43}{:.2} s", start.elapsed().as_secs_f64());
}
