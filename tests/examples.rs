//! Runs the lecture's example programs and checks that they print what their docs say.
//!
//! `cargo test` builds every example of this package before it runs any test (examples
//! are built, not run, by default), so the binaries are in `target/<profile>/examples/`,
//! next to the `deps/` folder that holds this test. The tests run those binaries,
//! rather than `cargo run --example`, which would start a second cargo inside the
//! first one. If a binary is missing or older than its source (after
//! `cargo test --test examples` alone, say), the test says so and how to rebuild.
//!
//! Timings are checked as ratios with wide margins, never as tight absolute numbers:
//! the machines that run these tests are small and shared.

// Test code: a panic with a message is how a failed expectation is reported, in the
// helpers too (clippy.toml allows unwrap/expect only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret as _;
use serde_json::Value;
use testkit::TestDb;
use users_course::outputs::{example_binary, run_example};

/// The built binary of example `name`, checked to be newer than its source.
fn example(name: &str) -> PathBuf {
    example_binary(name).unwrap_or_else(|err| panic!("{err}"))
}

/// Runs an example to completion and returns its output; fails on a non-zero exit.
fn run(name: &str, command: &mut Command) -> Output {
    run_example(name, command).unwrap_or_else(|err| panic!("{err}"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// The number before ` s` at the end of the line that starts with `prefix`.
fn seconds_after(text: &str, prefix: &str) -> f64 {
    let line = text
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"));
    line.split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|pair| pair[1] == "s")
        .find_map(|pair| pair[0].parse().ok())
        .unwrap_or_else(|| panic!("no `N.NN s` in {line:?}"))
}

#[test]
fn hello_async_greets_once_after_one_second() {
    let started = Instant::now();
    let output = run("hello_async", &mut Command::new(example("hello_async")));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    // The future exists before anything ran...
    assert!(lines[0].starts_with("called greet() after 0.0"), "{text}");
    // ...the dropped one never greets, so there is exactly one greeting...
    assert_eq!(lines[1], "Hello Async!", "{text}");
    assert_eq!(text.matches("Hello Async!").count(), 1, "{text}");
    // ...and awaiting took the one second of the sleep.
    let awaited = seconds_after(&text, "awaited greet() after");
    assert!((0.99..5.0).contains(&awaited), "{text}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[test]
fn concurrent_tasks_take_one_second_where_sequential_takes_three() {
    let output = run(
        "concurrent_tasks",
        &mut Command::new(example("concurrent_tasks")),
    );
    let text = stdout(&output);
    let sequential = seconds_after(&text, "one after another");
    let joined = seconds_after(&text, "concurrently with tokio::join!");
    let join_set = seconds_after(&text, "concurrently as tasks in a JoinSet");
    // A sleep never ends early: three in a row take at least three seconds.
    assert!(sequential >= 2.99, "{text}");
    for concurrent in [joined, join_set] {
        assert!(concurrent >= 0.99, "{text}");
        // Ideally 3x; 2x leaves a wide margin for a busy machine.
        assert!(sequential / concurrent >= 2.0, "{text}");
    }
}

#[test]
fn blocking_pitfall_shows_the_blocking_handler_several_times_slower() {
    let output = run(
        "blocking_pitfall",
        &mut Command::new(example("blocking_pitfall")),
    );
    let text = stdout(&output);
    let blocking = seconds_after(&text, "GET /std-sleep");
    let sleeping = seconds_after(&text, "GET /tokio-sleep");
    let offloaded = seconds_after(&text, "GET /spawn-blocking");
    // 16 requests on 2 blocked threads need at least 8 rounds of one second.
    assert!(blocking >= 7.9, "{text}");
    // Ideally 8x; 3x leaves a wide margin for a busy machine.
    assert!(blocking / sleeping >= 3.0, "{text}");
    assert!(blocking / offloaded >= 3.0, "{text}");
    assert!(text.contains("slower than tokio::time::sleep"), "{text}");
}

/// Kills the server started by a test when the test ends, even if it panicked.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn async_endpoint_answers_after_one_second_and_serves_requests_concurrently() {
    let mut server = KillOnDrop(
        Command::new(example("async_endpoint"))
            .env("BIND_ADDR", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start async_endpoint"),
    );
    // The first line says where it listens: "listening on http://127.0.0.1:PORT/async-example".
    let stdout = server.0.stdout.take().expect("piped stdout");
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(30), first_line)
        .await
        .expect("async_endpoint printed no address within 30 s")
        .expect("reader task")
        .expect("read stdout");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    let client = reqwest::Client::new();
    let started = Instant::now();
    let response = client.get(&url).send().await.expect("GET /async-example");
    let one = started.elapsed();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body, serde_json::json!({"message": "Async Response"}));
    assert!(one >= Duration::from_millis(990), "{one:?}");

    // Ten at once: about one second in all, where one after another would take ten.
    let started = Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..10 {
        requests.spawn(client.get(&url).send());
    }
    while let Some(response) = requests.join_next().await {
        let response = response.expect("request task").expect("GET /async-example");
        assert_eq!(response.status(), 200);
    }
    let ten = started.elapsed();
    assert!(
        ten < Duration::from_secs(5),
        "10 concurrent requests took {ten:?}"
    );
}

/// The three `fetch_users_*` examples, one per tier.
const FETCH_EXAMPLES: [&str; 3] = ["fetch_users_raw", "fetch_users_sqlx", "fetch_users_orm"];

#[tokio::test]
async fn fetch_users_examples_print_every_row_as_json_and_agree() {
    let db = TestDb::create().await;
    // tier-raw's start-up applies the schema, as any tier server would.
    let store = tier_raw::connect(db.config())
        .await
        .expect("apply the schema");
    drop(store);
    let client = db.connect().await;
    client
        .batch_execute(
            "INSERT INTO users (name, email) VALUES \
             ('Ada Lovelace', 'Ada@Example.com'), ('Alan Turing', 'alan@example.com')",
        )
        .await
        .expect("insert two users");
    let url = db.config().database.url().expose_secret().to_owned();

    let mut outputs = Vec::new();
    for name in FETCH_EXAMPLES {
        let binary = example(name);
        let url = url.clone();
        // spawn_blocking: the example takes a moment, and this runtime has one thread.
        let output = tokio::task::spawn_blocking(move || {
            run(name, Command::new(binary).env("DATABASE_URL", url))
        });
        let output = output.await.expect("runner task");
        let text = stdout(&output);
        let rows: Vec<Value> = text
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("{name}: {line:?} is not JSON: {err}"))
            })
            .collect();
        assert_eq!(rows.len(), 2, "{name}:\n{text}");
        assert_eq!(rows[0]["name"], "Ada Lovelace", "{name}");
        assert_eq!(rows[0]["email"], "Ada@Example.com", "{name}");
        assert_eq!(rows[1]["name"], "Alan Turing", "{name}");
        for row in &rows {
            assert_eq!(row.as_object().map(|o| o.len()), Some(4), "{name}: {row}");
            let created_at = row["created_at"].as_str().expect("created_at is a string");
            assert!(
                created_at.ends_with('Z') && created_at.len() == 27,
                "{name}: {created_at}"
            );
        }
        // The summary goes to standard error, and shows the database without the password.
        let summary = String::from_utf8_lossy(&output.stderr);
        let expected = format!("fetched 2 users from {}\n", db.config().database);
        assert!(summary.ends_with(&expected), "{name}: {summary}");
        outputs.push((name, text));
    }
    // Same rows, same JSON, byte for byte, whichever tier read them.
    for (name, text) in &outputs[1..] {
        assert_eq!(text, &outputs[0].1, "{name} and {} differ", outputs[0].0);
    }
}

