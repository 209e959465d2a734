//! # Exercise 06: a streaming export (NDJSON)
//!
//! Lecture: "Streaming: a million rows at flat memory" (`cargo run --example
//! stream_rows`).
//!
//! `GET /users/export` must answer with every user, one JSON object per line
//! (NDJSON, content type `application/x-ndjson`), for a table of any size. Write the
//! handler, [`export`]: the rows come from a [`Source`] (`source.rows()`, a stream of
//! `Result<ExportedUser, sqlx::Error>`: in the app a query, in the checks a channel).
//!
//! The tempting answer collects the rows into a `Vec`, then serializes it: it holds the
//! whole table in memory, and the client gets nothing until the last row is read. The
//! checks feed your handler one row and wait for its line to arrive before they send
//! the next ones: send each line as its row comes.
//!
//! Check: `cargo test -p exercises ex06`. Hints: `exercises/hints/ex06.md`.

// The stub leaves its argument unused until you write it.
#![allow(unused_variables)]

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

pub use crate::given::{ExportedUser, Source};

/// The app: the export, its rows from `source`.
pub fn router(source: Source) -> Router {
    Router::new()
        .route("/users/export", get(export))
        .with_state(source)
}

/// `GET /users/export`: every user of `source`, one JSON object per line.
pub async fn export(State(source): State<Source>) -> Response {
    todo!("exercise 06: a response whose body is a stream of lines, one per row")
}
