//! Checks of exercise 06: the router is called in-process (tower's `oneshot`), and its
//! body read frame by frame, as hyper would send it.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use super::database;
use super::ex06_streaming::{ExportedUser, Source, router};

checks!(
    the_first_line_arrives_before_the_last_row,
    exports_every_user_of_the_table,
);

/// How long the checks wait for an answer that should come at once.
const PATIENCE: Duration = Duration::from_secs(3);

fn user(id: i64) -> ExportedUser {
    ExportedUser {
        id,
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
    }
}

/// Sends `GET /users/export` and checks the status and the content type.
async fn get_export(source: Source) -> anyhow::Result<Body> {
    let request = Request::get("/users/export").body(Body::empty())?;
    let response = tokio::time::timeout(PATIENCE, router(source).oneshot(request))
        .await
        .context(
            "no response 3 s after the first row was sent, while the others were still to \
             come: the handler waits for the last row before it answers",
        )??;
    ensure!(
        response.status() == StatusCode::OK,
        "status {}",
        response.status()
    );
    let content_type = response.headers().get(header::CONTENT_TYPE);
    ensure!(
        content_type.is_some_and(|value| value == "application/x-ndjson"),
        "content type {content_type:?}, not application/x-ndjson"
    );
    Ok(response.into_body())
}

/// Parses complete lines as users.
fn parse(text: &[u8]) -> anyhow::Result<Vec<ExportedUser>> {
    let text = std::str::from_utf8(text)?;
    ensure!(
        text.is_empty() || text.ends_with('\n'),
        "the body does not end with a newline"
    );
    text.lines()
        .map(|line| serde_json::from_str(line).with_context(|| format!("the line {line:?}")))
        .collect()
}

async fn the_first_line_arrives_before_the_last_row() -> anyhow::Result<()> {
    // The rows come from a channel that this check feeds by hand.
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<ExportedUser>();
    let receiver = Mutex::new(Some(receiver));
    let source = Source::new(move || {
        let receiver = receiver.lock().ok().and_then(|mut taken| taken.take());
        Box::pin(async_stream::stream! {
            let Some(mut receiver) = receiver else { return };
            while let Some(user) = receiver.recv().await {
                yield Ok(user);
            }
        })
    });
    sender.send(user(1))?;
    let mut body = get_export(source).await?;
    // The first line must come while rows 2 to 5 have not been produced yet.
    let mut received = Vec::new();
    while !received.contains(&b'\n') {
        let frame = tokio::time::timeout(PATIENCE, body.frame())
            .await
            .context("the first row was sent, and its line did not arrive within 3 s")?;
        let Some(frame) = frame else {
            bail!("the body ended before the first line")
        };
        if let Ok(data) = frame?.into_data() {
            received.extend_from_slice(&data);
        }
    }
    for id in 2..=5 {
        sender.send(user(id))?;
    }
    drop(sender);
    let rest = tokio::time::timeout(PATIENCE, body.collect())
        .await
        .context("the body did not end after the last row")??;
    received.extend_from_slice(&rest.to_bytes());
    let users = parse(&received)?;
    let expected: Vec<_> = (1..=5).map(user).collect();
    ensure!(
        users == expected,
        "the lines were {users:?}, not {expected:?}"
    );
    Ok(())
}

async fn exports_every_user_of_the_table() -> anyhow::Result<()> {
    const USERS: i64 = 2_000;
    let db = database::with_schema().await?;
    db.connect()
        .await
        .batch_execute(&format!(
            "INSERT INTO users (name, email) SELECT 'User ' || g, 'user' || g || '@example.com' \
             FROM generate_series(1, {USERS}) AS g"
        ))
        .await?;
    let pool = database::sqlx_pool(&db).await?;
    let body = get_export(Source::from_pool(pool)).await?;
    let bytes = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .context("the export did not end within 10 s")??
        .to_bytes();
    let users = parse(&bytes)?;
    let expected: Vec<_> = (1..=USERS).map(user).collect();
    ensure!(
        users.len() == expected.len(),
        "{} lines for {USERS} users",
        users.len()
    );
    ensure!(
        users == expected,
        "the lines differ from the table's users, in id order"
    );
    Ok(())
}