/// The N+1 lesson, counted on the wire: listing 100 posts with their authors, the naive
/// loop sends 1 + 100 statements in every tier, a join sends 1, SeaORM's loader 2.
#[tokio::test]
async fn n_plus_one_counts_one_plus_n_statements_for_the_loop_and_a_constant_otherwise() {
    // The example makes its own database on the tests' server, and this test drops it.
    let server = testkit::admin_database();
    let url = server.url().expose_secret().to_owned();
    let binary = example("n_plus_one");
    let output = tokio::task::spawn_blocking(move || {
        run(
            "n_plus_one",
            Command::new(binary).arg("--quick").env("DATABASE_URL", url),
        )
    });
    let output = output.await.expect("runner task");
    let text = stdout(&output);

    // "tier-raw   naive loop   101 statements   101 round trips   12.1 ms"
    let figures = |tier: &str, way: &str| -> (u64, f64) {
        let line = text
            .lines()
            .find(|line| {
                line.strip_prefix(tier)
                    .is_some_and(|rest| rest.trim_start().starts_with(way))
            })
            .unwrap_or_else(|| panic!("no line for {tier} {way} in:\n{text}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let before = |word: &str| {
            let at = words.iter().position(|w| *w == word).expect(word);
            words[at - 1].parse::<f64>().expect("a number")
        };
        (before("statements") as u64, before("ms"))
    };
    assert_eq!(text.lines().count(), 7, "{text}");
    let constant_ways = [
        ("tier-raw", "join", 1),
        ("tier-sqlx", "join", 1),
        ("tier-orm", "find_also_related", 1),
        ("tier-orm", "load_one", 2),
    ];
    for (tier, way, expected) in constant_ways {
        let (statements, ms) = figures(tier, way);
        assert_eq!(statements, expected, "{tier} {way}:\n{text}");
        let (naive, naive_ms) = figures(tier, "naive loop");
        assert_eq!(naive, 101, "{tier} naive loop:\n{text}");
        // 101 round trips against one or two: ideally tens of times slower; 2x leaves
        // a wide margin for a busy machine.
        assert!(
            naive_ms / ms >= 2.0,
            "{tier}: {naive_ms} ms against {way}'s {ms}:\n{text}"
        );
    }

    let (admin, connection) =
        tokio_postgres::connect(server.url().expose_secret(), tokio_postgres::NoTls)
            .await
            .expect("connect to the tests' server");
    tokio::spawn(connection);
    admin
        .batch_execute("DROP DATABASE IF EXISTS n_plus_one_demo WITH (FORCE)")
        .await
        .expect("drop the example's database");
}

/// The line of `text` that starts with `prefix`.
fn line_starting<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
}

