//! # Exercise 06, solved: the body is a stream
//!
//! The task is in `exercises/src/ex06_streaming.rs`.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use axum::{BoxError, Router};
use futures::StreamExt as _;

pub use crate::given::{ExportedUser, Source};

/// The app: the export, its rows from `source`.
pub fn router(source: Source) -> Router {
    Router::new()
        .route("/users/export", get(export))
        .with_state(source)
}

/// `GET /users/export`: every user of `source`, one JSON object per line.
pub async fn export(State(source): State<Source>) -> Response {
    // Each row becomes its line as it arrives: nothing is collected, so memory stays at
    // one row, and hyper sends each chunk as the stream yields it.
    let lines = source.rows().map(|row| {
        let mut line = serde_json::to_vec(&row?)?;
        line.push(b'\n');
        Ok::<_, BoxError>(line)
    });
    // The handler returns at once, before any row is read: the status and headers go
    // out first, and the body follows. So an error after the first row cannot change
    // the status any more: it ends the body early, which the client sees as a
    // truncated response (no final chunk), not as a clean end.
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response()
}
