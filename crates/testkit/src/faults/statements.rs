//! No N+1, proven on the wire: the statements a request on posts sends to PostgreSQL
//! do not grow with the page, nor those of a batch create with the batch.
//!
//! API.md: "Every request on posts runs a fixed number of SQL statements, whatever the
//! page size: at most 2 ... A page of 500 posts with their authors costs the
//! statements a page of 1 costs." The classic way to break that is the N+1 problem:
//! one query for the page, then one more per post for its author (an ORM's lazy
//! relation does it silently). Nothing in a response shows it, so this case counts
//! what the tier sends: a capturing [`FaultProxy`] sits between the tier and
//! PostgreSQL and cuts the client's bytes into protocol messages, and a statement is
//!
//! * a `Bind` (`B`): the extended protocol runs each statement as Parse (only when it
//!   is not prepared yet), **Bind**, Execute, Sync, so every statement executed has
//!   exactly one Bind, whether the driver pipelines several or not;
//! * a simple `Query` (`Q`): SQL text run as is (`BEGIN`, `COMMIT`, `SELECT 1`).
//!
//! What is not counted, and why that is right: `Parse` and `Describe` (preparing is
//! not executing: a statement cache makes them come and go), and a lone `Sync`, which
//! is what sqlx's connection ping sends (sqlx-postgres 0.9, `PgConnection::ping`:
//! `write_sync` and wait for ReadyForQuery, no SQL). sqlx pings every connection it
//! takes back into its pool, and with `test_before_acquire` before handing one out, so
//! tiers II and III would otherwise count a ping or two per request. deadpool's `Fast`
//! recycling (tier-raw) sends nothing at all. Connection set-up (start-up, any
//! `SET` a tier runs on a new connection) would count, so the pool is warmed first:
//! every connection is opened before anything is measured.
//!
//! The database is seeded directly (not through the proxy): 5 authors with 300 posts
//! between them, 500 more by the first, and one user with no posts. Each read's count
//! is the fewest statements seen in three runs: an N+1 shows in every run, a statement
//! of the tier's own that happens to fall into the window (none is known) in at most
//! some. Writing and deleting a post are counted too, each run against the bound.
//!
//! A batch create is one transaction: API.md allows it at most 4 statements, `BEGIN`
//! and `COMMIT` included, whatever the batch's length (one insert for all rows, not
//! one per row). Batches of 1 and of 100, and a refused batch of 100 (409, rolled back),
//! are counted the same way, each its most in three runs.

use std::future::Future;

use serde_json::{Value, json};
use users_api::UserStore;
use users_api::config::Config;

use crate::proxy::FaultProxy;
use crate::{TEST_POOL_SIZE, TestApp, TestResponse};

/// The contract's bound on statements per request on posts.
const MAX_STATEMENTS: usize = 2;

/// Runs of each measured request; its count is the fewest seen.
const RUNS: usize = 3;

/// How many statements the tier has sent so far, on every captured connection.
fn statements_sent(proxy: &FaultProxy) -> usize {
    proxy
        .client_messages()
        .iter()
        .filter(|(kind, _)| matches!(kind, b'B' | b'Q'))
        .count()
}

/// Sends one request; returns its response and the statements the tier sent for it.
/// (Every statement of a request has left before its response: the proxy sees a
/// message before it forwards it, and the tier answers only after PostgreSQL has.)
async fn counted(
    proxy: &FaultProxy,
    request: impl Future<Output = TestResponse>,
) -> (TestResponse, usize) {
    let before = statements_sent(proxy);
    let response = request.await;
    (response, statements_sent(proxy) - before)
}

/// Sends `GET path` [`RUNS`] times; returns the last body and the fewest statements
/// one run sent.
async fn measure(app: &TestApp, proxy: &FaultProxy, path: &str) -> (Value, usize) {
    let mut fewest = usize::MAX;
    let mut body = Value::Null;
    for _ in 0..RUNS {
        let (response, count) = counted(proxy, app.get(path)).await;
        body = if response.status == 200 {
            response.json()
        } else {
            response.assert_problem(response.status)
        };
        fewest = fewest.min(count);
    }
    (body, fewest)
}

/// The first column of the first row of `sql`, an id.
async fn one_id(client: &tokio_postgres::Client, sql: &str) -> i64 {
    let row = client.query_one(sql, &[]).await.expect("read an id");
    row.get(0)
}

/// Opens every connection of the tier's pool (the pool opens them on demand): for
/// every path measured, rounds of more concurrent requests than it has connections.
async fn warm_pool(app: &TestApp, paths: &[String]) {
    for _ in 0..3 {
        for path in paths {
            let requests = (0..2 * TEST_POOL_SIZE).map(|_| app.get(path));
            for response in futures::future::join_all(requests).await {
                assert!(
                    matches!(response.status, 200 | 404),
                    "GET {path} while warming: {}",
                    response.status
                );
            }
        }
    }
}

