//! Errors: the store's vocabulary and the HTTP contract's `problem+json`.
//!
//! Two error types meet here, and keeping them apart is the point of this file:
//!
//! * [`StoreError`] is what a tier's store may say went wrong. It knows nothing about
//!   HTTP. Each tier maps its own driver's errors (a unique violation, a pool timeout,
//!   a dropped connection) onto these few variants.
//! * [`ApiError`] is what a handler answers. Its [`IntoResponse`] is the one place
//!   where a failure becomes a status code, and it renders every error as an
//!   RFC 9457 `application/problem+json` body.
//!
//! Internal error text (SQL, constraint names, driver messages) is logged here and
//! never sent to the client: a 500 says only that something went wrong.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Any error, boxed: what a store wraps when it cannot say anything more specific.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The media type of every error response (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// How long a client should wait before retrying after a 503, in seconds.
pub const RETRY_AFTER_SECS: u64 = 2;

/// What a [`crate::UserStore`] operation can fail with.
///
/// "Not found" is not an error here: `get`, `update` and `delete` return `Option`/`bool`
/// because a missing row is an ordinary answer to a question, not a failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another user already has this email (in any letter case): the unique index
    /// on `lower(email)` refused the write. Tiers detect SQLSTATE 23505.
    #[error("another user already has this email")]
    EmailTaken,
    /// A batch was rolled back because these entries' emails are taken, by an existing
    /// user or by an earlier entry of the same batch: their indexes, ascending (see
    /// [`crate::model::UserBatch::check_inserted`]).
    #[error("emails of the batch are taken")]
    BatchEmailsTaken(Vec<usize>),
    /// The database could not be reached, or no pooled connection became free in
    /// time. The request may succeed if retried later.
    #[error("database unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug, or a database answer we did not expect.
    #[error("unexpected database error")]
    Internal(#[source] BoxError),
}

impl StoreError {
    /// Wraps any error as [`StoreError::Unavailable`].
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable(err.into())
    }

    /// Wraps any error as [`StoreError::Internal`].
    pub fn internal(err: impl Into<BoxError>) -> Self {
        Self::Internal(err.into())
    }
}

/// One step of a `loc`: a member name, or the index of an array entry (from 0), as
/// FastAPI writes them: `["body", "users", 3, "email"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LocPart {
    /// A member of an object, or where the value came from (`body`, `query`).
    Key(String),
    /// An entry of an array.
    Index(usize),
}

impl From<&str> for LocPart {
    fn from(key: &str) -> Self {
        Self::Key(key.to_owned())
    }
}

impl From<usize> for LocPart {
    fn from(index: usize) -> Self {
        Self::Index(index)
    }
}

/// One failing field of a 422 answer (or one conflicting entry of a batch's 409), in
/// FastAPI's shape: where (`loc`), what (`msg`), and a machine-readable kind (`type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where the failing value sits: `["body", "email"]`, `["query", "limit"]`,
    /// `["body", "users", 3, "email"]` (member names are strings, array indexes
    /// integers from 0).
    #[schema(example = json!(["body", "users", 3, "email"]))]
    pub loc: Vec<LocPart>,
    /// A sentence for humans.
    #[schema(example = "not a valid e-mail address")]
    pub msg: String,
    /// A stable code for programs: `missing`, `extra_forbidden`, `string_type`,
    /// `string_too_short`, `string_too_long`, `control_character`, `email`,
    /// `object_type`, `list_type`, `too_short`, `too_long`, `empty_update`,
    /// `greater_than_equal`, `less_than_equal`; `conflict` on a batch's 409.
    #[serde(rename = "type")]
    #[schema(example = "email")]
    pub kind: String,
}

impl FieldError {
    /// A failing field at `loc` (e.g. `&["body", "name"]`).
    pub fn new(loc: &[&str], kind: &str, msg: impl Into<String>) -> Self {
        Self {
            loc: loc.iter().map(|part| LocPart::from(*part)).collect(),
            msg: msg.into(),
            kind: kind.to_owned(),
        }
    }

    /// The same error, found in entry `index` of the array member `member` of the
    /// body: `["body", "email"]` becomes `["body", member, index, "email"]`. A batch
    /// validates each entry as a single body, then moves its errors here.
    pub fn in_entry(mut self, member: &str, index: usize) -> Self {
        let at = usize::from(self.loc.first() == Some(&LocPart::from("body")));
        self.loc
            .splice(at..at, [LocPart::from(member), LocPart::from(index)]);
        self
    }
}

