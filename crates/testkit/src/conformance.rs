//! The contract of `API.md`, as test cases every tier must pass.
//!
//! Each `pub async fn` here is one case: it gets a [`TestApp`] (a tier with a fresh,
//! empty database) and talks HTTP to it. The cases know nothing about the tier, so a
//! tier passes them only by serving the contract. [`crate::conformance_suite!`] runs
//! each as its own test; its list of names must match the functions below (a unit test
//! checks this).
//!
//! Every error answer is checked with [`crate::TestResponse::assert_problem`]: status,
//! `application/problem+json`, the RFC 9457 members, `errors` only on 422, and no
//! internal text (SQL, constraint names, driver errors) in the body.

use reqwest::Method;
use serde_json::{Value, json};

use crate::{TestApp, TestResponse};

const JSON: Option<&str> = Some("application/json");

fn loc(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|part| (*part).to_owned()).collect()
}

fn id_of(user: &Value) -> i64 {
    user["id"].as_i64().expect("id is an integer")
}

async fn post_raw(app: &TestApp, body: &[u8]) -> TestResponse {
    app.send(Method::POST, "/users", JSON, Some(body.to_vec()))
        .await
}

/// All users, read through the API page by page (following `Link`). The fault suite
/// uses it too, to compare the table with what clients were told.
pub(crate) async fn all_users(app: &TestApp) -> Vec<Value> {
    let mut users = Vec::new();
    let mut path = "/users?limit=500".to_owned();
    loop {
        let response = app.get(&path).await;
        response.assert_status(200);
        users.extend(response.json().as_array().expect("array").iter().cloned());
        match response.header("link") {
            Some(link) => {
                path = link
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .expect("link target")
                    .to_owned();
            }
            None => return users,
        }
    }
}

// ---------------------------------------------------------------------------------
// Creating users
// ---------------------------------------------------------------------------------

/// `POST /users` answers 201 with `Location: /users/{id}` and the stored user.
pub async fn create_returns_201_with_location_and_body(app: &TestApp) {
    let response = app
        .post_json(
            "/users",
            &json!({"name": "Ada Lovelace", "email": "Ada@Example.com"}),
        )
        .await;
    response.assert_status(201);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let user = response.json();
    let id = id_of(&user);
    assert!(id > 0);
    assert_eq!(
        response.header("location"),
        Some(format!("/users/{id}").as_str())
    );
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["email"], "Ada@Example.com");
    let members: Vec<&String> = user.as_object().expect("object").keys().collect();
    assert_eq!(
        members.len(),
        4,
        "exactly id, name, email, created_at: {user}"
    );

    // The Location is where the user lives.
    let fetched = app.get(&format!("/users/{id}")).await;
    fetched.assert_status(200);
    assert_eq!(fetched.json(), user);
}

/// Surrounding white space (Unicode `White_Space`, as `str::trim`) is trimmed off both
/// fields before they are checked and stored; inner white space is kept.
pub async fn create_trims_name_and_email(app: &TestApp) {
    let user = app
        .create_user(
            "\u{3000}\t Grace  Hopper \n\u{a0}",
            "  grace@navy.mil\u{2003}",
        )
        .await;
    assert_eq!(user["name"], "Grace  Hopper");
    assert_eq!(user["email"], "grace@navy.mil");
    let stored = app.get(&format!("/users/{}", id_of(&user))).await.json();
    assert_eq!(stored["name"], "Grace  Hopper");
}

/// The database assigns `id` and `created_at`; a client that sends them is refused.
pub async fn create_ignores_client_ids_and_timestamps(app: &TestApp) {
    let response = app
        .post_json("/users", &json!({"id": 99, "name": "A", "email": "a@b.co", "created_at": "2000-01-01T00:00:00Z"}))
        .await;
    assert_eq!(
        response.error_locs(),
        vec![
            (loc(&["body", "created_at"]), "extra_forbidden".into()),
            (loc(&["body", "id"]), "extra_forbidden".into()),
        ]
    );
    let first = app.create_user("A", "a@b.co").await;
    let second = app.create_user("B", "b@b.co").await;
    assert!(id_of(&second) > id_of(&first), "ids grow");
}

