//! # testkit: black-box tests of a tier, against real PostgreSQL
//!
//! What a test needs, in the zero-to-production style:
//!
//! * [`TestDb`]: a freshly created database per test (from `template0`), dropped when
//!   the test ends, even when it fails.
//! * [`TestApp`]: a tier's real router served on `127.0.0.1:0` (a free port), with an
//!   HTTP client pointed at it. Tests talk HTTP to it, exactly like a user would.
//! * [`conformance`]: the contract of `API.md` as test cases, and
//!   [`conformance_suite!`], which turns every case into its own `#[test]` for a tier.
//!   Each tier's `tests/conformance.rs` is a single line calling it, so all three tiers
//!   run the same cases, and list the same number of tests.
//! * [`proxy`]: [`proxy::FaultProxy`], a TCP proxy between a tier and PostgreSQL that
//!   refuses, cuts, delays or black-holes connections on command.
//! * [`faults`], [`hostile`], [`security`]: outages, overload, shutdown, lost writes,
//!   generated hostile requests, password and SQL-injection checks, run per tier by
//!   [`fault_suite!`] from each tier's `tests/faults.rs`.
//!
//! The server under test is found through `DATABASE_URL` (default
//! `postgres://postgres:postgres@localhost:5432/users_course`, as for the tiers; `.env` is read too): its host, port, user and
//! password are used to create each test's own database. If no server answers, the
//! test fails and says how to start one. Nothing is skipped silently.
//!
//! Logs are quiet unless `TEST_LOG` is set (`TEST_LOG=1 cargo test ...`).

// This crate is test support: a panic is how it reports a failed expectation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod conformance;
pub mod faults;
pub mod hostile;
pub mod process;
pub mod proxy;
pub mod wire;
pub mod security;

use std::net::SocketAddr;
use std::sync::Once;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use users_api::config::{Config, DatabaseConfig, quote_identifier};
use users_api::error::PROBLEM_JSON;
use users_api::{UserStore, router, serve};

/// Where the tests' PostgreSQL server is when neither `DATABASE_URL` nor `.env` says:
/// the one default of every program here (the tests use its server and credentials,
/// and databases of their own on it).
pub use users_api::config::DEFAULT_DATABASE_URL;

/// Pool size of a tier under test. PostgreSQL allows 100 connections by default and
/// `cargo test` runs tests in parallel: a production-sized pool of 8 per test would
/// run out of connections as the suite grows.
pub const TEST_POOL_SIZE: usize = 3;

/// The `postgres` maintenance database of the test server: the server that
/// `DATABASE_URL` (or `.env`, or the pieces) names, found as the tiers find theirs.
pub fn admin_database() -> DatabaseConfig {
    let database = users_api::config::database_from_env()
        .unwrap_or_else(|err| panic!("DATABASE_URL for the tests is unusable: {err}"));
    database.with_database("postgres")
}

/// Connects to the maintenance database, or fails the test with instructions.
async fn admin_client() -> tokio_postgres::Client {
    let admin = admin_database();
    let connected =
        tokio_postgres::connect(admin.url().expose_secret(), tokio_postgres::NoTls).await;
    match connected {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            client
        }
        Err(err) => panic!(
            "\n\nThe tests need PostgreSQL, and none answered at {admin}: {err}\n\
             Start one, then run the tests again:\n  \
             docker compose up -d db            (from the workspace root), or\n  \
             pg_ctlcluster 15 main start        (a Debian/Ubuntu server), or\n  \
             point DATABASE_URL at any PostgreSQL 13+ server you can create databases on,\n  \
             e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test --workspace\n"
        ),
    }
}

/// A database of its own for one test, dropped when this value is dropped.
pub struct TestDb {
    config: Config,
}

impl TestDb {
    /// Creates an empty database with a unique name. The tier under test applies the
    /// schema itself when it connects, as it does in production.
    pub async fn create() -> Self {
        let name = format!("users_test_{}", uuid::Uuid::new_v4().simple());
        let client = admin_client().await;
        // From template0: CREATE DATABASE from the default template1 fails while any
        // other session (a parallel test creating its own database) is connected to it.
        let sql = format!(
            "CREATE DATABASE {} TEMPLATE template0",
            quote_identifier(&name)
        );
        client
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|err| panic!("could not create test database {name}: {err}"));
        let config = Config {
            bind_addr: "127.0.0.1:0".into(),
            database: admin_database().with_database(&name),
            pool_size: TEST_POOL_SIZE,
            log_sql: false,
            pipeline: users_api::PipelineConfig::default(),
        };
        Self { config }
    }

    /// A tier configuration that points at this database.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        self.config.database.name()
    }

    /// A fresh connection to this database (not through any tier), for tests that look
    /// at the tables directly.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let url = self.config.database.url().expose_secret().to_owned();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|err| panic!("could not connect to {}: {err}", self.name()));
        tokio::spawn(connection);
        client
    }
}

