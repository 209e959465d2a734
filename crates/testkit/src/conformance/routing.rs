//! Routing and headers: unknown routes (404) and methods (405 with `Allow`) answer in
//! problem+json, `/health` reports the database, and every response carries an
//! `x-request-id`; on the posts routes too.

use reqwest::Method;
use serde_json::json;

use super::{JSON, id_of};
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

/// The posts routes answer like every route: an `x-request-id` on every response
/// (the caller's, or a fresh one), 404 for unknown paths under them, and 405 with
/// `Allow` for a method a route does not serve; every error in problem+json.
pub(super) async fn posts_routes_have_request_ids_404s_and_405s(app: &TestApp) {
    let ada = id_of(&app.create_user("Ada", "ada@example.com").await);
    let post = id_of(&app.create_post(ada, "T", "B").await);
    let echoed = app
        .client
        .get(format!("{}/posts/{post}", app.base_url))
        .header("x-request-id", "trace-posts-42")
        .send()
        .await
        .expect("response");
    assert_eq!(echoed.headers()["x-request-id"], "trace-posts-42");
    let mut seen = std::collections::HashSet::new();
    for path in [
        format!("/users/{ada}/posts"),
        format!("/users/{}/posts", ada + 1),
        "/users/abc/posts".to_owned(),
        "/users/0/posts?limit=0".to_owned(),
        "/posts".to_owned(),
        format!("/posts/{post}"),
        "/posts/0".to_owned(),
        "/posts/abc".to_owned(),
    ] {
        let response = app.get(&path).await;
        let id = response
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{path}: no x-request-id"))
            .to_owned();
        assert!(id.len() >= 16, "{path}: {id}");
        assert!(seen.insert(id), "request ids repeat");
        if response.status >= 400 {
            response.assert_problem(response.status);
        }
    }

    for path in [
        "/posts/",
        "/posts/1/comments",
        "/users/1/posts/1",
        "/users/1/posts/",
        "/POSTS",
    ] {
        app.get(path).await.assert_problem(404);
    }

    let cases = [
        (Method::PATCH, "/posts/1", ["GET", "DELETE"].as_slice()),
        (Method::PUT, "/posts/1", &["GET", "DELETE"]),
        (Method::POST, "/posts/1", &["GET", "DELETE"]),
        (Method::POST, "/posts", &["GET"]),
        (Method::DELETE, "/posts", &["GET"]),
        (Method::PUT, "/users/1/posts", &["GET", "POST"]),
        (Method::DELETE, "/users/1/posts", &["GET", "POST"]),
        (Method::PATCH, "/users/1/posts", &["GET", "POST"]),
    ];
    for (method, path, allowed) in cases {
        let response = app.send(method, path, JSON, Some(b"{}".to_vec())).await;
        response.assert_problem(405);
        assert!(
            response.header("x-request-id").is_some(),
            "{path}: 405 without x-request-id"
        );
        let allow = response.header("allow").expect("Allow header");
        let listed: Vec<&str> = allow.split(',').map(str::trim).collect();
        for method in allowed {
            assert!(
                listed.contains(method),
                "{path}: Allow {allow:?} lacks {method}"
            );
        }
        assert!(
            !listed.contains(&response.method.as_str()),
            "{path}: Allow {allow:?} lists the refused {}",
            response.method
        );
    }
    // The 405s wrote nothing and deleted nothing.
    assert_eq!(super::all_posts(app).await.len(), 1);
}

/// A body sent where nothing reads it (an unknown route, a wrong method, an id that
/// does not parse, a route that takes no body) still gets its documented answer, and
/// the next request on the same keep-alive connection gets its own.
///
/// The race this guards against is rare and timing-bound: without
/// `users_api::unread_body`, the hostile-request tests (`faults/hostile/`) saw a broken
/// pipe or "connection closed before message completed" in 7 of 8 runs of 2,000 cases
/// on tier-orm, and none in 8 runs with it. This deterministic case does not reproduce
/// the race on its own; it pins down the answers those requests must get.
pub(super) async fn unread_bodies_still_get_their_answer(app: &TestApp) {
    let user = app.create_user("Ada", "ada@example.com").await;
    let id = id_of(&user);
    let cases = [
        (Method::POST, "/no/such/route".to_owned(), 404),
        (Method::PUT, format!("/users/{id}"), 405),
        (Method::PATCH, "/users/abc".to_owned(), 400),
        (Method::POST, "/users/abc/posts".to_owned(), 400),
        (Method::DELETE, "/posts/abc".to_owned(), 400),
        (Method::GET, format!("/users/{id}"), 200),
    ];
    for round in 0..40 {
        for (method, path, status) in &cases {
            // Sizes from a few bytes to beyond what one TCP segment carries.
            let body = vec![b'x'; 1 + (round * 997) % 24_000];
            let response = app.send(method.clone(), path, JSON, Some(body)).await;
            response.assert_status(*status);
            app.get(&format!("/users/{id}")).await.assert_status(200);
        }
    }
}
