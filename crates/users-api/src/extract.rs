//! Extractors that reject in `problem+json`: the JSON body, the `{id}` path parameter
//! and the list's query string.
//!
//! axum's own `Json<T>`, `Path<i64>` and `Query<T>` reject in `text/plain`, and `Json<T>`
//! stops at the first serde error. These three are small, so we own them and give each
//! failure the status the contract names:
//!
//! | failure                                   | status |
//! | ----------------------------------------- | ------ |
//! | `Content-Type` missing or not JSON         | 415    |
//! | body over 16 KiB                           | 413    |
//! | body not complete within 10 s              | 408    |
//! | body is not JSON                           | 400    |
//! | `{id}` / query value does not parse        | 400    |
//! | query value parses but is out of range     | 422    |

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{HeaderMap, header, request::Parts};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::error::{ApiError, FieldError};
use crate::model::{DEFAULT_LIMIT, MAX_LIMIT, Page};

/// Largest request body accepted: 16 KiB.
pub const BODY_LIMIT: usize = 16 * 1024;

/// After refusing a body, read and discard at most this much more of it (and for at most
/// [`DRAIN_TIMEOUT`]). A server that answers and closes while the client is still
/// sending makes the client's TCP stack see a reset, and many clients then report
/// "broken pipe" instead of the 413 we sent. Draining a bounded amount avoids that for
/// ordinary clients without letting a hostile one keep us reading forever.
const DRAIN_LIMIT: usize = 1024 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest a body may take to arrive in full. A client that stalls mid-body is
/// answered 408 (its fault), before the 12 s request timeout would answer 503 (which
/// says "the server is in trouble, retry"). Found by the fault suite's hostile-input
/// tests: a POST announcing more bytes than it sends got a 503 after 12 s.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A request body that declared itself JSON, fit in [`BODY_LIMIT`] and parsed.
///
/// It yields a `serde_json::Value`, not a typed struct, so that [`crate::validate`] can
/// report every wrong member at once.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        if !is_json(&parts.headers) {
            drain(body, 0).await;
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = tokio::time::timeout(BODY_READ_TIMEOUT, read_limited(body))
            .await
            .map_err(|_| ApiError::RequestTimeout)??;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|err| ApiError::BadRequest(format!("request body is not valid JSON: {err}")))
    }
}

/// `application/json`, or any `application/...+json`, with or without parameters
/// (`; charset=utf-8`), in any letter case, as FastAPI accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.strip_prefix("application/") {
        Some(subtype) => subtype == "json" || subtype.ends_with("+json"),
        None => false,
    }
}

/// Reads the body into memory, refusing it (413) once it passes [`BODY_LIMIT`].
async fn read_limited(mut body: Body) -> Result<Bytes, ApiError> {
    let mut buffer = Vec::new();
    while let Some(frame) = body.frame().await {
        // A body that fails to arrive (the client hung up, or sent a broken chunked
        // encoding) is the client's problem: 400, not 500.
        let frame =
            frame.map_err(|_| ApiError::BadRequest("could not read request body".into()))?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > BODY_LIMIT {
                drain(body, buffer.len() + data.len()).await;
                return Err(ApiError::PayloadTooLarge);
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buffer))
}

/// Reads and discards what is left of a refused body, within the drain bounds.
pub(crate) async fn drain(mut body: Body, already_read: usize) {
    let discard = async {
        let mut total = already_read;
        while let Some(Ok(frame)) = body.frame().await {
            total += frame.data_ref().map_or(0, Bytes::len);
            if total > DRAIN_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, discard).await;
}

/// The `{id}` of `/users/{id}`, `/users/{id}/posts` and `/posts/{id}`, parsed as a
/// 64-bit integer.
///
/// A value that is not an integer (`abc`, `1.5`, beyond `i64`) is a 400. Zero and
/// negative ids parse, and simply match no user or post: 404.
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let bad = || ApiError::BadRequest("path parameter `id` must be a 64-bit integer".into());
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| bad())?;
        raw.parse().map(PathId).map_err(|_| bad())
    }
}

/// `GET /users?limit=L&after_id=A`, parsed (400 if not integers) and range-checked
/// (422 if out of range). Unknown parameters are ignored, as FastAPI does; a repeated
/// one counts by its last value.
#[derive(Debug, Clone, Copy)]
pub struct ListParams(pub Page);

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        parse_page(query).map(ListParams)
    }
}

fn parse_page(query: &str) -> Result<Page, ApiError> {
    let mut limit = None;
    let mut after_id = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "limit" => limit = Some(value.into_owned()),
            "after_id" => after_id = Some(value.into_owned()),
            _ => {}
        }
    }
    // Parsed as signed integers, so that `limit=-5` is "out of range" (422) rather than
    // "not a number" (400).
    let parse = |name: &str, raw: Option<String>, default: i64| -> Result<i64, ApiError> {
        match raw {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| {
                ApiError::BadRequest(format!("query parameter `{name}` must be a 64-bit integer"))
            }),
        }
    };
    let limit = parse("limit", limit, DEFAULT_LIMIT)?;
    let after_id = parse("after_id", after_id, 0)?;

    let mut errors = Vec::new();
    if limit < 1 {
        errors.push(FieldError::new(
            &["query", "limit"],
            "greater_than_equal",
            "must be at least 1",
        ));
    } else if limit > MAX_LIMIT {
        let msg = format!("must be at most {MAX_LIMIT}");
        errors.push(FieldError::new(&["query", "limit"], "less_than_equal", msg));
    }
    if after_id < 0 {
        errors.push(FieldError::new(
            &["query", "after_id"],
            "greater_than_equal",
            "must be at least 0",
        ));
    }
    if errors.is_empty() {
        Ok(Page { after_id, limit })
    } else {
        Err(ApiError::Validation {
            detail: "query parameters failed validation",
            errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn status_of(query: &str) -> u16 {
        match parse_page(query) {
            Ok(_) => 200,
            Err(err) => err.status().as_u16(),
        }
    }

    #[test]
    fn page_defaults_and_parsing() {
        assert_eq!(
            parse_page("").unwrap(),
            Page {
                after_id: 0,
                limit: 50
            }
        );
        assert_eq!(
            parse_page("limit=7&after_id=9&x=y").unwrap(),
            Page {
                after_id: 9,
                limit: 7
            }
        );
        assert_eq!(parse_page("limit=1&limit=500").unwrap().limit, 500);
    }

    #[test]
    fn page_statuses() {
        for query in [
            "limit=abc",
            "limit=",
            "limit=1.5",
            "after_id=99999999999999999999",
            "limit=1e2",
        ] {
            assert_eq!(status_of(query), 400, "{query}");
        }
        for query in ["limit=0", "limit=501", "limit=-5", "after_id=-1"] {
            assert_eq!(status_of(query), 422, "{query}");
        }
    }

    #[test]
    fn both_range_errors_are_listed() {
        match parse_page("limit=0&after_id=-1") {
            Err(ApiError::Validation { errors, .. }) => assert_eq!(errors.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_content_types() {
        let check = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            is_json(&headers)
        };
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(check(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
            "application/jsonx",
        ] {
            assert!(!check(bad), "{bad}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }
}
