//! The lecture's "type safety" row, shown rather than claimed.
//!
//! The same three mistakes in each tier: a misspelled column, a wrong Rust type, and the
//! one relations invite, a LEFT JOIN's author read as if it were always there (the
//! columns of the joined `users` are NULL for a post without a matching user, however
//! `NOT NULL` they are in their table):
//!
//! | tier | a misspelled column | a wrong Rust type | a LEFT JOIN's author as non-null |
//! | --- | --- | --- | --- |
//! | raw (tokio-postgres) | compiles; the query fails at run time | compiles; `try_get` fails at run time | compiles; `try_get` fails at run time on a NULL |
//! | sqlx (`query!`, `query_as!`) | compile error, PostgreSQL's own message | compile error (E0308) | compile error (E0277): the column is an `Option<String>` |
//! | SeaORM (entity) | compile error: no such `Column` variant (E0599) | compile error (E0308) | compile error (E0308): `find_also_related` yields `Option<user::Model>` |
//!
//! The raw tier's run-time failures are asserted below. The compile errors are
//! `trybuild` cases in `tests/compile-fail/`, each with the `.stderr` the compiler must
//! print. sqlx's macros normally read the committed `.sqlx/` cache (`SQLX_OFFLINE=true`
//! in `.cargo/config.toml`), and a query that is not in it fails with "no cached data",
//! which would prove nothing. So the cases are compiled *online*: this test creates a
//! fresh database, applies the schema, and runs trybuild in a child process whose
//! environment says `SQLX_OFFLINE=false` and `DATABASE_URL=<that database>` (a test may
//! not change its own environment: `std::env::set_var` is `unsafe`, and the workspace
//! forbids `unsafe`). The macros then ask PostgreSQL to describe each query.
//!
//! Two sqlx cases rest on what the server itself answers, and live in
//! `tests/compile-fail-online/`. A misspelled column inside the SQL fails with the
//! server's own message, whose wording and reported source line depend on the
//! PostgreSQL version and locale. Its expected output is a template: the test first
//! sends the same SQL to the server through tokio-postgres, and fills in what the server
//! said, so the check is that sqlx's compile error is exactly the server's verdict. The
//! LEFT JOIN's nullable author is inferred from the server's plan (`EXPLAIN`), since the
//! table says `users.name` is `NOT NULL`; its expected output is exact but for the
//! case's path (trybuild shows a case outside `tests/` by its absolute path).
//!
//! The first run builds the dependencies once more for trybuild, in
//! `target/tests/trybuild/` (several minutes on two cores); later runs reuse them.
//!
//! To accept new compiler messages after a toolchain or library upgrade, review them
//! and run `TRYBUILD=overwrite cargo test -p users-course --test type_safety` (the
//! online cases' templates, `tests/compile-fail-online/*.stderr.in`, are edited by
//! hand: `$CASE_PATH` for the case's path, `$POSTGRES_ERROR` for the server's message).

// Test code: a panic with a message is how a failed expectation is reported, in the
// helpers too (clippy.toml allows unwrap/expect only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use secrecy::ExposeSecret as _;
use testkit::TestDb;
use tokio_postgres::error::SqlState;

/// Set in the child process that runs trybuild, to the server's error for the
/// misspelled SQL.
const CHILD: &str = "USERS_COURSE_TRYBUILD_CHILD";

/// A fresh database with the schema (applied by tier-raw, as at start-up) and one user,
/// and a plain tokio-postgres connection to it. Keep the `TestDb`: dropping it drops
/// the database.
async fn database_with_one_user() -> (TestDb, tokio_postgres::Client) {
    let db = TestDb::create().await;
    drop(
        tier_raw::connect(db.config())
            .await
            .expect("apply the schema"),
    );
    let client = db.connect().await;
    client
        .batch_execute("INSERT INTO users (name, email) VALUES ('Ada', 'ada@example.com')")
        .await
        .expect("insert a user");
    (db, client)
}

#[tokio::test]
async fn raw_tier_misspelled_column_compiles_and_fails_at_run_time() {
    let (_db, client) = database_with_one_user().await;

    // In the SQL: the server refuses the statement when it is prepared.
    let err = client
        .query("SELECT id, emial FROM users", &[])
        .await
        .expect_err("a misspelled column in the SQL");
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_COLUMN));
    let db_error = err.as_db_error().expect("a server error");
    // `column "emial" does not exist` in English; the server's locale decides the words.
    assert!(
        db_error.message().contains("emial"),
        "{}",
        db_error.message()
    );

    // In the mapping: the row has no such column, and `try_get` says so.
    let row = client
        .query_one("SELECT id, name, email, created_at FROM users", &[])
        .await
        .expect("a correct query");
    let err = row
        .try_get::<_, String>("emial")
        .expect_err("a misspelled column in the mapping");
    assert_eq!(err.to_string(), "invalid column `emial`");
}

#[tokio::test]
async fn raw_tier_wrong_rust_type_compiles_and_fails_at_run_time() {
    let (_db, client) = database_with_one_user().await;
    let row = client
        .query_one("SELECT id, name, email, created_at FROM users", &[])
        .await
        .expect("a correct query");

    // `name` is text: asking for an i32 compiles, and fails when the row is read.
    let err = row.try_get::<_, i32>("name").expect_err("text read as i32");
    assert_eq!(
        chain(&err),
        "error deserializing column 1: \
         cannot convert between the Rust type `i32` and the Postgres type `text`"
    );

    // Binding a parameter of the wrong type fails the same way, before the query runs.
    let err = client
        .query("SELECT name FROM users WHERE id = $1", &[&"1"])
        .await
        .expect_err("a string bound to a bigint parameter");
    assert_eq!(
        chain(&err),
        "error serializing parameter 0: \
         cannot convert between the Rust type `&str` and the Postgres type `int8`"
    );
}