impl Drop for TestDb {
    /// Drops the database, even when the test panicked. `Drop` cannot be async, so the
    /// work runs on a short-lived thread with a runtime of its own. `WITH (FORCE)`
    /// (PostgreSQL 13+) ends connections the tier's pool still holds.
    fn drop(&mut self) {
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_identifier(self.name())
        );
        let name = self.name().to_owned();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let admin = admin_database();
                let (client, connection) =
                    tokio_postgres::connect(admin.url().expose_secret(), tokio_postgres::NoTls)
                        .await
                        .map_err(std::io::Error::other)?;
                tokio::spawn(connection);
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(std::io::Error::other)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {name}: {dropped:?}");
        }
    }
}

/// Installs a log subscriber for tests when `TEST_LOG` is set; quiet otherwise.
pub fn init_test_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            users_api::server::init_tracing();
        }
    });
}

/// A tier served on a free local port, with its own database.
pub struct TestApp {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// A client with keep-alive connections to the server.
    pub client: reqwest::Client,
    /// The test's database (dropped after the server stops).
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    /// Creates a database, connects the tier to it (`connect` is the tier's own
    /// `connect`, which applies the schema), and serves the tier's router.
    pub async fn spawn<S, F>(connect: F) -> Self
    where
        S: UserStore,
        F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
    {
        init_test_logging();
        let db = TestDb::create().await;
        let store = connect(db.config())
            .await
            .unwrap_or_else(|err| panic!("the tier could not connect to {}: {err:#}", db.name()));
        Self::serve(store, db).await
    }

    /// Serves `store` (already connected to `db`) on a free port.
    pub async fn serve<S: UserStore>(store: S, db: TestDb) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let app = router(store.clone());
        tokio::spawn(async move {
            let _ = serve(listener, app, async {
                let _ = shutdown_rx.await;
            })
            .await;
            store.close().await;
        });
        Self {
            addr,
            base_url: format!("http://{addr}"),
            client: reqwest::Client::new(),
            db,
            shutdown: Some(shutdown),
        }
    }

    /// Sends a request with an optional raw body and content type.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> TestResponse {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base_url));
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("{method} {path}: no response: {err}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("response body").to_vec();
        TestResponse {
            method,
            path: path.to_owned(),
            status,
            headers,
            body,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None, None).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> TestResponse {
        self.send(Method::DELETE, path, None, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> TestResponse {
        let bytes = serde_json::to_vec(body).expect("serialize");
        self.send(Method::POST, path, Some("application/json"), Some(bytes))
            .await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch_json(&self, path: &str, body: &Value) -> TestResponse {
        let bytes = serde_json::to_vec(body).expect("serialize");
        self.send(Method::PATCH, path, Some("application/json"), Some(bytes))
            .await
    }

    /// Creates a user and returns its JSON, failing the test unless the answer is 201.
    pub async fn create_user(&self, name: &str, email: &str) -> Value {
        let response = self
            .post_json("/users", &serde_json::json!({"name": name, "email": email}))
            .await;
        response.assert_status(201);
        response.json()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// The request's method, for failure messages.
    pub method: Method,
    /// The request's path, for failure messages.
    pub path: String,
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

/// Pieces of text that would mean an internal error leaked into a response: SQL,
/// constraint or table names, driver or ORM error text, a panic message.
pub const INTERNAL_TEXT: &[&str] = &[
    "users_email_lower_key",
    "duplicate key",
    "constraint",
    "SQLSTATE",
    "sqlx",
    "tokio_postgres",
    "tokio-postgres",
    "deadpool",
    "sea_orm",
    "SeaORM",
    "error returned from database",
    "db error",
    "relation \"",
    "panicked",
    "INSERT INTO",
    "SELECT ",
];

impl TestResponse {
    /// The body as text (lossy), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, failing the test if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "{} {}: body is not JSON ({err}): {:?}",
                self.method,
                self.path,
                self.text()
            )
        })
    }

    /// A header as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Fails the test unless the status is `status`.
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "{} {}: expected {status}, got {} with body {:?}",
            self.method,
            self.path,
            self.status,
            self.text()
        );
        self
    }

    /// Fails the test unless this is a well-formed problem+json error with `status`
    /// and no internal text; returns the body.
    pub fn assert_problem(&self, status: u16) -> Value {
        self.assert_status(status);
        assert_eq!(
            self.header("content-type"),
            Some(PROBLEM_JSON),
            "{} {}: error without problem+json",
            self.method,
            self.path
        );
        let body = self.json();
        assert_eq!(
            body["status"], status,
            "{} {}: {body}",
            self.method, self.path
        );
        assert_eq!(body["type"], "about:blank");
        assert!(
            body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "no title: {body}"
        );
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "no detail: {body}"
        );
        assert_eq!(
            body.get("errors").is_some(),
            status == 422,
            "`errors` only on 422: {body}"
        );
        self.assert_no_internal_text();
        body
    }

    /// Fails the test if the body contains any of [`INTERNAL_TEXT`].
    pub fn assert_no_internal_text(&self) {
        let text = self.text();
        for leak in INTERNAL_TEXT {
            assert!(
                !text.contains(leak),
                "{} {}: response leaks internal text {leak:?}: {text}",
                self.method,
                self.path
            );
        }
    }

    /// The `(loc, type)` pairs of a 422's `errors`, for compact assertions.
    pub fn error_locs(&self) -> Vec<(Vec<String>, String)> {
        let body = self.assert_problem(422);
        body["errors"]
            .as_array()
            .expect("errors is an array")
            .iter()
            .map(|error| {
                let loc = error["loc"]
                    .as_array()
                    .expect("loc is an array")
                    .iter()
                    .map(|part| part.as_str().expect("loc parts are strings").to_owned())
                    .collect();
                (
                    loc,
                    error["type"].as_str().expect("type is a string").to_owned(),
                )
            })
            .collect()
    }
}