/// `created_at` is RFC 3339 in UTC with `Z` and exactly six fractional digits.
pub async fn created_at_is_rfc3339_utc_with_microseconds(app: &TestApp) {
    let user = app.create_user("Time", "time@example.com").await;
    let created_at = user["created_at"].as_str().expect("string");
    // 2026-11-26T05:14:52.123456Z
    assert_eq!(created_at.len(), 27, "{created_at}");
    let bytes = created_at.as_bytes();
    assert_eq!(
        (
            bytes[4], bytes[7], bytes[10], bytes[13], bytes[16], bytes[19]
        ),
        (b'-', b'-', b'T', b':', b':', b'.')
    );
    assert!(created_at.ends_with('Z'), "{created_at}");
    assert!(
        created_at[20..26].bytes().all(|b| b.is_ascii_digit()),
        "{created_at}"
    );
    let year: i32 = created_at[..4].parse().expect("year");
    assert!(year >= 2024, "{created_at}");
}

/// Names in any script, emoji and combining marks come back exactly as sent.
pub async fn unicode_round_trips_unchanged(app: &TestApp) {
    let names = [
        "Zoë Ñúñez",
        "李小龍",
        "عبد الله",
        "👩🏽‍💻 Ada",
        "e\u{301}\u{301}",
        &"𝕏".repeat(100),
    ];
    for (index, name) in names.iter().enumerate() {
        let user = app
            .create_user(name, &format!("u{index}@example.com"))
            .await;
        assert_eq!(user["name"], *name);
        let stored = app.get(&format!("/users/{}", id_of(&user))).await.json();
        assert_eq!(stored["name"], *name);
    }
}

/// An email that exists in any letter case is taken: 409, and nothing is created.
pub async fn duplicate_email_in_any_case_is_409(app: &TestApp) {
    app.create_user("Ada", "Ada@Example.com").await;
    for email in [
        "Ada@Example.com",
        "ada@example.com",
        "ADA@EXAMPLE.COM",
        "  aDa@example.Com ",
    ] {
        let response = app
            .post_json("/users", &json!({"name": "Imposter", "email": email}))
            .await;
        let body = response.assert_problem(409);
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("email"),
            "{body}"
        );
    }
    assert_eq!(all_users(app).await.len(), 1);
}

/// Twenty simultaneous creates of one email: exactly one 201, nineteen 409s.
pub async fn concurrent_creates_of_one_email_one_wins(app: &TestApp) {
    let attempts = (0..20).map(|index| {
        let email = if index % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com"
        };
        let body = json!({"name": format!("Racer {index}"), "email": email});
        async move { app.post_json("/users", &body).await }
    });
    // All twenty are in flight at once: `join_all` polls them together on this task.
    let responses = futures::future::join_all(attempts).await;
    let created = responses
        .iter()
        .filter(|response| response.status == 201)
        .count();
    let conflicts: Vec<&TestResponse> = responses
        .iter()
        .filter(|response| response.status == 409)
        .collect();
    assert_eq!(
        (created, conflicts.len()),
        (1, 19),
        "statuses: {:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for conflict in conflicts {
        conflict.assert_problem(409);
    }
    assert_eq!(all_users(app).await.len(), 1);
}

// ---------------------------------------------------------------------------------
// Validation of bodies
// ---------------------------------------------------------------------------------

/// A 422 lists every failing field at once, FastAPI-style, and creates nothing.
pub async fn create_lists_every_failing_field(app: &TestApp) {
    let response = app
        .post_json(
            "/users",
            &json!({"name": "", "email": "not-an-email", "role": "admin"}),
        )
        .await;
    let body = response.assert_problem(422);
    assert_eq!(body["title"], "Unprocessable Content");
    assert_eq!(
        response.error_locs(),
        vec![
            (loc(&["body", "role"]), "extra_forbidden".into()),
            (loc(&["body", "name"]), "string_too_short".into()),
            (loc(&["body", "email"]), "email".into()),
        ]
    );
    for error in body["errors"].as_array().expect("errors") {
        assert!(
            error["msg"].as_str().is_some_and(|msg| !msg.is_empty()),
            "{error}"
        );
    }
    let missing = app.post_json("/users", &json!({})).await;
    assert_eq!(
        missing.error_locs(),
        vec![
            (loc(&["body", "name"]), "missing".into()),
            (loc(&["body", "email"]), "missing".into())
        ]
    );
    assert!(all_users(app).await.is_empty());
}

