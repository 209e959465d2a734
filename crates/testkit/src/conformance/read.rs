//! Reading one user: `GET /users/{id}`, with 404 for an id that matches no user and
//! 400 for one that is not a 64-bit integer.

use serde_json::json;

use super::{UNPARSEABLE_IDS, id_of};
use crate::TestApp;

/// `GET /users/{id}` returns what was created.
pub(super) async fn get_returns_the_user(app: &TestApp) {
    let user = app.create_user("Ada", "ada@example.com").await;
    let response = app.get(&format!("/users/{}", id_of(&user))).await;
    response.assert_status(200);
    assert_eq!(response.json(), user);
}

/// Ids that match no user, zero and negative ones included, are 404.
pub(super) async fn get_unknown_id_is_404(app: &TestApp) {
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
pub(super) async fn unparseable_ids_are_400(app: &TestApp) {
    for id in UNPARSEABLE_IDS {
        let path = format!("/users/{id}");
        app.get(&path).await.assert_problem(400);
        app.delete(&path).await.assert_problem(400);
        app.patch_json(&path, &json!({"name": "X"}))
            .await
            .assert_problem(400);
    }
}