/// The length of a page, failing the test unless it is `expected`.
fn assert_page_len(page: &Value, expected: usize, path: &str) {
    assert_eq!(
        page.as_array().map(Vec::len),
        Some(expected),
        "GET {path}: a page of the wrong length"
    );
}

/// `GET /posts?limit=500` (500 posts, several authors embedded) sends no more
/// statements than `GET /posts?limit=1`, and at most 2; so does `GET
/// /users/{id}/posts`, a user's empty page, a missing user's 404, and `GET
/// /posts/{id}`. Printed as `FIGURE statements ...` lines.
pub(super) async fn post_pages_cost_the_statements_of_one_post<S, F>(connect: F)
where
    S: UserStore,
    F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
{
    let (app, proxy) = TestApp::spawn_capturing(connect).await;

    let seed = app.db.connect().await;
    seed.batch_execute(
        "INSERT INTO users (name, email) \
             SELECT 'Author ' || n, 'author' || n || '@example.com' FROM generate_series(1, 5) AS n; \
         INSERT INTO users (name, email) VALUES ('Quiet', 'quiet@example.com'); \
         INSERT INTO posts (user_id, title, body) \
             SELECT (SELECT min(id) FROM users) + n % 5, 'Post ' || n, 'Round robin ' || n \
             FROM generate_series(1, 300) AS n; \
         INSERT INTO posts (user_id, title, body) \
             SELECT (SELECT min(id) FROM users), 'More ' || n, 'By the first ' || n \
             FROM generate_series(1, 500) AS n;",
    )
    .await
    .expect("seed users and posts");
    let prolific = one_id(&seed, "SELECT min(id) FROM users").await;
    let quiet = one_id(
        &seed,
        "SELECT id FROM users WHERE email = 'quiet@example.com'",
    )
    .await;
    let a_post = one_id(&seed, "SELECT max(id) FROM posts").await;

    let posts = |limit: usize| format!("/posts?limit={limit}");
    let user_posts = |limit: usize| format!("/users/{prolific}/posts?limit={limit}");
    let empty = format!("/users/{quiet}/posts?limit=500");
    let missing = format!("/users/{}/posts?limit=500", a_post + 1_000);
    let one_post = format!("/posts/{a_post}");
    let paths = [
        posts(1),
        posts(500),
        user_posts(1),
        user_posts(500),
        empty.clone(),
        missing.clone(),
        one_post.clone(),
    ];
    warm_pool(&app, &paths).await;

    // The capture works: it sees the tier's statements at all.
    let (page, posts_1) = measure(&app, &proxy, &posts(1)).await;
    assert_page_len(&page, 1, &posts(1));
    assert!(posts_1 >= 1, "no statement was captured for GET /posts");
    let (page, posts_500) = measure(&app, &proxy, &posts(500)).await;
    assert_page_len(&page, 500, &posts(500));
    let authors: std::collections::BTreeSet<i64> = page
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|post| post["author"]["id"].as_i64())
        .collect();
    assert_eq!(
        authors.len(),
        5,
        "the page of 500 has every author embedded"
    );
    println!("FIGURE statements: GET /posts?limit=1 {posts_1}, GET /posts?limit=500 {posts_500}");
    assert!(
        posts_500 <= posts_1 && posts_500 <= MAX_STATEMENTS,
        "GET /posts: {posts_500} statements for 500 posts, {posts_1} for 1 (at most {MAX_STATEMENTS}, \
         and no more for a longer page: an N+1?)"
    );

    let (page, user_1) = measure(&app, &proxy, &user_posts(1)).await;
    assert_page_len(&page, 1, &user_posts(1));
    let (page, user_500) = measure(&app, &proxy, &user_posts(500)).await;
    assert_page_len(&page, 500, &user_posts(500));
    println!("FIGURE statements: GET /users/{{id}}/posts?limit=1 {user_1}, ?limit=500 {user_500}");
    assert!(user_1 >= 1, "no statement was captured for a user's posts");
    assert!(
        user_500 <= user_1 && user_500 <= MAX_STATEMENTS,
        "GET /users/{{id}}/posts: {user_500} statements for 500 posts, {user_1} for 1"
    );

    // An empty page may take the second statement: it must tell "no posts" from "no
    // user". So may a missing user's 404, and one post with its author.
    let others = [
        ("GET /users/{id}/posts of a user with none", &empty, 200),
        ("GET /users/{id}/posts of no user", &missing, 404),
        ("GET /posts/{id}", &one_post, 200),
    ];
    for (what, path, status) in others {
        let (body, count) = measure(&app, &proxy, path).await;
        println!("FIGURE statements: {what} {count}");
        if status == 200 {
            assert!(
                body.is_array() || body["author"].is_object(),
                "{what}: {body}"
            );
        } else {
            assert_eq!(body["status"], status, "{what}: {body}");
        }
        assert!(
            count <= MAX_STATEMENTS,
            "{what}: {count} statements (at most {MAX_STATEMENTS})"
        );
    }

    // Writes too: a post is one insert (the foreign key checks the author), a delete
    // one delete. Their connections are warm: the reads above used every one.
    let (mut most_to_create, mut most_to_delete) = (0, 0);
    for run in 0..RUNS {
        let body = json!({"title": format!("Counted {run}"), "body": ""});
        let path = format!("/users/{quiet}/posts");
        let (created, create_count) = counted(&proxy, app.post_json(&path, &body)).await;
        created.assert_status(201);
        let post_path = format!("/posts/{}", created.json()["id"]);
        let (deleted, delete_count) = counted(&proxy, app.delete(&post_path)).await;
        deleted.assert_status(204);
        most_to_create = most_to_create.max(create_count);
        most_to_delete = most_to_delete.max(delete_count);
    }
    println!(
        "FIGURE statements: POST /users/{{id}}/posts {most_to_create}, DELETE /posts/{{id}} {most_to_delete}"
    );
    assert!(
        most_to_create <= MAX_STATEMENTS && most_to_delete <= MAX_STATEMENTS,
        "a post written in {most_to_create} statements, deleted in {most_to_delete} (at most \
         {MAX_STATEMENTS})"
    );
}

