//! The smallest axum app with an async handler: `GET /async-example` waits one second
//! without blocking, then answers `{"message":"Async Response"}`.
//!
//! ```text
//! cargo run --example async_endpoint
//! ```
//!
//! What you should see: `listening on http://127.0.0.1:3000/async-example`; the server
//! runs until Ctrl-C. In another terminal:
//!
//! ```text
//! $ curl -w ' (%{time_total} s)\n' http://127.0.0.1:3000/async-example
//! {"message":"Async Response"} (1.00 s)
//! ```
//!
//! Ten requests at once still take about one second in all, because a sleeping handler
//! gives its thread back to the runtime (try it:
//! `seq 10 | xargs -P10 -I{} curl -s http://127.0.0.1:3000/async-example; echo`).
//! Set `BIND_ADDR` to listen elsewhere (`BIND_ADDR=127.0.0.1:0` picks a free port).

use std::time::Duration;

use axum::{Json, Router, routing::get};
use serde::Serialize;

// ANCHOR: handler
/// The response body; `Json` turns it into `{"message": "..."}`.
#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// An async handler: while it sleeps, its worker thread serves other requests.
async fn async_example() -> Json<Message> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    Json(Message {
        message: "Async Response",
    })
}
// ANCHOR_END: handler

// ANCHOR: serve
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = Router::new().route("/async-example", get(async_example));

    let addr = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "listening on http://{}/async-example",
        listener.local_addr()?
    );
    axum::serve(listener, app).await
}
// ANCHOR_END: serve