/// Runs example `name` against the tests' server (its `postgres` database, or `url`).
async fn run_against(name: &'static str, url: Option<String>) -> String {
    let url = url.unwrap_or_else(|| testkit::admin_database().url().expose_secret().to_owned());
    let binary = example(name);
    // spawn_blocking: the example takes seconds, and this runtime has one thread.
    let output = tokio::task::spawn_blocking(move || {
        run(name, Command::new(binary).env("DATABASE_URL", url))
    });
    stdout(&output.await.expect("runner task"))
}

/// Commit, rollback and drop in every tier's library, read from another connection; sqlx's
/// queued rollback on a bare connection; sqlx 0.9.0's cancelled `begin()` (#4393).
#[tokio::test]
async fn transactions_commit_roll_back_and_drop_as_documented() {
    let db = TestDb::create().await;
    let url = db.config().database.url().expose_secret().to_owned();
    let text = run_against("transactions", Some(url)).await;
    // "sqlx committed: 1 row seen by another connection"
    let seen = |prefix: &str| -> (i64, &str) {
        let line = line_starting(&text, &format!("{prefix}: "));
        let rest = &line[prefix.len() + 2..];
        let rows = rest.split_whitespace().next().unwrap().parse().unwrap();
        (rows, line)
    };
    for driver in ["tokio-postgres", "sqlx", "sea-orm"] {
        assert_eq!(seen(&format!("{driver} committed")).0, 1, "{text}");
        let (rows, line) = seen(&format!("{driver} rolled back"));
        assert_eq!(rows, 0, "{text}");
        assert!(line.ends_with("; error 23505"), "{line}");
        let (rows, line) = seen(&format!("{driver} dropped"));
        assert_eq!(rows, 0, "{text}");
        // The ROLLBACK reached the server: at once, or through the pool's return task.
        assert!(line.contains("; session idle "), "{line}");
    }
    // On a connection of its own, sqlx's ROLLBACK waits for the next use, locks held.
    let (rows, line) = seen("sqlx PgConnection dropped");
    assert_eq!(rows, 0, "{text}");
    assert!(line.contains("session still idle in transaction"), "{line}");
    assert!(line.ends_with("another session: error 55P03"), "{line}");
    let line = line_starting(&text, "sqlx PgConnection next use");
    assert!(line.contains("; session idle "), "{line}");
    // #4393: the insert succeeded, yet nobody else sees it. If this fails after a sqlx
    // upgrade, the bug is fixed: update the example's docs and this test.
    let (rows, line) = seen("sqlx begin() cancelled, then an autocommit insert");
    assert_eq!(rows, 0, "{text}");
    assert!(line.contains("the insert said 1 row inserted"), "{line}");
    assert!(line.ends_with("session idle in transaction"), "{line}");
    // The guard: begin() in a task always completes, its transaction rolls back.
    let (rows, line) = seen("sqlx begin() in a task cancelled, then an autocommit insert");
    assert_eq!(rows, 1, "{text}");
    assert!(line.ends_with("session idle"), "{line}");
    // The scratch table is gone.
    let client = db.connect().await;
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'example_transactions_%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the example left its table behind");
}

