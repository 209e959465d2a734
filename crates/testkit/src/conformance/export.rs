//! The export, `GET /users/export`: every user as one line of JSON (the bytes of
//! `GET /users/{id}`, then `\n`), ascending `id`, as `application/x-ndjson`, streamed.
//! An empty table is an empty body; deleted users are absent; an export of thousands
//! of rows crosses every tier's read batches ([`EXPORT_BATCH_ROWS`]) and the HTTP
//! chunks without a row lost or sent twice.
//!
//! What a client that hangs up, or a database that fails mid-export, must see is the
//! fault suite's part (`faults/`).

use users_api::routes::NDJSON;
use users_api::store::EXPORT_BATCH_ROWS;

use super::id_of;
use crate::{TestApp, TestResponse};

const EXPORT: &str = "/users/export";

/// `GET /users/export`, failing the test unless it is a 200 of `application/x-ndjson`
/// with an `x-request-id`.
async fn export(app: &TestApp) -> TestResponse {
    let response = app.get(EXPORT).await;
    response.assert_status(200);
    assert_eq!(response.header("content-type"), Some(NDJSON));
    assert!(response.header("x-request-id").is_some(), "no x-request-id");
    response
}

/// The id of an export line, which must be a JSON object with one.
fn id_of_line(line: &str) -> i64 {
    let user: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
    id_of(&user)
}

/// An empty table is a 200 with an empty body, and so is a table whose only user was
/// deleted.
pub(super) async fn export_of_an_empty_table_is_200_and_empty(app: &TestApp) {
    let response = export(app).await;
    assert!(response.body.is_empty(), "{:?}", response.text());

    let user = app.create_user("Ada", "ada@example.com").await;
    app.delete(&format!("/users/{}", id_of(&user)))
        .await
        .assert_status(204);
    let response = export(app).await;
    assert!(response.body.is_empty(), "{:?}", response.text());
}

/// Each line is, byte for byte, the body `GET /users/{id}` answers (member order,
/// escapes and Unicode included), followed by `\n`; the lines come in ascending id
/// (the users were created in an order of names that is not the order of anything
/// else), one per user, and a deleted user has none.
pub(super) async fn export_lines_are_the_get_bodies_in_id_order(app: &TestApp) {
    let mut ids = Vec::new();
    for (name, email) in [
        ("Mallory", "mallory@example.com"),
        ("Ada \"the Countess\" Lovelace", "Ada@Example.com"),
        ("Doomed", "doomed@example.com"),
        ("back\\slash / solidus", "slash@example.com"),
        ("李小龍 👩🏽‍💻", "BRUCE@example.com"),
        ("Zoë\u{2028}Ñúñez", "zoe@example.com"),
        ("Bob", "bob@example.com"),
    ] {
        ids.push(id_of(&app.create_user(name, email).await));
    }
    let doomed = ids.remove(2);
    app.delete(&format!("/users/{doomed}"))
        .await
        .assert_status(204);

    let response = export(app).await;
    let lines = response.ndjson_lines();
    let mut expected = Vec::new();
    for id in &ids {
        expected.push(app.get(&format!("/users/{id}")).await.text());
    }
    assert_eq!(lines, expected);
}

/// Enough users (seeded in the database, in an order of names unrelated to their ids)
/// that the export crosses two and a half of the tiers' read batches, with users
/// deleted at and around the batch edges: every line, in ascending id, is the row as
/// the database holds it, no id is missing or sent twice, and the lines at the edges
/// are the bodies of `GET /users/{id}`. The body is streamed (chunked, with no
/// `Content-Length`), not built whole first.
pub(super) async fn export_crosses_every_batch_edge(app: &TestApp) {
    let batch = EXPORT_BATCH_ROWS;
    let seeded = 2 * batch + batch / 2 + 100;
    let db = app.db.connect().await;
    // `ORDER BY random()` hands out ids in an order that has nothing to do with the
    // names or emails, so an export ordered by anything but id is caught.
    db.execute(
        "INSERT INTO users (name, email) \
         SELECT 'User ' || i || CASE WHEN i % 7 = 0 THEN ' Zoë \"Z\"' ELSE '' END, \
                'u' || i || '@Example.com' \
         FROM generate_series(1, $1::bigint) AS i ORDER BY random()",
        &[&seeded],
    )
    .await
    .expect("seed users");
    let deleted = [
        1,
        batch - 1,
        batch,
        batch + 1,
        2 * batch,
        2 * batch + 1,
        seeded,
    ];
    db.execute("DELETE FROM users WHERE id = ANY($1)", &[&deleted.to_vec()])
        .await
        .expect("delete users at the edges");
    let rows = db
        .query(
            "SELECT id, name, email, \
                    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
             FROM users ORDER BY id",
            &[],
        )
        .await
        .expect("read users");
    let expected: Vec<String> = rows
        .iter()
        .map(|row| {
            let string = |index| serde_json::to_string(&row.get::<_, String>(index)).expect("json");
            format!(
                r#"{{"id":{},"name":{},"email":{},"created_at":"{}"}}"#,
                row.get::<_, i64>(0),
                string(1),
                string(2),
                row.get::<_, String>(3)
            )
        })
        .collect();
    assert_eq!(expected.len() as i64, seeded - deleted.len() as i64);

    let response = export(app).await;
    assert_eq!(
        response.header("content-length"),
        None,
        "an export of {seeded} users was sent with a length: built whole, not streamed"
    );
    let lines = response.ndjson_lines();
    let ids: Vec<i64> = lines.iter().map(|line| id_of_line(line)).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ids not strictly ascending (a row sent twice or out of order)"
    );
    assert_eq!(lines.len(), expected.len(), "rows missing or extra");
    for (line, expected) in lines.iter().zip(&expected) {
        assert_eq!(line, expected);
    }

    let mut edges: Vec<usize> = vec![0, lines.len() - 1];
    for edge in [batch as usize, 2 * batch as usize, 256, 512] {
        edges.extend([edge - 1, edge, edge + 1]);
    }
    for index in edges {
        let line = lines[index];
        let fetched = app.get(&format!("/users/{}", id_of_line(line))).await;
        fetched.assert_status(200);
        assert_eq!(fetched.text(), line, "line {index}");
    }
}

/// The export carries `x-request-id` like every response: the caller's, or a fresh
/// one.
pub(super) async fn export_carries_a_request_id(app: &TestApp) {
    app.create_user("Ada", "ada@example.com").await;
    let echoed = app
        .client
        .get(format!("{}{EXPORT}", app.base_url))
        .header("x-request-id", "trace-export-7")
        .send()
        .await
        .expect("response");
    assert_eq!(echoed.status(), 200);
    assert_eq!(echoed.headers()["x-request-id"], "trace-export-7");
    let first = export(app).await;
    let second = export(app).await;
    let (first, second) = (first.header("x-request-id"), second.header("x-request-id"));
    assert!(first.is_some_and(|id| id.len() >= 16), "{first:?}");
    assert_ne!(first, second, "request ids repeat");
}
