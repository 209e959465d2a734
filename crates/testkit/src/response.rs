//! A response read whole, and the assertions every case makes on it.
//!
//! [`TestResponse::assert_problem`] is the contract's one shape for errors: the status,
//! `application/problem+json`, the RFC 9457 members, `errors` only on a 422, and none
//! of the [`INTERNAL_TEXT`] that would mean a database or driver error leaked out.
//! Failure messages name the request (method and path), since a case sends many.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use users_api::error::PROBLEM_JSON;

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
    "posts_user_id_fkey",
    "posts_title_length",
    "posts_body_length",
    "duplicate key",
    "foreign key",
    "violates",
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
                assert!(
                    error["msg"].as_str().is_some_and(|msg| !msg.is_empty()),
                    "{} {}: an error without a message: {error}",
                    self.method,
                    self.path
                );
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