#[tokio::test]
async fn raw_tier_left_join_author_as_non_null_compiles_and_fails_at_run_time() {
    let (_db, client) = database_with_one_user().await;
    client
        .batch_execute(
            "INSERT INTO posts (user_id, title, body) SELECT id, 'Hello', 'A first post' FROM users",
        )
        .await
        .expect("insert a post");
    // The foreign key gives every post an author, so the join below is off by one on
    // purpose: it finds no user for the post, as a LEFT JOIN finds none for any row
    // without a match, and fills the user's columns with NULL.
    let row = client
        .query_one(
            "SELECT p.id, u.name AS author_name \
             FROM posts p LEFT JOIN users u ON u.id = p.user_id + 1",
            &[],
        )
        .await
        .expect("a correct query");

    // `users.name` is `NOT NULL` in its table, and a `String` is asked for: that
    // compiles, and fails on the first row without an author.
    let err = row
        .try_get::<_, String>("author_name")
        .expect_err("a missing author read as a String");
    assert_eq!(
        chain(&err),
        "error deserializing column 1: a Postgres value was `NULL`"
    );
    // What the other two tiers make you write: the author may be absent.
    let author_name: Option<String> = row.try_get("author_name").expect("an Option");
    assert_eq!(author_name, None);
}

/// The error and its causes, the way `anyhow`'s `{:#}` prints them.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Where the case that needs the server's own message is assembled (git-ignored).
const ONLINE_DIR: &str = "target/type-safety";

#[test]
fn checked_queries_and_entities_reject_the_same_mistakes_at_compile_time() {
    if let Some(server_error) = std::env::var_os(CHILD) {
        // The child: the environment is set up, run the cases.
        let cases = trybuild::TestCases::new();
        cases.compile_fail("tests/compile-fail/*.rs");
        for case in online_cases(&server_error.to_string_lossy()) {
            cases.compile_fail(case);
        }
        return;
    }
    // The parent: a database with the schema for sqlx's macros to ask, then the child.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (db, server_error) = runtime.block_on(async {
        let db = TestDb::create().await;
        drop(
            tier_raw::connect(db.config())
                .await
                .expect("apply the schema"),
        );
        // What this server answers to the misspelled query, asked without sqlx.
        let err = db
            .connect()
            .await
            .query(MISSPELLED_SQL, &[])
            .await
            .expect_err("the misspelled query fails");
        let db_error = err.as_db_error().expect("a server error");
        assert_eq!(db_error.code(), &SqlState::UNDEFINED_COLUMN);
        // sqlx shows a server error as its message and the server's source line.
        let server_error = match db_error.line() {
            Some(line) => format!("{} at line {line}", db_error.message()),
            None => db_error.message().to_owned(),
        };
        (db, server_error)
    });
    let status = Command::new(std::env::current_exe().expect("the test's own path"))
        .args([
            "--exact",
            "checked_queries_and_entities_reject_the_same_mistakes_at_compile_time",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, server_error)
        .env("SQLX_OFFLINE", "false")
        .env("DATABASE_URL", db.config().database.url().expose_secret())
        .status()
        .expect("start the trybuild child");
    drop(db);
    assert!(
        status.success(),
        "the compile-fail cases did not fail as expected (see the output above)"
    );
}

/// The misspelled query of `tests/compile-fail-online/sqlx_misspelled_column.rs`.
const MISSPELLED_SQL: &str = "SELECT id, emial FROM users ORDER BY id";

/// Copies every case of `tests/compile-fail-online/` (`NAME.rs`, with its template
/// `NAME.stderr.in`) to [`ONLINE_DIR`], each with its expected output filled in:
/// `$CASE_PATH` with where the copy is (trybuild shows a case outside `tests/` by its
/// absolute path), and `$POSTGRES_ERROR` with what the server itself said about the
/// misspelled SQL. The server's wording, and the line of its own source code it
/// reports, differ between PostgreSQL versions and locales; the proof is that sqlx's
/// compile error is exactly the server's verdict.
fn online_cases(server_error: &str) -> Vec<PathBuf> {
    let root = users_course::anchors::workspace_root();
    let from = root.join("tests/compile-fail-online");
    let to = root.join(ONLINE_DIR);
    std::fs::create_dir_all(&to).expect("create target/type-safety");
    let misspelled = std::fs::read_to_string(from.join("sqlx_misspelled_column.rs"))
        .expect("the misspelled-column case");
    assert!(
        misspelled.contains(MISSPELLED_SQL),
        "the case must run {MISSPELLED_SQL:?}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&from)
        .expect("list tests/compile-fail-online")
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            path.file_stem()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| {
            let source = std::fs::read_to_string(from.join(format!("{name}.rs")))
                .unwrap_or_else(|err| panic!("read the case {name}.rs: {err}"));
            let expected = std::fs::read_to_string(from.join(format!("{name}.stderr.in")))
                .unwrap_or_else(|err| panic!("read the expected output {name}.stderr.in: {err}"));
            let case = to.join(format!("{name}.rs"));
            std::fs::write(&case, source).expect("write case");
            let expected = expected
                .replace("$POSTGRES_ERROR", server_error)
                .replace("$CASE_PATH", &case.to_string_lossy());
            std::fs::write(to.join(format!("{name}.stderr")), expected)
                .expect("write expected output");
            case
        })
        .collect()
}