/// Members of the wrong type, `null` included, are 422 `string_type`.
pub async fn create_rejects_wrong_types_and_null(app: &TestApp) {
    for (name, email) in [
        (json!(42), json!(true)),
        (json!(null), json!(null)),
        (json!(["A"]), json!({"a": 1})),
    ] {
        let response = app
            .post_json("/users", &json!({"name": name, "email": email}))
            .await;
        assert_eq!(
            response.error_locs(),
            vec![
                (loc(&["body", "name"]), "string_type".into()),
                (loc(&["body", "email"]), "string_type".into())
            ],
            "name={name} email={email}"
        );
    }
}

/// A body that is valid JSON but not an object is 422 at `["body"]`.
pub async fn create_rejects_non_object_bodies(app: &TestApp) {
    for body in [&b"[]"[..], b"\"Ada\"", b"42", b"null", b"true"] {
        let response = post_raw(app, body).await;
        assert_eq!(
            response.error_locs(),
            vec![(loc(&["body"]), "object_type".into())],
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

/// Names: 1 to 100 characters (Unicode scalar values) after trimming.
pub async fn name_rules_are_enforced(app: &TestApp) {
    for (name, kind) in [("", "string_too_short"), (" \t\n ", "string_too_short")] {
        let response = app
            .post_json("/users", &json!({"name": name, "email": "n@example.com"}))
            .await;
        assert_eq!(
            response.error_locs(),
            vec![(loc(&["body", "name"]), kind.into())],
            "{name:?}"
        );
    }
    let too_long = "ß".repeat(101);
    let response = app
        .post_json(
            "/users",
            &json!({"name": too_long, "email": "n@example.com"}),
        )
        .await;
    assert_eq!(
        response.error_locs(),
        vec![(loc(&["body", "name"]), "string_too_long".into())]
    );
    // 100 characters of 4 bytes each is fine, and so is 100 after trimming 101.
    app.create_user(&"😀".repeat(100), "emoji@example.com")
        .await;
    app.create_user(&format!(" {} ", "x".repeat(100)), "trimmed@example.com")
        .await;
}

/// A NUL byte, or any other control character (category Cc), in a name is 422, never
/// a database error.
pub async fn control_characters_in_name_are_422(app: &TestApp) {
    for name in [
        "Ada\u{0}",
        "\u{0}",
        "A\u{7}da",
        "A\u{1b}[31mda",
        "A\u{7f}",
        "A\u{9f}",
        "line\nbreak",
    ] {
        let response = app
            .post_json("/users", &json!({"name": name, "email": "c@example.com"}))
            .await;
        assert_eq!(
            response.error_locs(),
            vec![(loc(&["body", "name"]), "control_character".into())],
            "{name:?}"
        );
    }
    // The same NUL written as raw JSON escape text.
    let response = post_raw(app, br#"{"name": "nul\u0000", "email": "c@example.com"}"#).await;
    assert_eq!(
        response.error_locs(),
        vec![(loc(&["body", "name"]), "control_character".into())]
    );
    assert!(all_users(app).await.is_empty());
}

/// Emails follow the WHATWG HTML syntax with a dot in the domain.
pub async fn email_syntax_is_enforced(app: &TestApp) {
    let invalid = [
        "",
        "plain",
        "@example.com",
        "ada@",
        "ada@localhost",
        "ada@@example.com",
        "ada lovelace@example.com",
        "ada@exa_mple.com",
        "ada@-example.com",
        "ada@example-.com",
        "ada@example..com",
        "ada@.example.com",
        "ada@example.com.",
        "adä@example.com",
        "ada@exämple.com",
        "\"ada\"@example.com",
        "ada@[127.0.0.1]",
    ];
    for email in invalid {
        let response = app
            .post_json("/users", &json!({"name": "Ada", "email": email}))
            .await;
        assert_eq!(
            response.error_locs(),
            vec![(loc(&["body", "email"]), "email".into())],
            "{email:?}"
        );
    }
    let valid = [
        "a@b.co",
        "first.last+tag@sub.example.org",
        "o'reilly@example.ie",
        "x!#$%&*/=?^_`{|}~-@a-1.b2",
    ];
    for (index, email) in valid.iter().enumerate() {
        let user = app.create_user(&format!("V{index}"), email).await;
        assert_eq!(user["email"], *email);
    }
}

/// An email longer than 254 characters after trimming is 422 `string_too_long`.
pub async fn email_longer_than_254_is_422(app: &TestApp) {
    let domain = "@example.com";
    let at_limit = format!("{}{domain}", "a".repeat(254 - domain.len()));
    let response = app
        .post_json(
            "/users",
            &json!({"name": "Long", "email": format!("a{at_limit}")}),
        )
        .await;
    assert_eq!(
        response.error_locs(),
        vec![(loc(&["body", "email"]), "string_too_long".into())]
    );
    let user = app.create_user("Long", &format!("  {at_limit}  ")).await;
    assert_eq!(user["email"].as_str().map(str::len), Some(254));
}

/// A body that is not JSON at all is 400, and creates nothing.
pub async fn malformed_json_is_400(app: &TestApp) {
    let bodies: [&[u8]; 8] = [
        b"",
        b"{",
        br#"{"name": "Ada", "email": "ada@example.com""#,
        br#"{"name": "Ada", "email": "ada@example.com"} trailing"#,
        br#"{"name": "\ud800", "email": "ada@example.com"}"#,
        b"{'name': 'Ada'}",
        b"\xff\xfe{}",
        br#"{"name": "Ada", "email": "ada@example.com",}"#,
    ];
    for body in bodies {
        let response = post_raw(app, body).await;
        response.assert_problem(400);
        let patch = app
            .send(Method::PATCH, "/users/1", JSON, Some(body.to_vec()))
            .await;
        patch.assert_problem(400);
    }
    assert!(all_users(app).await.is_empty());
}

/// A body not declared as JSON is 415, whatever it contains.
pub async fn missing_or_wrong_content_type_is_415(app: &TestApp) {
    let body = br#"{"name": "Ada", "email": "ada@example.com"}"#.to_vec();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let response = app
            .send(Method::POST, "/users", content_type, Some(body.clone()))
            .await;
        response.assert_problem(415);
    }
    let user = app.create_user("Ada", "ada@example.com").await;
    let patch = app
        .send(
            Method::PATCH,
            &format!("/users/{}", id_of(&user)),
            Some("text/plain"),
            Some(body),
        )
        .await;
    patch.assert_problem(415);
    // Parameters and letter case do not matter.
    let response = app
        .send(
            Method::POST,
            "/users",
            Some("Application/JSON; charset=utf-8"),
            Some(br#"{"name":"B","email":"b@example.com"}"#.to_vec()),
        )
        .await;
    response.assert_status(201);
}

/// A body over 16 KiB is 413 (and the client still reads the answer); 16 KiB is fine.
pub async fn body_over_16_kib_is_413(app: &TestApp) {
    let padding = " ".repeat(20 * 1024);
    let big = format!(r#"{{"name": "Big", "email": "big@example.com"{padding}}}"#);
    let response = post_raw(app, big.as_bytes()).await;
    response.assert_problem(413);
    let user = app.create_user("Small", "small@example.com").await;
    let patch = app
        .send(
            Method::PATCH,
            &format!("/users/{}", id_of(&user)),
            JSON,
            Some(big.into_bytes()),
        )
        .await;
    patch.assert_problem(413);

    let head = r#"{"name": "Exact", "email": "exact@example.com""#;
    let exact = format!("{head}{}}}", " ".repeat(16 * 1024 - head.len() - 1));
    assert_eq!(exact.len(), 16 * 1024);
    post_raw(app, exact.as_bytes()).await.assert_status(201);
    assert_eq!(all_users(app).await.len(), 2);
}

// ---------------------------------------------------------------------------------
// Reading users
// ---------------------------------------------------------------------------------

/// `GET /users/{id}` returns what was created.
pub async fn get_returns_the_user(app: &TestApp) {
    let user = app.create_user("Ada", "ada@example.com").await;
    let response = app.get(&format!("/users/{}", id_of(&user))).await;
    response.assert_status(200);
    assert_eq!(response.json(), user);
}

/// Ids that match no user, zero and negative ones included, are 404.
pub async fn get_unknown_id_is_404(app: &TestApp) {
    let user = app.create_user("Ada", "ada@example.com").await;
    for id in [id_of(&user) + 1, 0, -1, i64::MAX, i64::MIN] {
        let body = app.get(&format!("/users/{id}")).await.assert_problem(404);
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(&id.to_string()),
            "{body}"
        );
    }
}

/// An `{id}` that is not a 64-bit integer is 400 on every method.
pub async fn unparseable_ids_are_400(app: &TestApp) {
    for id in [
        "abc",
        "1.5",
        "9223372036854775808",
        "-9223372036854775809",
        "1e3",
        "%20",
        "0x10",
        "%FF",
    ] {
        let path = format!("/users/{id}");
        app.get(&path).await.assert_problem(400);
        app.delete(&path).await.assert_problem(400);
        app.patch_json(&path, &json!({"name": "X"}))
            .await
            .assert_problem(400);
    }
}

/// The list is ascending by id, only ids after `after_id`, with a `Link` to the next
/// page whenever a page is full.
pub async fn list_is_ascending_and_keyset_paginated(app: &TestApp) {
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
pub async fn list_defaults_to_50_per_page(app: &TestApp) {
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
pub async fn list_of_nothing_is_an_empty_page(app: &TestApp) {
    let response = app.get("/users").await;
    response.assert_status(200);
    assert_eq!(response.json(), json!([]));
    assert_eq!(response.header("link"), None);
    app.create_user("Ada", "ada@example.com").await;
    let past = app.get(&format!("/users?after_id={}", i64::MAX)).await;
    assert_eq!(past.json(), json!([]));
}

/// Query values that are not integers are 400.
pub async fn list_query_that_does_not_parse_is_400(app: &TestApp) {
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
pub async fn list_query_out_of_range_is_422(app: &TestApp) {
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

// ---------------------------------------------------------------------------------
// Updating and deleting
// ---------------------------------------------------------------------------------

/// PATCH changes the members it names and keeps the others (and id, created_at).
pub async fn update_changes_only_given_members(app: &TestApp) {
    let user = app.create_user("Ada", "ada@example.com").await;
    let path = format!("/users/{}", id_of(&user));
    let renamed = app.patch_json(&path, &json!({"name": "Ada King"})).await;
    renamed.assert_status(200);
    let renamed = renamed.json();
    assert_eq!(
        (renamed["name"].as_str(), renamed["email"].as_str()),
        (Some("Ada King"), Some("ada@example.com"))
    );
    assert_eq!(
        (&renamed["id"], &renamed["created_at"]),
        (&user["id"], &user["created_at"])
    );

    let moved = app
        .patch_json(&path, &json!({"email": "countess@example.com"}))
        .await
        .json();
    assert_eq!(
        (moved["name"].as_str(), moved["email"].as_str()),
        (Some("Ada King"), Some("countess@example.com"))
    );
    let both = app
        .patch_json(&path, &json!({"name": "A", "email": "a@example.com"}))
        .await
        .json();
    assert_eq!(
        (both["name"].as_str(), both["email"].as_str()),
        (Some("A"), Some("a@example.com"))
    );
    assert_eq!(app.get(&path).await.json(), both);
}

/// PATCH trims and validates like POST, lists every failure, and changes nothing when
/// anything fails.
pub async fn update_trims_and_validates(app: &TestApp) {
    let user = app.create_user("Ada", "ada@example.com").await;
    let path = format!("/users/{}", id_of(&user));
    let trimmed = app
        .patch_json(&path, &json!({"name": "  Ada B  "}))
        .await
        .json();
    assert_eq!(trimmed["name"], "Ada B");
    let response = app
        .patch_json(&path, &json!({"name": "ok", "email": "nope", "id": 5}))
        .await;
    assert_eq!(
        response.error_locs(),
        vec![
            (loc(&["body", "id"]), "extra_forbidden".into()),
            (loc(&["body", "email"]), "email".into())
        ]
    );
    let response = app.patch_json(&path, &json!({"name": null})).await;
    assert_eq!(
        response.error_locs(),
        vec![(loc(&["body", "name"]), "string_type".into())]
    );
    // The valid `name` of the failed request above was not applied.
    assert_eq!(app.get(&path).await.json()["name"], "Ada B");
}

/// `{}` is 422: a PATCH must change something.
pub async fn update_needs_at_least_one_member(app: &TestApp) {
    let user = app.create_user("Ada", "ada@example.com").await;
    let response = app
        .patch_json(&format!("/users/{}", id_of(&user)), &json!({}))
        .await;
    assert_eq!(
        response.error_locs(),
        vec![(loc(&["body"]), "empty_update".into())]
    );
    let response = app
        .patch_json(&format!("/users/{}", id_of(&user)), &json!([]))
        .await;
    assert_eq!(
        response.error_locs(),
        vec![(loc(&["body"]), "object_type".into())]
    );
}

/// Taking another user's email, in any letter case, is 409 and changes nothing.
pub async fn update_to_anothers_email_is_409(app: &TestApp) {
    app.create_user("Ada", "ada@example.com").await;
    let grace = app.create_user("Grace", "grace@example.com").await;
    let path = format!("/users/{}", id_of(&grace));
    for email in ["ada@example.com", "ADA@example.com"] {
        app.patch_json(&path, &json!({"name": "Grace H", "email": email}))
            .await
            .assert_problem(409);
    }
    assert_eq!(app.get(&path).await.json(), grace);
}

/// Changing only the letter case of your own email is no conflict.
pub async fn recasing_own_email_is_not_a_conflict(app: &TestApp) {
    let user = app.create_user("Ada", "ada@example.com").await;
    let path = format!("/users/{}", id_of(&user));
    let response = app
        .patch_json(&path, &json!({"email": "Ada@Example.COM"}))
        .await;
    response.assert_status(200);
    assert_eq!(response.json()["email"], "Ada@Example.COM");
    let same = app
        .patch_json(&path, &json!({"email": "Ada@Example.COM"}))
        .await;
    same.assert_status(200);
}

/// PATCH of an id that matches no user is 404 (after the body is found valid).
pub async fn update_unknown_id_is_404(app: &TestApp) {
    for id in [1, 0, -7] {
        app.patch_json(&format!("/users/{id}"), &json!({"name": "Nobody"}))
            .await
            .assert_problem(404);
    }
    // An invalid body is reported first, whatever the id.
    app.patch_json("/users/1", &json!({"name": ""}))
        .await
        .assert_problem(422);
}

/// DELETE answers 204 with an empty body; the user is then gone.
pub async fn delete_returns_204_then_404(app: &TestApp) {
    let user = app.create_user("Ada", "ada@example.com").await;
    let other = app.create_user("Grace", "grace@example.com").await;
    let path = format!("/users/{}", id_of(&user));
    let response = app.delete(&path).await;
    response.assert_status(204);
    assert!(response.body.is_empty());
    app.get(&path).await.assert_problem(404);
    app.delete(&path).await.assert_problem(404);
    app.patch_json(&path, &json!({"name": "Ghost"}))
        .await
        .assert_problem(404);
    assert_eq!(all_users(app).await, vec![other]);
    // The email is free again.
    app.create_user("Ada again", "ADA@example.com").await;
}

// ---------------------------------------------------------------------------------
// Routing, headers, documentation
// ---------------------------------------------------------------------------------

/// Unknown routes are 404 in problem+json.
pub async fn unknown_route_is_404_problem(app: &TestApp) {
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
pub async fn wrong_method_is_405_with_allow(app: &TestApp) {
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
pub async fn health_is_ok(app: &TestApp) {
    let response = app.get("/health").await;
    response.assert_status(200);
    assert_eq!(response.json(), json!({"status": "ok"}));
}

/// Every response carries `x-request-id`: the caller's, or a fresh one.
pub async fn request_id_is_echoed_or_generated(app: &TestApp) {
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

/// `/openapi.json` describes every route, with the statuses the contract names.
pub async fn openapi_documents_every_route_and_status(app: &TestApp) {
    let response = app.get("/openapi.json").await;
    response.assert_status(200);
    let doc = response.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let expected: [(&str, &str, &[&str]); 6] = [
        (
            "/users",
            "post",
            &["201", "400", "409", "413", "415", "422", "503"],
        ),
        ("/users", "get", &["200", "400", "422", "503"]),
        ("/users/{id}", "get", &["200", "400", "404", "503"]),
        (
            "/users/{id}",
            "patch",
            &["200", "400", "404", "409", "413", "415", "422", "503"],
        ),
        ("/users/{id}", "delete", &["204", "400", "404", "503"]),
        ("/health", "get", &["200", "503"]),
    ];
    for (path, method, statuses) in expected {
        let responses = &doc["paths"][path][method]["responses"];
        assert!(responses.is_object(), "{method} {path} is not documented");
        for status in statuses {
            assert!(
                responses[*status].is_object(),
                "{method} {path}: status {status} is not documented"
            );
        }
    }
    for schema in [
        "UserRead",
        "UserCreate",
        "UserUpdate",
        "Problem",
        "FieldError",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
}

/// `/docs` is Swagger UI, served entirely by the binary: no outside URL is needed.
pub async fn docs_are_served_without_internet(app: &TestApp) {
    let page = app.get("/docs/").await;
    page.assert_status(200);
    let html = page.text();
    assert!(html.contains("swagger-ui"), "not Swagger UI: {html}");
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-initializer.js",
    ] {
        let response = app.get(&format!("/docs/{asset}")).await;
        response.assert_status(200);
        assert!(response.body.len() > 100, "{asset} is empty");
    }
    let initializer = app.get("/docs/swagger-initializer.js").await.text();
    assert!(initializer.contains("/openapi.json"), "{initializer}");
    let compact: String = initializer.split_whitespace().collect();
    assert!(
        compact.contains("\"validatorUrl\":\"none\""),
        "validator badge calls out: {initializer}"
    );
    for text in [&html, &initializer] {
        assert!(
            !text.contains("https://"),
            "an outside URL in /docs: {text}"
        );
        assert!(!text.contains("http://"), "an outside URL in /docs: {text}");
    }
}

/// Requests that fail change nothing: the table is as before.
pub async fn failed_writes_change_nothing(app: &TestApp) {
    let user = app.create_user("Ada", "ada@example.com").await;
    let other = app.create_user("Grace", "grace@example.com").await;
    let before = all_users(app).await;
    let path = format!("/users/{}", id_of(&other));
    let attempts = [
        app.post_json(
            "/users",
            &json!({"name": "Ada", "email": "ADA@example.com"}),
        )
        .await,
        app.post_json(
            "/users",
            &json!({"name": "\u{0}", "email": "x@example.com"}),
        )
        .await,
        app.patch_json(&path, &json!({"email": "Ada@Example.com"}))
            .await,
        app.patch_json(&path, &json!({"name": "", "email": "g@example.com"}))
            .await,
        app.send(
            Method::PATCH,
            &path,
            Some("text/plain"),
            Some(b"{\"name\":\"X\"}".to_vec()),
        )
        .await,
        app.delete("/users/0").await,
    ];
    for response in &attempts {
        assert!(
            response.status >= 400,
            "{} {} succeeded",
            response.method,
            response.path
        );
        response.assert_no_internal_text();
    }
    assert_eq!(all_users(app).await, before);
    assert_eq!(
        app.get(&format!("/users/{}", id_of(&user))).await.json(),
        user
    );
}
