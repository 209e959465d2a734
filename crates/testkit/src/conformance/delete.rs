//! Deleting users: `DELETE /users/{id}` answers 204, and the user is gone for every
//! method, its email free again.

use serde_json::json;

use super::{all_users, id_of};
use crate::TestApp;

/// DELETE answers 204 with an empty body; the user is then gone.
pub(super) async fn delete_returns_204_then_404(app: &TestApp) {
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