/// The body of every error response (RFC 9457 "problem details").
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status code says what kind of problem this is.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: &'static str,
    /// The status code's reason phrase.
    #[schema(example = "Unprocessable Content")]
    pub title: &'static str,
    /// The HTTP status code, repeated for clients that only keep the body.
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong with this request, in a sentence.
    #[schema(example = "request body failed validation")]
    pub detail: String,
    /// Present on 422 (every failing field) and on a batch's 409 (every entry whose
    /// email is taken).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// The reason phrase for a status, as RFC 9110 names it.
///
/// The `http` crate still uses the older names for 413 and 422, which RFC 9110
/// renamed; the contract uses the new ones.
pub fn title_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "Content Too Large",
        StatusCode::UNPROCESSABLE_ENTITY => "Unprocessable Content",
        other => other.canonical_reason().unwrap_or("Error"),
    }
}

/// Builds a `problem+json` response. Every error answer of the server goes through
/// here, whichever layer produced it.
pub fn problem_response(
    status: StatusCode,
    detail: impl Into<String>,
    errors: Option<Vec<FieldError>>,
) -> Response {
    let problem = Problem {
        kind: "about:blank",
        title: title_for(status),
        status: status.as_u16(),
        detail: detail.into(),
        errors,
    };
    // Serializing this struct of strings and numbers cannot fail; fall back to an
    // empty object rather than panic if it ever did.
    let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    response
}

/// What a handler can answer instead of success. [`IntoResponse`] below is the single
/// status-code mapping of the whole service.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (JSON syntax, a path or query value that does
    /// not parse). The message is ours, safe to show.
    #[error("{0}")]
    BadRequest(String),
    /// 422: well-formed, but breaks the rules; lists every failing field.
    #[error("request failed validation")]
    Validation {
        /// A sentence saying which part of the request failed.
        detail: &'static str,
        /// Every failing field.
        errors: Vec<FieldError>,
    },
    /// 415: the body is not declared as JSON.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// 413: the body is larger than [`crate::extract::BODY_LIMIT`].
    #[error("request body is larger than the limit")]
    PayloadTooLarge,
    /// 408: the body did not arrive within [`crate::extract::BODY_READ_TIMEOUT`]. The
    /// client stalled; without this, the request timeout would answer 503 and blame
    /// the database, inviting retries of a request the client never finished sending.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// 404: no such user.
    #[error("{0}")]
    NotFound(String),
    /// 409: the email belongs to another user.
    #[error("another user already has this email")]
    EmailTaken,
    /// 409: a batch was not written, because of these entries' emails (indexes,
    /// ascending): taken by an existing user or by an earlier entry of the batch.
    #[error("emails of the batch are already taken; no user was written")]
    BatchEmailsTaken(Vec<usize>),
    /// 503: the database is unreachable or the pool is exhausted.
    #[error("the database is unavailable")]
    Unavailable(#[source] BoxError),
    /// 500: anything else. The source is logged, never sent.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::EmailTaken => Self::EmailTaken,
            StoreError::BatchEmailsTaken(entries) => Self::BatchEmailsTaken(entries),
            StoreError::Unavailable(source) => Self::Unavailable(source),
            StoreError::Internal(source) => Self::Internal(source),
        }
    }
}

impl ApiError {
    /// The status code this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::EmailTaken | Self::BatchEmailsTaken(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            Self::Validation { detail, errors } => problem_response(status, detail, Some(errors)),
            Self::BatchEmailsTaken(ref entries) => {
                let errors = entries
                    .iter()
                    .map(|&index| {
                        FieldError::new(&["body", "email"], "conflict", "email already taken")
                            .in_entry("users", index)
                    })
                    .collect();
                problem_response(status, self.to_string(), Some(errors))
            }
            // The source error may carry SQL, constraint names or driver text: it goes
            // to the log (with the request's span, so its request id), not the client.
            Self::Unavailable(source) => {
                tracing::warn!(error = %error_chain(source.as_ref()), "database unavailable");
                problem_response(status, "the database is unavailable; retry later", None)
            }
            Self::Internal(source) => {
                tracing::error!(error = %error_chain(source.as_ref()), "internal error");
                problem_response(status, "an unexpected error occurred", None)
            }
            other => problem_response(status, other.to_string(), None),
        }
    }
}

