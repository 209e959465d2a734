//! `DB_PREPARED_STATEMENTS=false`, proven on the wire: no named statement, and what
//! each request then costs in round trips.
//!
//! A pooler in transaction mode (PgBouncer before 1.21) may run each transaction on
//! another server connection, so a statement prepared under a name on one is missing
//! on the next. With the setting off a tier must send every statement *unnamed*: its
//! `Parse` message names the empty statement `""`, which the next Parse replaces.
//! This case serves a script of requests (every route that reaches the database:
//! create, read, list, update, delete, posts, a batch, an export of more than one
//! batch) with the setting on and then off, through a capturing
//! [`FaultProxy`](crate::proxy::FaultProxy), and counts per request:
//!
//! * named `Parse` messages: with the setting off there must be none. With it on
//!   there must be some (the statements are prepared the first time each runs), which
//!   shows the count can see them;
//! * round trips: each `Sync` and each simple `Query` asks the server for a
//!   `ReadyForQuery`, and the driver waits for it before it goes on. sqlx's ping of a
//!   connection it takes back (a lone Sync) is a round trip too, made after the
//!   response: each request is given a moment to settle before it is counted.
//!
//! A tier whose library cannot send unnamed statements must refuse the setting at
//! start-up with an error that says so; the case then checks that. (All three tiers
//! send them now; tier-orm runs SeaORM's statements on a `ConnectionTrait` of its own.)
//!
//! Requests are counted after every pooled connection is open; start-up (the
//! migrations, which a pooler sees too) is counted apart, and must be unnamed as well.

use std::time::Duration;

use serde_json::{Value, json};
use users_api::UserStore;
use users_api::config::Config;
use users_api::store::EXPORT_BATCH_ROWS;

use crate::proxy::FaultProxy;
use crate::{TEST_POOL_SIZE, TestApp, TestDb, TestResponse};

/// Time for a request's last messages (sqlx's ping after the connection comes back)
/// to leave before it is counted.
const SETTLE: Duration = Duration::from_millis(150);

/// Users seeded before the export, so that it reads more than one batch.
const EXPORTED: i64 = EXPORT_BATCH_ROWS * 2 + 500;

/// What one request sent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Cost {
    named_parses: usize,
    round_trips: usize,
}

/// Counts the messages the tier has sent so far, on every captured connection.
fn cost_so_far(proxy: &FaultProxy) -> Cost {
    let mut cost = Cost::default();
    for (kind, body) in proxy.client_messages() {
        match kind {
            // Parse's body starts with the statement's name, a C string: `""` is unnamed.
            b'P' if body.first().is_some_and(|byte| *byte != 0) => cost.named_parses += 1,
            b'S' | b'Q' => cost.round_trips += 1,
            _ => {}
        }
    }
    cost
}

/// `response`, once the request's last messages have had [`SETTLE`] to leave.
async fn settled(response: TestResponse) -> TestResponse {
    tokio::time::sleep(SETTLE).await;
    response
}

