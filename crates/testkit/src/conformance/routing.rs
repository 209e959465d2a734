//! Routing and headers: unknown routes (404) and methods (405 with `Allow`) answer in
//! problem+json, `/health` reports the database, and every response carries an
//! `x-request-id`.

use reqwest::Method;
use serde_json::json;

use super::JSON;
use crate::TestApp;

/// Unknown routes are 404 in problem+json.
pub(super) async fn unknown_route_is_404_problem(app: &TestApp) {
    for path in [
        "/",
        "/nope",
        "/users/1/friends",
        "/users/",
        "/USERS",
        "/docs/nope.js",
    ] {
        app.get(path).await.assert_problem(404);
    }
    app.send(Method::POST, "/nope", JSON, Some(b"{}".to_vec()))
        .await
        .assert_problem(404);
}

/// A known route with a wrong method is 405 with an `Allow` header.
pub(super) async fn wrong_method_is_405_with_allow(app: &TestApp) {
    let cases = [
        (Method::PUT, "/users", ["GET", "POST"].as_slice()),
        (Method::DELETE, "/users", &["GET", "POST"]),
        (Method::PUT, "/users/1", &["GET", "PATCH", "DELETE"]),
        (Method::POST, "/users/1", &["GET", "PATCH", "DELETE"]),
        (Method::POST, "/health", &["GET"]),
    ];
    for (method, path, allowed) in cases {
        let response = app.send(method, path, JSON, Some(b"{}".to_vec())).await;
        response.assert_problem(405);
        let allow = response.header("allow").expect("Allow header");
        for method in allowed {
            assert!(
                allow.split(',').any(|m| m.trim() == *method),
                "{path}: Allow {allow:?} lacks {method}"
            );
        }
    }
}

/// `/health` is 200 `{"status":"ok"}` while the database answers.
pub(super) async fn health_is_ok(app: &TestApp) {
    let response = app.get("/health").await;
    response.assert_status(200);
    assert_eq!(response.json(), json!({"status": "ok"}));
}

/// Every response carries `x-request-id`: the caller's, or a fresh one.
pub(super) async fn request_id_is_echoed_or_generated(app: &TestApp) {
    let sent = app
        .client
        .get(format!("{}/users/abc", app.base_url))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("response");
    assert_eq!(sent.headers()["x-request-id"], "trace-me-123");
    let mut seen = std::collections::HashSet::new();
    for path in ["/health", "/users", "/nope", "/users/abc", "/users/1"] {
        let response = app.get(path).await;
        let id = response
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{path}: no x-request-id"))
            .to_owned();
        assert!(id.len() >= 16, "{path}: {id}");
        assert!(seen.insert(id), "request ids repeat");
    }
    let too_big = app
        .send(Method::POST, "/users", JSON, Some(vec![b' '; 20_000]))
        .await;
    assert!(
        too_big.header("x-request-id").is_some(),
        "413 without x-request-id"
    );
    let wrong = app.send(Method::PUT, "/users", None, None).await;
    assert!(
        wrong.header("x-request-id").is_some(),
        "405 without x-request-id"
    );
}
