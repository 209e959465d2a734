//! The smallest async program: an `async fn` that waits one second, then greets.
//!
//! ```text
//! cargo run --example hello_async
//! ```
//!
//! What you should see, the first line at once and the others a second later:
//!
//! ```text
//! called greet() after 0.00 s: we hold a future, and nothing has been printed
//! Hello Async!
//! awaited greet() after 1.00 s
//! ```
//!
//! What it shows:
//!
//! * `async fn` does not run when called: it returns a *future*, a value that describes
//!   the work. Nothing happens until the future is `.await`ed (or handed to a runtime).
//!   A future that is dropped without being awaited never runs at all: the `drop` below
//!   greets nobody.
//! * `.await` on `tokio::time::sleep` waits *without blocking the thread*: while this
//!   task sleeps, the runtime is free to run other tasks (see `concurrent_tasks`).
//! * `#[tokio::main]` starts the runtime that drives futures: Rust has no built-in one,
//!   it is the analog of Python's `asyncio.run`.

use std::time::{Duration, Instant};

// ANCHOR: greet
/// Waits one second without blocking the thread, then prints a greeting.
async fn greet() {
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("Hello Async!");
}
// ANCHOR_END: greet

// ANCHOR: main
#[tokio::main]
async fn main() {
    let start = Instant::now();

    // ANCHOR: lazy
    // Calling an async fn only builds a future: no sleeping, no printing yet.
    let greeting = greet();
    println!(
        "called greet() after {:.2} s: we hold a future, and nothing has been printed",
        start.elapsed().as_secs_f64()
    );

    // A future that is never awaited does nothing at all.
    drop(greet());

    // `.await` runs it to completion: one second later, "Hello Async!".
    greeting.await;
    // ANCHOR_END: lazy
    println!(
        "awaited greet() after {:.2} s",
        start.elapsed().as_secs_f64()
    );
}
// ANCHOR_END: main