/// A timeout drops the future, not the query: it stays active until tokio-postgres's
/// cancel request, sqlx's statement_timeout, or the server's own checks stop it.
#[tokio::test]
async fn cancel_query_shows_the_query_running_on_until_something_stops_it() {
    let text = run_against("cancel_query", None).await;
    for driver in ["tokio-postgres", "sqlx"] {
        let prefix = format!("{driver}: timeout fired after");
        let fired = seconds_after(&text, &prefix);
        assert!((0.99..5.0).contains(&fired), "{text}");
        let line = line_starting(&text, &prefix);
        assert!(line.ends_with("the query is active"), "{line}");
    }
    // The cancel request stops it long before the 10 s sleep would end by itself.
    let cancelled = seconds_after(&text, "tokio-postgres: cancel request sent");
    assert!(cancelled < 4.0, "{text}");
    line_starting(
        &text,
        "tokio-postgres: the next query on the connection: ok",
    );
    // statement_timeout (3 s) stops sqlx's, counted from the start.
    let stopped = seconds_after(&text, "sqlx: no cancel request");
    assert!((2.9..8.0).contains(&stopped), "{text}");
    let line = line_starting(&text, "sqlx: the next query on the connection");
    assert!(line.contains("error 57014"), "{line}");
    assert!(line.ends_with("the one after: ok"), "{line}");
    // Closing the connection does not stop it either...
    let line = line_starting(&text, "sqlx closed: connection closed");
    assert!(line.ends_with("the query is active"), "{line}");
    // ...until pg_cancel_backend, or the server checking for its client.
    let cancelled = seconds_after(&text, "sqlx closed: pg_cancel_backend");
    assert!(cancelled < 4.0, "{text}");
    let noticed = seconds_after(&text, "sqlx closed with client_connection_check_interval");
    assert!(noticed < 4.0, "{text}");
}

/// A million rows: streamed, resident memory barely moves; into a Vec, it grows by
/// hundreds of MB.
#[tokio::test]
async fn stream_rows_stays_flat_where_a_vec_grows() {
    let text = run_against("stream_rows", None).await;
    // "sqlx fetch, streamed: 1000000 rows in 4.21 s; rss before 7.8 MB, peak +0.1 MB, ..."
    let peak = |prefix: &str| -> f64 {
        let line = line_starting(&text, prefix);
        assert!(line.contains(": 1000000 rows in "), "{line}");
        let (_, rest) = line.split_once("peak ").unwrap();
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    let streamed = [
        peak("tokio-postgres query_raw, streamed"),
        peak("sqlx fetch, streamed"),
    ];
    let collected = [
        peak("tokio-postgres query, into a Vec"),
        peak("sqlx fetch_all, into a Vec"),
    ];
    for stream in streamed {
        assert!(stream < 20.0, "{text}");
    }
    for vec in collected {
        // At least three times the streams' bound: a million rows take far more.
        assert!(vec > 60.0, "{text}");
    }
}
