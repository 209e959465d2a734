//! Hostile input: generated requests thrown at every endpoint (property-based, with
//! `proptest`).
//!
//! Whatever arrives (any method, a path of any bytes, a query string of junk, any
//! `Content-Type`, a body of arbitrary JSON or of no JSON at all), the server must:
//!
//! 1. never answer 5xx (a 503 would need a fault; there is none here);
//! 2. answer every error (>= 400) in `application/problem+json`, with the same
//!    `status` in the body;
//! 3. answer only statuses its own `/openapi.json` documents for that route and method.
//!    Two statuses are contract-wide rather than per route (API.md, and the OpenAPI
//!    document's description, say so): 404 for an unknown route, and 405 with an
//!    `Allow` header for a known route with a method it does not serve. `/docs` and
//!    `/openapi.json` are not part of the documented API; for them only 1 and 2 hold.
//!
//! Proptest generates the requests, and on a failure shrinks it to a small request
//! that still fails, and prints it. The runner is synchronous, so each case blocks
//! on the test's runtime (`block_in_place`, which needs the multi-threaded runtime
//! the suite uses). Case counts stay modest so the suite stays fast; raise them with
//! `PROPTEST_CASES=5000` for a deeper run.
//!
//! The generators (proptest strategies) are in [`strategies`]. Requests no HTTP client
//! would send (broken framing, oversized heads) are written byte by byte on a socket
//! instead, in `malformed_http_never_fails_the_contract`. A client that stalls in the
//! middle of its body is a timeout case (`faults::timeouts`).

mod strategies;

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::Value;
use users_api::error::PROBLEM_JSON;

use self::strategies::{
    body, content_type, json_value, method, path, query, request_id, special_body, user_object,
};
use super::helpers::read_one_answer;
use crate::TestApp;

/// Cases per property, unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 256;

/// One generated request.
#[derive(Debug, Clone)]
struct HostileRequest {
    /// Any method, standard or not.
    method: String,
    /// Starts with `/`; may hold percent-escapes, valid or not.
    path: String,
    /// The query string, without `?`.
    query: Option<String>,
    /// The `Content-Type` header, if any.
    content_type: Option<String>,
    /// The body, if any.
    body: Option<Vec<u8>>,
    /// An `x-request-id` header, if any (bytes, not all of them valid in a header).
    request_id: Option<Vec<u8>>,
}

/// What the server answered.
#[derive(Debug)]
struct Answer {
    /// The path as sent (after URL normalisation).
    path: String,
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

/// Route templates and methods of `/openapi.json`, with their documented statuses.
type Documented = BTreeMap<(String, String), BTreeSet<u16>>;

async fn documented(app: &TestApp) -> Documented {
    let doc = app.get("/openapi.json").await.json();
    let mut statuses = Documented::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Some(responses) = operation["responses"].as_object() else {
                continue;
            };
            let codes = responses
                .keys()
                .filter_map(|code| code.parse().ok())
                .collect();
            statuses.insert((template.clone(), method.clone()), codes);
        }
    }
    assert!(!statuses.is_empty(), "/openapi.json documents nothing");
    statuses
}

/// Which documented route a path falls on, as axum routes it.
fn route_of(path: &str) -> Route {
    if path == "/users" || path == "/posts" || path == "/health" {
        return Route::Api(path.to_owned());
    }
    // One non-empty segment, the `{id}` of a template.
    let id = |rest: &str| !rest.is_empty() && !rest.contains('/');
    if let Some(rest) = path.strip_prefix("/users/") {
        if id(rest) {
            return Route::Api("/users/{id}".to_owned());
        }
        // Inside a path, axum's router also matches an empty `{id}`: `/users//posts`
        // reaches the handler, whose `id` does not parse (400, documented), where a
        // trailing `/users/` matches no route (404).
        if let Some(user) = rest.strip_suffix("/posts")
            && !user.contains('/')
        {
            return Route::Api("/users/{id}/posts".to_owned());
        }
    }
    if let Some(rest) = path.strip_prefix("/posts/")
        && id(rest)
    {
        return Route::Api("/posts/{id}".to_owned());
    }
    if path == "/openapi.json" || path == "/docs" || path.starts_with("/docs/") {
        return Route::Undocumented;
    }
    Route::Unknown
}

