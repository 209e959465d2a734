//! Validation of bodies: every failing field listed at once in a 422, FastAPI-style;
//! bodies that are not JSON (400), not declared as JSON (415) or too big (413); and a
//! refused write changes nothing.

use reqwest::Method;
use serde_json::json;

use super::{JSON, all_users, id_of, loc, post_raw};
use crate::TestApp;

/// A 422 lists every failing field at once, FastAPI-style, and creates nothing.
pub(super) async fn create_lists_every_failing_field(app: &TestApp) {
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
pub(super) async fn create_rejects_wrong_types_and_null(app: &TestApp) {
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
pub(super) async fn create_rejects_non_object_bodies(app: &TestApp) {
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
pub(super) async fn name_rules_are_enforced(app: &TestApp) {
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
pub(super) async fn control_characters_in_name_are_422(app: &TestApp) {
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
pub(super) async fn email_syntax_is_enforced(app: &TestApp) {
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
pub(super) async fn email_longer_than_254_is_422(app: &TestApp) {
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
pub(super) async fn malformed_json_is_400(app: &TestApp) {
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
pub(super) async fn missing_or_wrong_content_type_is_415(app: &TestApp) {
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
pub(super) async fn body_over_16_kib_is_413(app: &TestApp) {
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

/// Requests that fail change nothing: the table is as before.
pub(super) async fn failed_writes_change_nothing(app: &TestApp) {
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