/// The contract's bound on the statements of a batch create.
const MAX_BATCH_STATEMENTS: usize = 4;

/// A batch of `count` new users whose emails start with `tag`; with `repeat`, its last
/// entry's email is that one instead (taken: a 409).
fn user_batch(tag: &str, count: usize, repeat: Option<&str>) -> Value {
    let mut users: Vec<Value> = (0..count)
        .map(|i| json!({"name": format!("Batch {i}"), "email": format!("{tag}-{i}@example.com")}))
        .collect();
    if let (Some(email), Some(last)) = (repeat, users.last_mut()) {
        last["email"] = json!(email);
    }
    json!({ "users": users })
}

/// `POST /users/batch` of 1 user and of 100 send at most 4 statements each, the batch
/// of 100 no more than the batch of 1; so does a batch of 100 refused with 409. Printed
/// as a `FIGURE statements ...` line.
pub(super) async fn batches_cost_at_most_four_statements<S, F>(connect: F)
where
    S: UserStore,
    F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
{
    let (app, proxy) = TestApp::spawn_capturing(connect).await;
    let taken = app.create_user("Taken", "taken@example.com").await;
    warm_pool(&app, &[format!("/users/{}", taken["id"])]).await;
    let (mut one, mut hundred, mut refused) = (0, 0, 0);
    for run in 0..RUNS {
        let (created, count) = counted(
            &proxy,
            app.post_json("/users/batch", &user_batch(&format!("one{run}"), 1, None)),
        )
        .await;
        created.assert_status(201);
        one = one.max(count);
        let body = user_batch(&format!("hundred{run}"), 100, None);
        let (created, count) = counted(&proxy, app.post_json("/users/batch", &body)).await;
        created.assert_status(201);
        assert_eq!(created.json()["users"].as_array().map(Vec::len), Some(100));
        hundred = hundred.max(count);
    }
    for run in 0..RUNS {
        let body = user_batch(&format!("refused{run}"), 100, Some("TAKEN@example.com"));
        let (answer, count) = counted(&proxy, app.post_json("/users/batch", &body)).await;
        answer.assert_status(409);
        refused = refused.max(count);
    }
    println!(
        "FIGURE statements: POST /users/batch of 1 {one}, of 100 {hundred}, refused (409) {refused}"
    );
    assert!(one >= 1, "no statement was captured for a batch");
    assert!(
        one <= MAX_BATCH_STATEMENTS && hundred <= MAX_BATCH_STATEMENTS && hundred <= one,
        "a batch of 1 in {one} statements, of 100 in {hundred} (at most {MAX_BATCH_STATEMENTS}, \
         and no more for a longer batch: one insert per row?)"
    );
    assert!(
        refused <= MAX_BATCH_STATEMENTS,
        "a refused batch of 100 in {refused} statements (at most {MAX_BATCH_STATEMENTS})"
    );
}
