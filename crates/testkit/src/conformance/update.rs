//! Updating users: `PATCH /users/{id}` changes only the members it names, trims and
//! validates like `POST`, and refuses another user's email.

use serde_json::json;

use super::{id_of, loc};
use crate::TestApp;

/// PATCH changes the members it names and keeps the others (and id, created_at).
pub(super) async fn update_changes_only_given_members(app: &TestApp) {
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
pub(super) async fn update_trims_and_validates(app: &TestApp) {
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
pub(super) async fn update_needs_at_least_one_member(app: &TestApp) {
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
pub(super) async fn update_to_anothers_email_is_409(app: &TestApp) {
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
pub(super) async fn recasing_own_email_is_not_a_conflict(app: &TestApp) {
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
pub(super) async fn update_unknown_id_is_404(app: &TestApp) {
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
