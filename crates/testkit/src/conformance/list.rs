//! Listing users: `GET /users` is ascending by id and keyset-paginated (`after_id`,
//! `limit`, a `Link` to the next page), with 400 for query values that do not parse
//! and 422 for those out of range.

use serde_json::json;

use super::{id_of, loc};
use crate::TestApp;

/// The list is ascending by id, only ids after `after_id`, with a `Link` to the next
/// page whenever a page is full.
pub(super) async fn list_is_ascending_and_keyset_paginated(app: &TestApp) {
    let mut ids = Vec::new();
    for index in 0..7 {
        ids.push(id_of(
            &app.create_user(
                &format!("User {index}"),
                &format!("user{index}@example.com"),
            )
            .await,
        ));
    }
    // Deleting one leaves a gap the keyset simply steps over.
    app.delete(&format!("/users/{}", ids[3]))
        .await
        .assert_status(204);
    ids.remove(3);

    let mut seen: Vec<i64> = Vec::new();
    let mut path = "/users?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let response = app.get(&path).await;
        response.assert_status(200);
        let page: Vec<i64> = response
            .json()
            .as_array()
            .expect("array")
            .iter()
            .map(id_of)
            .collect();
        pages += 1;
        seen.extend(&page);
        match response.header("link") {
            Some(link) => {
                assert_eq!(page.len(), 2, "a Link only on full pages");
                let last = page[1];
                assert_eq!(
                    link,
                    format!("</users?limit=2&after_id={last}>; rel=\"next\"")
                );
                path = format!("/users?limit=2&after_id={last}");
            }
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(seen, ids);
    // 6 users in pages of 2: three full pages, then an empty one that has no Link.
    assert_eq!(pages, 4);

    let after = app
        .get(&format!("/users?after_id={}&limit=500", ids[1]))
        .await
        .json();
    let after: Vec<i64> = after.as_array().expect("array").iter().map(id_of).collect();
    assert_eq!(after, ids[2..].to_vec());
}

/// Without `limit`, pages have 50 users.
pub(super) async fn list_defaults_to_50_per_page(app: &TestApp) {
    let client = app.db.connect().await;
    client
        .batch_execute(
            "INSERT INTO users (name, email) \
             SELECT 'User ' || n, 'user' || n || '@example.com' FROM generate_series(1, 51) AS n",
        )
        .await
        .expect("seed 51 users");
    let response = app.get("/users").await;
    response.assert_status(200);
    let page = response.json();
    assert_eq!(page.as_array().map(Vec::len), Some(50));
    let last = id_of(&page[49]);
    assert_eq!(
        response.header("link"),
        Some(format!("</users?limit=50&after_id={last}>; rel=\"next\"").as_str())
    );
    let rest = app.get(&format!("/users?after_id={last}")).await;
    assert_eq!(rest.json().as_array().map(Vec::len), Some(1));
    assert_eq!(rest.header("link"), None);
}

/// An empty table lists as `[]` with no `Link`; so does a page past the end.
pub(super) async fn list_of_nothing_is_an_empty_page(app: &TestApp) {
    let response = app.get("/users").await;
    response.assert_status(200);
    assert_eq!(response.json(), json!([]));
    assert_eq!(response.header("link"), None);
    app.create_user("Ada", "ada@example.com").await;
    let past = app.get(&format!("/users?after_id={}", i64::MAX)).await;
    assert_eq!(past.json(), json!([]));
}

/// Query values that are not integers are 400.
pub(super) async fn list_query_that_does_not_parse_is_400(app: &TestApp) {
    for query in [
        "limit=abc",
        "limit=",
        "limit=1.5",
        "limit=1e2",
        "after_id=x",
        "after_id=99999999999999999999",
        "limit=%FF",
    ] {
        app.get(&format!("/users?{query}"))
            .await
            .assert_problem(400);
    }
}

/// Query values that parse but are out of range are 422, each listed.
pub(super) async fn list_query_out_of_range_is_422(app: &TestApp) {
    let cases = [
        (
            "limit=0",
            vec![(loc(&["query", "limit"]), "greater_than_equal".to_owned())],
        ),
        (
            "limit=-5",
            vec![(loc(&["query", "limit"]), "greater_than_equal".to_owned())],
        ),
        (
            "limit=501",
            vec![(loc(&["query", "limit"]), "less_than_equal".to_owned())],
        ),
        (
            "after_id=-1",
            vec![(loc(&["query", "after_id"]), "greater_than_equal".to_owned())],
        ),
        (
            "limit=0&after_id=-1",
            vec![
                (loc(&["query", "limit"]), "greater_than_equal".to_owned()),
                (loc(&["query", "after_id"]), "greater_than_equal".to_owned()),
            ],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            app.get(&format!("/users?{query}")).await.error_locs(),
            expected,
            "{query}"
        );
    }
    for query in ["limit=1", "limit=500", "after_id=0"] {
        app.get(&format!("/users?{query}")).await.assert_status(200);
    }
}
