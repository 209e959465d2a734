//! Batch create, `POST /users/batch`: 1 to 100 users in one transaction, all or none.
//! A 201 lists the users in request order; a 422 lists every failing field of every
//! entry at `["body", "users", INDEX, ...]` (INDEX an integer from 0); a 409 lists
//! every entry whose email is taken or repeats an earlier entry; validation comes
//! before conflicts; and a refused batch writes nothing, not even its valid entries.
//! The 405s of `/users/batch` and `/users/export` (routes of their own, never ids) are
//! here too.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use super::{JSON, all_users, id_of, loc, member_names, member_names_at};
use crate::{TEST_POOL_SIZE, TestApp, TestResponse};

const BATCH: &str = "/users/batch";

fn user(name: &str, email: &str) -> Value {
    json!({"name": name, "email": email})
}

async fn post_batch(app: &TestApp, users: Value) -> TestResponse {
    app.post_json(BATCH, &json!({"users": users})).await
}

/// The `(loc, type)` pairs a 422 must list, as [`TestResponse::error_locs`] gives them.
type Locs = Vec<(Vec<String>, &'static str)>;

/// The 409 error the contract gives entry `index` of a batch whose email is taken.
fn taken(index: usize) -> Value {
    json!({"loc": ["body", "users", index, "email"], "msg": "email already taken", "type": "conflict"})
}

/// Fails the test unless every entry index in the `loc`s of `body["errors"]` is a JSON
/// integer: [`TestResponse::error_locs`] renders `3` and `"3"` alike.
fn assert_indexes_are_integers(body: &Value) {
    for error in body["errors"].as_array().expect("errors") {
        let loc = error["loc"].as_array().expect("loc");
        if loc.len() > 2 && loc[1] == "users" {
            assert!(loc[2].is_u64(), "an index that is not an integer: {error}");
        }
    }
}

/// A batch is 201 with exactly `{"users": [...]}`, one user per entry in request
/// order, each trimmed as `POST /users` trims, each with a distinct id and the members
/// of `GET /users/{id}` in its order, and each readable there afterwards. The contract
/// names no `Location` for a batch (it has no one place), so none is asserted; the
/// cross-tier script checks that all tiers agree on it.
pub(super) async fn batch_returns_201_with_users_in_request_order(app: &TestApp) {
    let sent = [
        ("\u{3000} Zoë Ñúñez\t", " Zoe@Example.com\u{a0}"),
        ("Ada Lovelace", "ada@example.com"),
        ("李小龍 👩🏽‍💻", "BRUCE@example.com"),
        ("Mallory", "m@example.co"),
    ];
    let entries: Vec<Value> = sent.iter().map(|(name, email)| user(name, email)).collect();
    let response = post_batch(app, json!(entries)).await;
    response.assert_status(201);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let text = response.text();
    assert_eq!(member_names(&text), ["users"], "{text}");
    let body = response.json();
    let users = body["users"].as_array().expect("users is an array");
    assert_eq!(users.len(), sent.len(), "{body}");
    for (user, (name, email)) in users.iter().zip(sent) {
        assert_eq!(user["name"], name.trim(), "{body}");
        assert_eq!(user["email"], email.trim(), "{body}");
    }
    let order = ["id", "name", "email", "created_at"].map(String::from);
    assert_eq!(member_names_at(&text, 3), vec![order; sent.len()], "{text}");
    let ids: HashSet<i64> = users.iter().map(id_of).collect();
    assert_eq!(ids.len(), users.len(), "ids repeat: {body}");
    for user in users {
        let fetched = app.get(&format!("/users/{}", id_of(user))).await;
        fetched.assert_status(200);
        assert_eq!(&fetched.json(), user);
    }
    let mut listed = all_users(app).await;
    let mut expected = users.clone();
    listed.sort_by_key(id_of);
    expected.sort_by_key(id_of);
    assert_eq!(listed, expected);
}

/// A 422 lists every failing field of every entry, at `["body", "users", INDEX, ...]`
/// with INDEX a JSON integer, and an entry that is not an object at
/// `["body", "users", INDEX]`; the valid entries around them are not written.
pub(super) async fn batch_422_lists_every_failing_field_of_every_entry(app: &TestApp) {
    app.create_user("Ada", "ada@example.com").await;
    let before = all_users(app).await;
    let response = post_batch(
        app,
        json!([
            user("Fine", "fine@example.com"),
            {"name": "", "email": "not-an-email"},
            user("Also fine", "also@example.com"),
            {"name": 5, "role": "admin"},
            "not a user",
            {"name": "\u{0}", "email": "x@example.com", "id": 9},
            {"name": "x".repeat(101), "email": null},
        ]),
    )
    .await;
    let body = response.assert_problem(422);
    assert_indexes_are_integers(&body);
    let at = |index: &str, field: &str| loc(&["body", "users", index, field]);
    assert_eq!(
        response.error_locs(),
        vec![
            (at("1", "name"), "string_too_short".into()),
            (at("1", "email"), "email".into()),
            (at("3", "role"), "extra_forbidden".into()),
            (at("3", "name"), "string_type".into()),
            (at("3", "email"), "missing".into()),
            (loc(&["body", "users", "4"]), "object_type".into()),
            (at("5", "id"), "extra_forbidden".into()),
            (at("5", "name"), "control_character".into()),
            (at("6", "name"), "string_too_long".into()),
            (at("6", "email"), "string_type".into()),
        ]
    );
    assert_eq!(all_users(app).await, before);
}

/// The list itself is checked: empty, over 100, missing, not a list, an unknown member
/// beside it, a body that is not an object, entries that are not objects. Each is a
/// 422 at the place the contract names, and writes nothing.
pub(super) async fn batch_422_when_the_list_itself_is_wrong(app: &TestApp) {
    let one = json!([user("A", "a@example.com")]);
    let over: Vec<Value> = (0..101)
        .map(|i| user(&format!("U{i}"), &format!("u{i}@x.co")))
        .collect();
    let users = || loc(&["body", "users"]);
    let cases: Vec<(Value, Locs)> = vec![
        (json!({"users": []}), vec![(users(), "too_short")]),
        (json!({"users": over}), vec![(users(), "too_long")]),
        (json!({}), vec![(users(), "missing")]),
        (json!({"users": null}), vec![(users(), "list_type")]),
        (json!({"users": one[0]}), vec![(users(), "list_type")]),
        (json!({"users": "A"}), vec![(users(), "list_type")]),
        (
            json!({"users": one, "extra": 1}),
            vec![(loc(&["body", "extra"]), "extra_forbidden")],
        ),
        (
            json!({"user": one}),
            vec![
                (loc(&["body", "user"]), "extra_forbidden"),
                (users(), "missing"),
            ],
        ),
        (
            json!({"users": [1, null, [], "x", true]}),
            (0..5)
                .map(|i| (loc(&["body", "users", &i.to_string()]), "object_type"))
                .collect(),
        ),
        (json!(one), vec![(loc(&["body"]), "object_type")]),
    ];
    for (body, expected) in cases {
        let bytes = serde_json::to_vec(&body).expect("serialize");
        let response = app.send(Method::POST, BATCH, JSON, Some(bytes)).await;
        assert_indexes_are_integers(&response.assert_problem(422));
        let expected: Vec<(Vec<String>, String)> = expected
            .into_iter()
            .map(|(loc, kind)| (loc, kind.to_owned()))
            .collect();
        assert_eq!(response.error_locs(), expected, "{body}");
    }
    assert!(all_users(app).await.is_empty());
}

/// Validation runs first: a batch with an invalid entry and a taken email (and a
/// repeat within it) is a 422 that lists only the invalid field.
pub(super) async fn batch_validation_runs_before_conflicts(app: &TestApp) {
    app.create_user("Ada", "Ada@Example.com").await;
    let response = post_batch(
        app,
        json!([
            user("Imposter", "ADA@example.com"),
            user("", "new@example.com"),
            user("Twin", "NEW@example.com"),
        ]),
    )
    .await;
    assert_eq!(
        response.error_locs(),
        vec![(
            loc(&["body", "users", "1", "name"]),
            "string_too_short".into()
        )]
    );
    assert_eq!(all_users(app).await.len(), 1);
}

/// Emails taken by an existing user (in another letter case) and repeats within the
/// batch (case-insensitively; the later entry listed, once even if it is both) are one
/// 409 listing exactly those entries, ascending, with the contract's `loc`, `msg` and
/// `type`. Nothing of the batch is written, its valid entries included.
pub(super) async fn batch_conflicts_are_one_409_listing_each_entry(app: &TestApp) {
    let ada = app.create_user("Ada", "Ada@Example.com").await;
    let response = post_batch(
        app,
        json!([
            user("New", "new@example.com"),
            user("Imposter", "ada@EXAMPLE.com"),
            user("Bea", "bea@example.com"),
            user("Bea again", " BEA@example.COM "),
            user("Cy", "cy@example.com"),
            user("Bea thrice", "bea@example.com"),
            user("Imposter twice", "ADA@example.com"),
        ]),
    )
    .await;
    assert_eq!(
        response.batch_conflicts(),
        [1, 3, 5, 6].map(taken),
        "{}",
        response.text()
    );
    assert_eq!(all_users(app).await, vec![ada.clone()]);

    // A repeat alone, with no existing user involved, is a conflict too.
    let response = post_batch(
        app,
        json!([user("A", "twin@example.com"), user("B", "TWIN@example.com")]),
    )
    .await;
    assert_eq!(response.batch_conflicts(), [taken(1)]);
    assert_eq!(all_users(app).await, vec![ada]);
}

/// After 409s (several at once, so more than one pooled connection rolls back), the
/// same batch without its conflicting entries is 201, and every connection serves the
/// next requests: no transaction was left open or aborted.
pub(super) async fn batch_minus_its_conflicts_is_201_after_a_409(app: &TestApp) {
    app.create_user("Ada", "ada@example.com").await;
    let conflicting = json!([
        user("New", "new@example.com"),
        user("Imposter", "ADA@example.com"),
        user("Twin", "twin@example.com"),
        user("Twin again", "Twin@Example.com"),
    ]);
    let refused = (0..2 * TEST_POOL_SIZE).map(|_| post_batch(app, conflicting.clone()));
    for response in futures::future::join_all(refused).await {
        assert_eq!(response.batch_conflicts(), [taken(1), taken(3)]);
    }
    assert_eq!(all_users(app).await.len(), 1);

    let response = post_batch(
        app,
        json!([
            user("New", "new@example.com"),
            user("Twin", "twin@example.com")
        ]),
    )
    .await;
    response.assert_status(201);
    let names: Vec<Value> = response.json()["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|user| user["name"].clone())
        .collect();
    assert_eq!(names, [json!("New"), json!("Twin")]);
    let after = (0..2 * TEST_POOL_SIZE).map(|i| async move {
        app.create_user(&format!("After {i}"), &format!("after{i}@example.com"))
            .await
    });
    futures::future::join_all(after).await;
    assert_eq!(all_users(app).await.len(), 3 + 2 * TEST_POOL_SIZE);
}

/// 100 entries, the most a batch holds, are one 201 (their body well under the 16 KiB
/// limit); a conflict at the last of them refuses all 100.
pub(super) async fn batch_of_100_entries_is_201(app: &TestApp) {
    let entries: Vec<Value> = (0..100)
        .map(|i| user(&format!("U{i}"), &format!("u{i}@x.co")))
        .collect();
    let size = serde_json::to_vec(&json!({"users": entries}))
        .expect("serialize")
        .len();
    assert!(size < 16 * 1024, "the batch is {size} bytes");

    let holder = app.create_user("Holder", "U99@X.CO").await;
    let response = post_batch(app, json!(entries)).await;
    assert_eq!(response.batch_conflicts(), [taken(99)]);
    assert_eq!(all_users(app).await, vec![holder.clone()]);
    app.delete(&format!("/users/{}", id_of(&holder)))
        .await
        .assert_status(204);

    let response = post_batch(app, json!(entries)).await;
    response.assert_status(201);
    let body = response.json();
    let users = body["users"].as_array().expect("users");
    let names: Vec<&str> = users
        .iter()
        .map(|user| user["name"].as_str().expect("name"))
        .collect();
    let expected: Vec<String> = (0..100).map(|i| format!("U{i}")).collect();
    assert_eq!(names, expected);
    let ids: HashSet<i64> = users.iter().map(id_of).collect();
    assert_eq!(ids.len(), 100);
    assert_eq!(all_users(app).await.len(), 100);
}

/// `/users/batch` and `/users/export` are routes of their own, never a user id: a
/// method they do not serve is a 405 in problem+json (with `x-request-id`), with
/// `Allow: POST` exactly on `/users/batch` and an `Allow` holding GET on
/// `/users/export`, and nothing is read, changed or deleted as user "batch".
pub(super) async fn batch_and_export_are_routes_not_ids(app: &TestApp) {
    let ada = app.create_user("Ada", "ada@example.com").await;
    let cases = [
        (Method::GET, BATCH),
        (Method::PATCH, BATCH),
        (Method::DELETE, BATCH),
        (Method::PUT, BATCH),
        (Method::POST, "/users/export"),
        (Method::PATCH, "/users/export"),
        (Method::DELETE, "/users/export"),
    ];
    for (method, path) in cases {
        let body = serde_json::to_vec(&json!({"name": "X"})).expect("serialize");
        let response = app.send(method.clone(), path, JSON, Some(body)).await;
        response.assert_problem(405);
        assert!(
            response.header("x-request-id").is_some(),
            "{method} {path}: 405 without x-request-id"
        );
        let allow = response.header("allow").expect("Allow header");
        let listed: HashSet<&str> = allow.split(',').map(str::trim).collect();
        if path == BATCH {
            assert_eq!(listed, HashSet::from(["POST"]), "{method} {path}: {allow}");
        } else {
            assert!(listed.contains("GET"), "{method} {path}: {allow}");
            assert!(
                !listed.contains(method.as_str()),
                "{method} {path}: {allow}"
            );
        }
    }
    assert_eq!(all_users(app).await, vec![ada]);
}

/// A batch body is read as `POST /users` reads one: not declared as JSON is 415,
/// not JSON is 400, over 16 KiB is 413; none writes anything, and a JSON type with
/// parameters and other letter case is accepted.
pub(super) async fn batch_bodies_not_json_are_400_415_413(app: &TestApp) {
    let valid = br#"{"users": [{"name": "A", "email": "a@example.com"}]}"#.to_vec();
    for content_type in [None, Some("text/plain"), Some("application/x-ndjson")] {
        let response = app
            .send(Method::POST, BATCH, content_type, Some(valid.clone()))
            .await;
        response.assert_problem(415);
    }
    for body in [
        &b""[..],
        b"{\"users\": [",
        b"{\"users\": []} trailing",
        b"{\"users\": [{\"name\": \"\\ud800\", \"email\": \"a@example.com\"}]}",
    ] {
        let response = app
            .send(Method::POST, BATCH, JSON, Some(body.to_vec()))
            .await;
        response.assert_problem(400);
    }
    let padding = " ".repeat(20 * 1024);
    let big = format!(r#"{{"users": [{{"name": "A", "email": "a@example.com"}}]{padding}}}"#);
    let response = app
        .send(Method::POST, BATCH, JSON, Some(big.into_bytes()))
        .await;
    response.assert_problem(413);
    assert!(all_users(app).await.is_empty());
    let response = app
        .send(
            Method::POST,
            BATCH,
            Some("Application/JSON; charset=utf-8"),
            Some(valid),
        )
        .await;
    response.assert_status(201);
}