/// Serves the script with `DB_PREPARED_STATEMENTS` at `prepared`; returns each
/// request's name and cost, and the named Parses of start-up and warming.
async fn serve_script<S, C>(connect: C, prepared: bool) -> (Vec<(&'static str, Cost)>, usize)
where
    S: UserStore,
    C: AsyncFnOnce(&Config) -> anyhow::Result<S> + Copy,
{
    let configured = async move |config: &Config| {
        let config = Config {
            prepared_statements: prepared,
            ..config.clone()
        };
        connect(&config).await
    };
    let (app, proxy) = TestApp::spawn_capturing(configured).await;
    let seed = app.db.connect().await;
    seed.batch_execute(&format!(
        "INSERT INTO users (name, email) SELECT 'Seeded ' || n, 'seeded' || n || '@example.com' \
         FROM generate_series(1, {EXPORTED}) AS n"
    ))
    .await
    .expect("seed users");
    // Every pooled connection opened (their set-up is not a request's cost).
    let requests = (0..2 * TEST_POOL_SIZE).map(|_| app.get("/users?limit=1"));
    for response in futures::future::join_all(requests).await {
        response.assert_status(200);
    }
    tokio::time::sleep(SETTLE).await;
    let start_up = cost_so_far(&proxy).named_parses;

    let mut costs = Vec::new();
    let mut before = cost_so_far(&proxy);
    let mut record = |name: &'static str, costs: &mut Vec<(&'static str, Cost)>| {
        let now = cost_so_far(&proxy);
        costs.push((
            name,
            Cost {
                named_parses: now.named_parses - before.named_parses,
                round_trips: now.round_trips - before.round_trips,
            },
        ));
        before = now;
    };

    let user = settled(
        app.post_json(
            "/users",
            &json!({"name": "Ada", "email": "ada@example.com"}),
        )
        .await,
    )
    .await;
    user.assert_status(201);
    record("POST /users", &mut costs);
    let id = user.json()["id"].as_i64().expect("an id");
    settled(app.get(&format!("/users/{id}")).await)
        .await
        .assert_status(200);
    record("GET /users/{id}", &mut costs);
    settled(app.get("/users?limit=50").await)
        .await
        .assert_status(200);
    record("GET /users", &mut costs);
    let patch = json!({"name": "Ada L."});
    settled(app.patch_json(&format!("/users/{id}"), &patch).await)
        .await
        .assert_status(200);
    record("PATCH /users/{id}", &mut costs);
    let post = settled(
        app.post_json(
            &format!("/users/{id}/posts"),
            &json!({"title": "T", "body": "B"}),
        )
        .await,
    )
    .await;
    post.assert_status(201);
    record("POST /users/{id}/posts", &mut costs);
    let post_id = post.json()["id"].as_i64().expect("a post id");
    settled(app.get(&format!("/users/{id}/posts")).await)
        .await
        .assert_status(200);
    record("GET /users/{id}/posts", &mut costs);
    let missing = id + 1_000_000;
    let none = settled(app.get(&format!("/users/{missing}/posts")).await).await;
    none.assert_status(404);
    record("GET /users/{id}/posts (404)", &mut costs);
    settled(app.get("/posts?limit=50").await)
        .await
        .assert_status(200);
    record("GET /posts", &mut costs);
    settled(app.get(&format!("/posts/{post_id}")).await)
        .await
        .assert_status(200);
    record("GET /posts/{id}", &mut costs);
    settled(app.delete(&format!("/posts/{post_id}")).await)
        .await
        .assert_status(204);
    record("DELETE /posts/{id}", &mut costs);
    let batch: Vec<Value> = (0..3)
        .map(|n| json!({"name": format!("B{n}"), "email": format!("b{n}@example.com")}))
        .collect();
    let batch = json!({ "users": batch });
    settled(app.post_json("/users/batch", &batch).await)
        .await
        .assert_status(201);
    record("POST /users/batch", &mut costs);
    settled(app.delete(&format!("/users/{id}")).await)
        .await
        .assert_status(204);
    record("DELETE /users/{id}", &mut costs);
    let export = settled(app.get("/users/export").await).await;
    export.assert_status(200);
    record("GET /users/export", &mut costs);
    let lines = export.text().lines().count() as i64;
    assert_eq!(
        lines,
        EXPORTED + 3,
        "the export's lines (seeded users and the batch)"
    );
    (costs, start_up)
}

/// With `DB_PREPARED_STATEMENTS=false` no request sends a named Parse; with it on, some
/// do. The round trips of each request in both modes are printed as `FIGURE` lines.
pub(super) async fn unnamed_statements_only_when_not_prepared<S, C>(connect: C)
where
    S: UserStore,
    C: AsyncFnOnce(&Config) -> anyhow::Result<S> + Copy,
{
    // A tier whose library cannot do it refuses the setting at start-up, saying so;
    // that refusal is what is checked then.
    let db = TestDb::create().await;
    let off = Config {
        prepared_statements: false,
        ..db.config().clone()
    };
    match connect(&off).await {
        Ok(store) => store.close().await,
        Err(err) => {
            let err = format!("{err:#}");
            println!("FIGURE DB_PREPARED_STATEMENTS=false refused at start-up: {err}");
            assert!(
                err.contains("DB_PREPARED_STATEMENTS=false") && err.contains("unnamed"),
                "a refusal must say what it refuses and why: {err}"
            );
            return;
        }
    }
    drop(db);
    let (on, on_start) = serve_script(connect, true).await;
    let (off, off_start) = serve_script(connect, false).await;
    println!(
        "FIGURE named Parse at start-up and warming: prepared {on_start}, unnamed {off_start}"
    );
    for ((name, on), (_, off)) in on.iter().zip(&off) {
        // A Prepare is a round trip of its own (Parse, Describe, Sync) in both drivers,
        // the first time a connection runs a statement; after it, the cached cost.
        println!(
            "FIGURE round trips {name}: prepared {} once cached ({} the first time), unnamed {}",
            on.round_trips - on.named_parses,
            on.round_trips,
            off.round_trips
        );
    }
    let named_on: usize = on.iter().map(|(_, cost)| cost.named_parses).sum();
    let named_off: Vec<_> = off
        .iter()
        .filter(|(_, cost)| cost.named_parses > 0)
        .collect();
    assert!(
        named_on > 0,
        "with DB_PREPARED_STATEMENTS=true no named Parse was seen: the count sees nothing"
    );
    assert_eq!(
        off_start, 0,
        "with DB_PREPARED_STATEMENTS=false start-up (the migrations) sent named statements"
    );
    assert!(
        named_off.is_empty(),
        "with DB_PREPARED_STATEMENTS=false these requests sent named statements: {named_off:?}"
    );
    assert!(
        off.iter().all(|(_, cost)| cost.round_trips >= 1),
        "a request with no round trip counted: {off:?}"
    );
}
