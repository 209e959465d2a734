//! A response read whole, and the assertions every case makes on it.
//!
//! [`TestResponse::assert_problem`] is the contract's one shape for errors: the status,
//! `application/problem+json`, the RFC 9457 members, `errors` only on a 422, and none
//! of the [`INTERNAL_TEXT`] that would mean a database or driver error leaked out. The
//! one other answer with `errors`, a batch's 409, is read with
//! [`TestResponse::batch_conflicts`]; an export's newline-delimited JSON with
//! [`TestResponse::ndjson_lines`]. Failure messages name the request (method and path),
//! since a case sends many.

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
    /// and no internal text; returns the body. `errors` must be there on a 422 and
    /// nowhere else (a batch's 409 has its own check, [`TestResponse::batch_conflicts`]).
    pub fn assert_problem(&self, status: u16) -> Value {
        self.assert_problem_with_errors(status, status == 422)
    }

    /// The `errors` of a batch's 409, each as sent, failing the test unless the answer
    /// is a well-formed problem+json 409 that has them. A case compares them whole
    /// (`loc`, `msg`, `type`), so an index sent as a string is caught.
    pub fn batch_conflicts(&self) -> Vec<Value> {
        let body = self.assert_problem_with_errors(409, true);
        body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{} {}: errors is not an array", self.method, self.path))
            .clone()
    }

    /// [`TestResponse::assert_problem`], with whether `errors` must be present said
    /// by the caller.
    fn assert_problem_with_errors(&self, status: u16, with_errors: bool) -> Value {
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
            with_errors,
            "{} {}: `errors` only on 422 and a batch's 409: {body}",
            self.method,
            self.path
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

    /// The `(loc, type)` pairs of a 422's `errors`, for compact assertions. A `loc`
    /// part is a member name (a string) or an array index (an integer, in a batch's
    /// `["body", "users", 3, "email"]`); an index is rendered as its decimal string,
    /// `"3"`, so a `loc` compares as one `Vec<String>`. That rendering cannot tell `3`
    /// from `"3"`: a case that must (the batch's) checks the JSON itself. Any other
    /// kind of part fails the test.
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
                    .map(|part| match part {
                        Value::String(name) => name.clone(),
                        Value::Number(index) if index.is_u64() => index.to_string(),
                        other => panic!(
                            "{} {}: a loc part is neither a name nor an index: {other}",
                            self.method, self.path
                        ),
                    })
                    .collect();
                (
                    loc,
                    error["type"].as_str().expect("type is a string").to_owned(),
                )
            })
            .collect()
    }

    /// The lines of a newline-delimited JSON body (`GET /users/export`), each without
    /// its `\n`. Fails the test unless the body is UTF-8, every line, the last
    /// included, ends with `\n`, and no line is empty or has a carriage return. An
    /// empty body is no lines. The lines are not parsed: a case compares their bytes.
    pub fn ndjson_lines(&self) -> Vec<&str> {
        let text = std::str::from_utf8(&self.body).unwrap_or_else(|err| {
            panic!("{} {}: body is not UTF-8: {err}", self.method, self.path)
        });
        if text.is_empty() {
            return Vec::new();
        }
        let Some(body) = text.strip_suffix('\n') else {
            let tail: String = text
                .chars()
                .rev()
                .take(80)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            panic!(
                "{} {}: the last line does not end with \\n: ...{tail:?}",
                self.method, self.path
            );
        };
        let lines: Vec<&str> = body.split('\n').collect();
        for (number, line) in lines.iter().enumerate() {
            assert!(
                !line.is_empty() && !line.contains('\r'),
                "{} {}: line {number} is empty or holds a carriage return: {line:?}",
                self.method,
                self.path
            );
        }
        lines
    }
}
