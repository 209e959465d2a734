//! Creating users: `POST /users` answers 201 with the stored user, trims, keeps
//! every script intact, and lets exactly one of many clients take an email.

use serde_json::json;

use super::{all_users, id_of, loc};
use crate::{TestApp, TestResponse};

/// `POST /users` answers 201 with `Location: /users/{id}` and the stored user.
pub(super) async fn create_returns_201_with_location_and_body(app: &TestApp) {
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
pub(super) async fn create_trims_name_and_email(app: &TestApp) {
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
pub(super) async fn create_ignores_client_ids_and_timestamps(app: &TestApp) {
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
pub(super) async fn created_at_is_rfc3339_utc_with_microseconds(app: &TestApp) {
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
pub(super) async fn unicode_round_trips_unchanged(app: &TestApp) {
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
pub(super) async fn duplicate_email_in_any_case_is_409(app: &TestApp) {
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

/// A unique violation means a taken email only on the email index. Another unique
/// constraint (one a later migration might add, say on a post's slug) is an internal
/// error, a 500 that names nothing, never a 409 that blames the email.
pub(super) async fn unique_violation_elsewhere_is_no_taken_email(app: &TestApp) {
    app.db
        .connect()
        .await
        .batch_execute("CREATE UNIQUE INDEX users_name_key ON users (name)")
        .await
        .expect("add a second unique index");
    app.create_user("Ada", "ada@example.com").await;
    let response = app
        .post_json(
            "/users",
            &json!({"name": "Ada", "email": "other@example.com"}),
        )
        .await;
    let body = response.assert_problem(500);
    assert!(
        !body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("email"),
        "{body}"
    );
    assert_eq!(all_users(app).await.len(), 1);
}

/// Twenty simultaneous creates of one email: exactly one 201, nineteen 409s.
pub(super) async fn concurrent_creates_of_one_email_one_wins(app: &TestApp) {
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
