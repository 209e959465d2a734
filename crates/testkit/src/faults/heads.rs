//! Over-long request heads: a target over 8 KiB is a 414, headers over 32 KiB in all are
//! a 431, both in problem+json from our own code (API.md), and a head just under each
//! limit is served as usual.
//!
//! hyper has limits of its own, answered with a bare status line; the server sets them
//! above the contract's (`users_api::server::MAX_BUF_SIZE`), so these sizes must reach
//! our middleware. A server that left hyper's defaults, or checked the wrong thing
//! (only the path, not the query; only one header), fails here.

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::{TestApp, TestResponse};

/// One KiB.
const KIB: usize = 1024;

/// A 9 KiB target is a 414 and a 7 KiB one is served; 40 KiB of headers are a 431 and
/// 30 KiB are served. Each refusal is problem+json with an `x-request-id`.
pub(super) async fn long_targets_and_headers_answer_414_and_431(app: &TestApp) {
    // The query is part of the target: the padding goes there, so the path still names
    // a route and a target under the limit is answered by it.
    let target = |bytes: usize| {
        let head = "/users?limit=5&pad=";
        format!("{head}{}", "a".repeat(bytes - head.len()))
    };
    let long = send(app, &target(9 * KIB), HeaderMap::new()).await;
    long.assert_problem(414);
    assert!(
        long.header("x-request-id").is_some(),
        "414 without x-request-id"
    );
    send(app, &target(7 * KIB), HeaderMap::new())
        .await
        .assert_status(200);

    let headers = |bytes: usize| {
        // 1 KiB a header (name and value), as many as it takes.
        let mut headers = HeaderMap::new();
        for index in 0..bytes / KIB {
            let name = format!("x-pad-{index:04}");
            let value = "b".repeat(KIB - name.len());
            headers.insert(
                HeaderName::try_from(name).expect("a header name"),
                HeaderValue::try_from(value).expect("a header value"),
            );
        }
        headers
    };
    let big = send(app, "/users", headers(40 * KIB)).await;
    big.assert_problem(431);
    assert!(
        big.header("x-request-id").is_some(),
        "431 without x-request-id"
    );
    send(app, "/users", headers(30 * KIB))
        .await
        .assert_status(200);
    println!(
        "FIGURE heads: 9 KiB target {}, 7 KiB target 200, 40 KiB of headers {}, 30 KiB 200",
        long.status, big.status
    );
}

/// `GET path` with `headers`, read whole.
async fn send(app: &TestApp, path: &str, headers: HeaderMap) -> TestResponse {
    let response = app
        .client
        .get(format!("{}{path}", app.base_url))
        .headers(headers)
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET {} bytes of target: {err}", path.len()));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("the body").to_vec();
    TestResponse {
        method: Method::GET,
        path: format!("{}...", &path[..path.len().min(30)]),
        status,
        headers,
        body,
    }
}