enum Route {
    /// A route of the API, by its OpenAPI template.
    Api(String),
    /// `/docs` and `/openapi.json`: served, but not part of the API document.
    Undocumented,
    /// Anything else: must be 404.
    Unknown,
}

async fn send(app: &TestApp, request: &HostileRequest) -> Result<Option<Answer>, String> {
    let mut url = format!("{}{}", app.base_url, request.path);
    if let Some(query) = &request.query {
        url.push('?');
        url.push_str(query);
    }
    // A string no URL parser accepts cannot be sent by an HTTP client at all.
    let Ok(url) = reqwest::Url::parse(&url) else {
        return Ok(None);
    };
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|err| format!("bad generated method: {err}"))?;
    let mut builder = app.client.request(method, url.clone());
    if let Some(content_type) = &request.content_type {
        let Ok(value) = HeaderValue::from_str(content_type) else {
            return Ok(None);
        };
        builder = builder.header(CONTENT_TYPE, value);
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    // Bytes no header may hold (control characters) are left out, not sent.
    if let Some(value) = request
        .request_id
        .as_deref()
        .and_then(|id| HeaderValue::from_bytes(id).ok())
    {
        builder = builder.header("x-request-id", value);
    }
    let response = builder
        .timeout(std::time::Duration::from_secs(20))
        .send()
        .await
        .map_err(|err| format!("no answer: {err:?}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|err| format!("the body broke off: {err}"))?
        .to_vec();
    Ok(Some(Answer {
        path: url.path().to_owned(),
        status,
        headers,
        body,
    }))
}

/// The three properties of the module documentation, for one answer.
fn check(documented: &Documented, request: &HostileRequest, answer: &Answer) -> Result<(), String> {
    let status = answer.status;
    let body = String::from_utf8_lossy(&answer.body);
    if status >= 500 {
        return Err(format!("answered {status}: {body}"));
    }
    // Every response carries x-request-id: the caller's, if it sent a valid one.
    let echoed = answer
        .headers
        .get("x-request-id")
        .map(HeaderValue::as_bytes);
    // HTTP strips white space around a header value (RFC 9110 §5.5) on the way in.
    let sent = request
        .request_id
        .as_deref()
        .filter(|id| HeaderValue::from_bytes(id).is_ok())
        .map(|id| id.trim_ascii());
    match (sent, echoed) {
        (_, None) => return Err("no x-request-id on the response".to_owned()),
        (Some(sent), Some(echoed)) if sent != echoed => {
            return Err(format!("x-request-id {sent:?} came back as {echoed:?}"));
        }
        _ => {}
    }
    if status >= 400 {
        let content_type = answer
            .headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok());
        if content_type != Some(PROBLEM_JSON) {
            return Err(format!(
                "{status} as {content_type:?}, not problem+json: {body}"
            ));
        }
        // A HEAD answer carries the headers of a GET, without its body.
        if request.method != "HEAD" {
            let problem: Value = serde_json::from_slice(&answer.body)
                .map_err(|err| format!("{status}: problem body is not JSON ({err}): {body}"))?;
            if problem["status"] != status {
                return Err(format!("{status}, but the body says {}", problem["status"]));
            }
        }
    }
    match route_of(&answer.path) {
        Route::Undocumented => Ok(()),
        Route::Unknown if status == 404 => Ok(()),
        Route::Unknown => Err(format!("unknown route {} answered {status}", answer.path)),
        Route::Api(template) => {
            let method = match request.method.as_str() {
                "GET" | "HEAD" => "get",
                "POST" => "post",
                "PATCH" => "patch",
                "DELETE" => "delete",
                "PUT" => "put",
                _ => "",
            };
            match documented.get(&(template.clone(), method.to_owned())) {
                Some(statuses) if statuses.contains(&status) => Ok(()),
                Some(statuses) => Err(format!(
                    "{} {template} answered {status}, documented: {statuses:?}: {body}",
                    request.method
                )),
                None if status == 405 && answer.headers.contains_key("allow") => Ok(()),
                None => Err(format!(
                    "{} is not served on {template}, yet answered {status} (not 405 with Allow)",
                    request.method
                )),
            }
        }
    }
}

/// Runs `strategy`'s requests against `app`, checking each answer.
async fn run(app: &TestApp, strategy: impl Strategy<Value = HostileRequest>) {
    let documented = documented(app).await;
    let runtime = tokio::runtime::Handle::current();
    let mut config = ProptestConfig {
        // Failures are printed, not written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = CASES;
    }
    let mut runner = TestRunner::new(config);
    let seen = std::sync::Mutex::new(BTreeMap::<u16, usize>::new());
    let result = tokio::task::block_in_place(|| {
        runner
            .run(&strategy, |request| {
                let answer = runtime
                    .block_on(send(app, &request))
                    .map_err(TestCaseError::fail)?;
                let Some(answer) = answer else {
                    return Err(TestCaseError::reject("not sendable"));
                };
                *seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(answer.status)
                    .or_default() += 1;
                check(&documented, &request, &answer).map_err(TestCaseError::fail)
            })
            // The failure report (the shrunk request and why it failed), as text.
            .map_err(|failure| failure.to_string())
    });
    if let Err(failure) = result {
        panic!("hostile input broke the contract: {failure}");
    }
    let seen = seen
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    println!("FIGURE hostile: statuses seen {seen:?}");
}

async fn seed(app: &TestApp) {
    // A few users, so that generated ids 1..=5 and the emails below hit real rows:
    // reads that find something, updates that conflict (409).
    for (name, email) in [("Ada", "ada@example.com"), ("Grace", "grace@example.com")] {
        app.create_user(name, email).await;
    }
}

/// Any method, any path under the API, any query string, any `Content-Type`, any body.
pub(in crate::faults) async fn random_requests_never_fail_the_contract(app: &TestApp) {
    seed(app).await;
    let request = (
        method(),
        path(),
        query(),
        content_type(),
        body(),
        request_id(),
    )
        .prop_map(
            |(method, path, query, content_type, body, request_id)| HostileRequest {
                method,
                path,
                query,
                content_type,
                body,
                request_id,
            },
        );
    run(app, request).await;
}

/// Bodies aimed at the validation and the database: `POST /users` and
/// `PATCH /users/{id}` with a JSON content type and generated JSON (objects with
/// `name` and `email` of every shape, strings with control characters, NULs, huge
/// numbers, deep nesting, unicode of every plane).
pub(in crate::faults) async fn random_bodies_never_fail_the_contract(app: &TestApp) {
    seed(app).await;
    let target = prop_oneof![
        Just(("POST".to_owned(), "/users".to_owned())),
        (1i64..6).prop_map(|id| ("PATCH".to_owned(), format!("/users/{id}"))),
    ];
    let content_type = prop::sample::select(vec![
        "application/json",
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ]);
    let body = prop_oneof![
        6 => user_object().prop_map(|value| serde_json::to_vec(&value).expect("serialize")),
        2 => json_value().prop_map(|value| serde_json::to_vec(&value).expect("serialize")),
        1 => special_body(),
    ];
    let request = (target, content_type, body).prop_map(|((method, path), content_type, body)| {
        HostileRequest {
            method,
            path,
            query: None,
            content_type: Some(content_type.to_owned()),
            body: Some(body),
            request_id: None,
        }
    });
    run(app, request).await;
}

/// Requests no HTTP client would send, written byte by byte on a socket: broken
/// framing, conflicting lengths, oversized URI and headers, invalid bytes, a body
/// shorter than announced. Never a 5xx. Every error with a body is problem+json.
///
/// Requests that do not even parse as HTTP are answered by hyper itself (400, 414,
/// 431), before any layer of ours sees them: those answers have no body and no
/// `Content-Type` at all, and are the one exception to "every error is problem+json"
/// (hyper offers no hook to shape them).
pub(in crate::faults) async fn malformed_http_never_fails_the_contract(app: &TestApp) {
    use tokio::io::AsyncWriteExt;

    let long = "a".repeat(70_000);
    let huge = "a".repeat(500_000);
    let json = "Content-Type: application/json";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("header without colon", b"GET /users HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec()),
        ("not HTTP", b"GARBAGE\r\n\r\n".to_vec()),
        ("broken chunk", format!("POST /users HTTP/1.1\r\nHost: x\r\n{json}\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n").into_bytes()),
        ("two lengths", format!("POST /users HTTP/1.1\r\nHost: x\r\n{json}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcde").into_bytes()),
        ("length beyond u64", format!("POST /users HTTP/1.1\r\nHost: x\r\n{json}\r\nContent-Length: 99999999999999999999\r\n\r\n{{}}").into_bytes()),
        ("body shorter than its length", format!("POST /users HTTP/1.1\r\nHost: x\r\n{json}\r\nContent-Length: 100\r\n\r\n{{}}").into_bytes()),
        ("patch, body short", format!("PATCH /users/1 HTTP/1.1\r\nHost: x\r\n{json}\r\nContent-Length: 100\r\n\r\n{{\"na").into_bytes()),
        ("70 kB query", format!("GET /users?{long} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()),
        ("70 kB header", format!("GET /users HTTP/1.1\r\nHost: x\r\nX-Big: {long}\r\n\r\n").into_bytes()),
        ("500 kB header", format!("GET /users HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\n\r\n").into_bytes()),
        ("non-ASCII request id and type", b"POST /users HTTP/1.1\r\nHost: x\r\nx-request-id: \xff\xfe\r\nContent-Type: \xff\r\nContent-Length: 2\r\n\r\n{}".to_vec()),
        ("HTTP/1.0 without Host", b"GET /users HTTP/1.0\r\n\r\n".to_vec()),
        ("HTTP/2.0 as text", b"GET /users HTTP/2.0\r\nHost: x\r\n\r\n".to_vec()),
        ("absolute URI", b"GET http://elsewhere.example/users HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("asterisk", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("CONNECT", b"CONNECT elsewhere.example:80 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("NUL in path", b"GET /users/%00 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("raw byte in path", b"GET /users/\xff HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("gzip body", format!("POST /users HTTP/1.1\r\nHost: x\r\n{json}\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n").into_bytes().into_iter().chain([0x1f, 0x8b, 0x08, 0x00]).collect()),
    ];
    let mut bare = Vec::new();
    for (what, request) in &cases {
        let mut stream = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        // The server may answer and close before reading everything: fine.
        let _ = stream.write_all(request).await;
        // A client that sent a body shorter than announced hangs up: the server must see
        // the body end early. (hyper drops a request whose client half-closed, so the
        // others keep the connection open and read one answer.)
        if what.contains("short") {
            let _ = stream.shutdown().await;
        }
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            read_one_answer(&mut stream),
        )
        .await;
        let Ok(answer) = answer else {
            panic!("{what}: no answer and no close within 10 s");
        };
        let text = String::from_utf8_lossy(&answer);
        let Some(status) = text
            .strip_prefix("HTTP/1.")
            .and_then(|rest| rest.get(2..5))
            .and_then(|code| code.parse::<u16>().ok())
        else {
            // Closed without an answer (what hyper does with some garbage): no 5xx.
            bare.push(format!("{what}: closed"));
            continue;
        };
        assert!(status < 500, "{what}: answered {status}:\n{text}");
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let head = head.to_ascii_lowercase();
        if status >= 400 {
            if head.contains(&format!("content-type: {PROBLEM_JSON}")) {
                continue;
            }
            assert!(
                body.is_empty(),
                "{what}: {status} with a body that is not problem+json:\n{text}"
            );
            bare.push(format!("{what}: bare {status}"));
        }
    }
    println!("FIGURE malformed HTTP answered by hyper itself: {bare:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classified_as_axum_routes_them() {
        assert!(matches!(route_of("/users"), Route::Api(t) if t == "/users"));
        assert!(matches!(route_of("/users/%FF"), Route::Api(t) if t == "/users/{id}"));
        assert!(matches!(route_of("/users/"), Route::Unknown));
        assert!(matches!(route_of("/users/1/2"), Route::Unknown));
        assert!(matches!(route_of("/docs/x.js"), Route::Undocumented));
        assert!(matches!(route_of("/USERS"), Route::Unknown));
    }
}