/// Turns every case of [`conformance`] into its own `#[tokio::test]` for one tier.
///
/// Use it once per tier, in `tests/conformance.rs`:
///
/// ```text
/// testkit::conformance_suite!(tier_raw::connect);
/// ```
///
/// The list of cases below is the only one. `conformance_suite!(@names)` yields it as
/// a slice of names, and a unit test checks it against every `pub async fn` in
/// `conformance.rs`, so no case can be written and then silently never run.
#[macro_export]
macro_rules! conformance_suite {
    ($connect:path) => {
        $crate::conformance_suite!(@list (@test $connect));
    };
    (@names) => {
        $crate::conformance_suite! {@list (@names_of)}
    };
    (@list ($($command:tt)*)) => {
        $crate::conformance_suite! {$($command)*;
            create_returns_201_with_location_and_body,
            create_trims_name_and_email,
            create_ignores_client_ids_and_timestamps,
            created_at_is_rfc3339_utc_with_microseconds,
            unicode_round_trips_unchanged,
            duplicate_email_in_any_case_is_409,
            concurrent_creates_of_one_email_one_wins,
            create_lists_every_failing_field,
            create_rejects_wrong_types_and_null,
            create_rejects_non_object_bodies,
            name_rules_are_enforced,
            control_characters_in_name_are_422,
            email_syntax_is_enforced,
            email_longer_than_254_is_422,
            malformed_json_is_400,
            missing_or_wrong_content_type_is_415,
            body_over_16_kib_is_413,
            get_returns_the_user,
            get_unknown_id_is_404,
            unparseable_ids_are_400,
            list_is_ascending_and_keyset_paginated,
            list_defaults_to_50_per_page,
            list_of_nothing_is_an_empty_page,
            list_query_that_does_not_parse_is_400,
            list_query_out_of_range_is_422,
            update_changes_only_given_members,
            update_trims_and_validates,
            update_needs_at_least_one_member,
            update_to_anothers_email_is_409,
            recasing_own_email_is_not_a_conflict,
            update_unknown_id_is_404,
            delete_returns_204_then_404,
            unknown_route_is_404_problem,
            wrong_method_is_405_with_allow,
            health_is_ok,
            request_id_is_echoed_or_generated,
            openapi_documents_every_route_and_status,
            docs_are_served_without_internet,
            failed_writes_change_nothing,
        }
    };
    (@test $connect:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let app = $crate::TestApp::spawn($connect).await;
                $crate::conformance::$case(&app).await;
            }
        )*
    };
    (@names_of; $($case:ident),* $(,)?) => {
        &[$(stringify!($case)),*]
    };
}

/// The names of all conformance cases, in the order the suite runs them.
pub const CONFORMANCE_CASES: &[&str] = conformance_suite!(@names);

#[cfg(test)]
mod tests {
    use super::CONFORMANCE_CASES;

    /// Every `pub async fn` in conformance.rs is listed in the suite, and vice versa.
    #[test]
    fn every_case_is_listed_once() {
        let source = include_str!("conformance.rs");
        let defined: Vec<&str> = source
            .lines()
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .filter_map(|rest| rest.split('(').next())
            .collect();
        let mut listed = CONFORMANCE_CASES.to_vec();
        let mut sorted_defined = defined.clone();
        listed.sort_unstable();
        sorted_defined.sort_unstable();
        assert_eq!(
            listed, sorted_defined,
            "conformance.rs and the suite's list differ"
        );
        listed.dedup();
        assert_eq!(
            listed.len(),
            CONFORMANCE_CASES.len(),
            "a case is listed twice"
        );
        assert!(CONFORMANCE_CASES.len() >= 30);
    }
}