/// Formats an error with all its sources, `outer: inner: innermost`, for the log.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        // Some libraries (sqlx, SeaORM) already repeat their cause in their own
        // message; print each piece of text once.
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn store_errors_map_onto_statuses() {
        let cases = [
            (StoreError::EmailTaken, StatusCode::CONFLICT),
            (StoreError::BatchEmailsTaken(vec![1]), StatusCode::CONFLICT),
            (
                StoreError::unavailable("pool timed out"),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                StoreError::internal("boom"),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (store_error, status) in cases {
            assert_eq!(ApiError::from(store_error).status(), status);
        }
    }

    #[tokio::test]
    async fn internal_error_text_never_reaches_the_body() {
        let secret = r#"duplicate key value violates unique constraint "users_email_lower_key""#;
        for err in [
            ApiError::Internal(secret.into()),
            ApiError::Unavailable(secret.into()),
        ] {
            let response = err.into_response();
            let body = body_json(response).await.to_string();
            assert!(!body.contains("users_email"), "leaked: {body}");
            assert!(!body.contains("duplicate key"), "leaked: {body}");
        }
    }

    #[tokio::test]
    async fn problem_responses_have_the_media_type_and_retry_after() {
        let response = ApiError::Unavailable("down".into()).into_response();
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let body = body_json(response).await;
        assert_eq!(body["status"], 503);
        assert_eq!(body["title"], "Service Unavailable");
        assert_eq!(body["type"], "about:blank");
        assert!(body.get("errors").is_none());
    }

    #[tokio::test]
    async fn validation_lists_every_error_with_rfc9110_title() {
        let err = ApiError::Validation {
            detail: "request body failed validation",
            errors: vec![
                FieldError::new(&["body", "name"], "missing", "field required"),
                FieldError::new(&["body", "email"], "email", "not a valid e-mail address"),
            ],
        };
        let body = body_json(err.into_response()).await;
        assert_eq!(body["title"], "Unprocessable Content");
        assert_eq!(body["errors"].as_array().unwrap().len(), 2);
        assert_eq!(
            body["errors"][1]["loc"],
            serde_json::json!(["body", "email"])
        );
        assert_eq!(body["errors"][1]["type"], "email");
    }

    #[tokio::test]
    async fn a_batch_conflict_lists_each_entry_with_its_index() {
        let body = body_json(ApiError::BatchEmailsTaken(vec![0, 3]).into_response()).await;
        assert_eq!(body["status"], 409);
        assert_eq!(
            body["errors"],
            serde_json::json!([
                {"loc": ["body", "users", 0, "email"], "msg": "email already taken", "type": "conflict"},
                {"loc": ["body", "users", 3, "email"], "msg": "email already taken", "type": "conflict"},
            ])
        );
    }

    #[test]
    fn an_entry_error_gets_the_member_and_index_after_body() {
        let moved = FieldError::new(&["body", "email"], "email", "x").in_entry("users", 2);
        assert_eq!(
            serde_json::to_value(&moved.loc).unwrap(),
            serde_json::json!(["body", "users", 2, "email"])
        );
        let whole = FieldError::new(&["body"], "object_type", "x").in_entry("users", 0);
        assert_eq!(
            serde_json::to_value(&whole.loc).unwrap(),
            serde_json::json!(["body", "users", 0])
        );
    }

    #[test]
    fn error_chain_lists_sources() {
        let io = std::io::Error::other("connection reset");
        let outer = StoreError::unavailable(io);
        assert_eq!(
            error_chain(&outer),
            "database unavailable: connection reset"
        );
    }

    #[test]
    fn error_chain_prints_a_repeated_cause_once() {
        // sqlx and SeaORM put their cause's text into their own message too.
        #[derive(Debug, thiserror::Error)]
        #[error("pool timed out: {0}")]
        struct Wrapper(#[source] std::io::Error);
        let err = Wrapper(std::io::Error::other("connection refused"));
        assert_eq!(error_chain(&err), "pool timed out: connection refused");
    }
}

#[cfg(test)]
mod schema_tests {
    use utoipa::OpenApi as _;

    /// A `loc` holds member names and array indexes; the document must say both, or
    /// every 422 (and a batch's 409) would break its own documented schema.
    #[test]
    fn loc_parts_are_documented_as_strings_or_integers() {
        let doc = serde_json::to_value(crate::ApiDoc::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let items = &schemas["FieldError"]["properties"]["loc"]["items"];
        let part = match items.get("$ref").and_then(|r| r.as_str()) {
            Some(reference) => &schemas[reference.trim_start_matches("#/components/schemas/")],
            None => items,
        };
        let mut kinds: Vec<&str> = part["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("loc parts are one of several types: {part}"))
            .iter()
            .map(|kind| kind["type"].as_str().unwrap_or_default())
            .collect();
        kinds.sort_unstable();
        assert_eq!(kinds, ["integer", "string"], "{part}");
    }
}
