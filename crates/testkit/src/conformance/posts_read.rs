//! Reading and deleting posts: `GET /users/{id}/posts` (one user's posts), `GET
//! /posts` (everyone's, each with its `author` embedded as the last member), both
//! ascending and keyset-paginated with a `Link` like `/users`; `GET /posts/{id}`;
//! `DELETE /posts/{id}`; and the cascade: deleting a user deletes their posts.

use serde_json::{Value, json};

use super::posts::POST_MEMBERS;
use super::{all_posts, id_of, loc, member_names, member_names_at, pages};
use crate::TestApp;

/// The members of a post with its author: the post's, then `author` last.
const POST_WITH_AUTHOR_MEMBERS: [&str; 6] =
    ["id", "user_id", "title", "body", "created_at", "author"];

/// The members of a user, as `GET /users/{id}` writes them.
const USER_MEMBERS: [&str; 4] = ["id", "name", "email", "created_at"];

/// `post` with its author embedded, as `GET /posts` and `GET /posts/{id}` must show it:
/// the author exactly as `GET /users/{user_id}` answers now.
async fn with_author(app: &TestApp, post: &Value) -> Value {
    let author = app.get(&format!("/users/{}", post["user_id"])).await;
    author.assert_status(200);
    let mut expected = post.clone();
    expected["author"] = author.json();
    expected
}

/// Seeds `count` posts by `user_id` straight into the database (faster than the API).
async fn seed_posts(app: &TestApp, user_id: i64, count: i64) {
    app.db
        .connect()
        .await
        .execute(
            "INSERT INTO posts (user_id, title, body) \
             SELECT $1, 'Post ' || n, 'Body ' || n FROM generate_series(1, $2::bigint) AS n",
            &[&user_id, &count],
        )
        .await
        .expect("seed posts");
}

/// One user's posts: ascending, only theirs, keyset pages of `limit` with a `Link`
/// (`</users/{id}/posts?limit=L&after_id=LAST>; rel="next"`) only on a full page;
/// the posts without an author, exactly as created.
pub(super) async fn user_posts_are_ascending_and_keyset_paginated(app: &TestApp) {
    let ada = id_of(&app.create_user("Ada", "ada@example.com").await);
    let grace = id_of(&app.create_user("Grace", "grace@example.com").await);
    let mut adas = Vec::new();
    let mut graces = Vec::new();
    for index in 0..7 {
        adas.push(app.create_post(ada, &format!("Ada {index}"), "A").await);
        if index % 2 == 0 {
            graces.push(app.create_post(grace, &format!("Grace {index}"), "G").await);
        }
    }
    // Deleting one leaves a gap the keyset simply steps over.
    app.delete(&format!("/posts/{}", id_of(&adas[3])))
        .await
        .assert_status(204);
    adas.remove(3);

    let base = format!("/users/{ada}/posts");
    let ada_pages = pages(app, &base, 2).await;
    // 6 posts in pages of 2: three full pages, then an empty one that has no Link.
    assert_eq!(ada_pages.len(), 4);
    assert_eq!(ada_pages.concat(), adas);
    assert_eq!(
        pages(app, &format!("/users/{grace}/posts"), 500)
            .await
            .concat(),
        graces
    );
    assert_eq!(
        pages(app, &format!("/users/{grace}/posts"), 1).await.len(),
        5
    );

    let response = app.get(&format!("{base}?limit=500")).await;
    for names in member_names_at(&response.text(), 2) {
        assert_eq!(names, POST_MEMBERS, "a user's posts come without an author");
    }
    let after = app
        .get(&format!("{base}?after_id={}&limit=500", id_of(&adas[1])))
        .await
        .json();
    assert_eq!(after.as_array().map(Vec::as_slice), Some(&adas[2..]));
    let past = app.get(&format!("{base}?after_id={}", i64::MAX)).await;
    past.assert_status(200);
    assert_eq!((past.json(), past.header("link")), (json!([]), None));
}

/// Without `limit`, pages of both lists have 50 posts, and the `Link` says so.
pub(super) async fn post_lists_default_to_50_per_page(app: &TestApp) {
    let ada = id_of(&app.create_user("Ada", "ada@example.com").await);
    let grace = id_of(&app.create_user("Grace", "grace@example.com").await);
    seed_posts(app, grace, 3).await;
    seed_posts(app, ada, 51).await;
    for base in [format!("/users/{ada}/posts"), "/posts".to_owned()] {
        let response = app.get(&base).await;
        response.assert_status(200);
        let page = response.json();
        assert_eq!(page.as_array().map(Vec::len), Some(50), "{base}");
        let last = id_of(&page[49]);
        assert_eq!(
            response.header("link"),
            Some(format!("<{base}?limit=50&after_id={last}>; rel=\"next\"").as_str())
        );
        let rest = app.get(&format!("{base}?after_id={last}")).await;
        let expected_rest = if base == "/posts" { 4 } else { 1 };
        assert_eq!(
            rest.json().as_array().map(Vec::len),
            Some(expected_rest),
            "{base}"
        );
        assert_eq!(rest.header("link"), None);
    }
}

/// A user with no posts has an empty list (200 `[]`, no `Link`); a user that does not
/// exist (0 and negative ids included, and one deleted) is a 404.
pub(super) async fn user_posts_of_nobody_is_404_and_of_no_posts_empty(app: &TestApp) {
    let ada = id_of(&app.create_user("Ada", "ada@example.com").await);
    let response = app.get(&format!("/users/{ada}/posts")).await;
    response.assert_status(200);
    assert_eq!(
        (response.json(), response.header("link")),
        (json!([]), None)
    );
    let gone = id_of(&app.create_user("Gone", "gone@example.com").await);
    app.create_post(gone, "Soon gone", "").await;
    app.delete(&format!("/users/{gone}"))
        .await
        .assert_status(204);
    for id in [gone, ada + 100, 0, -1, i64::MAX, i64::MIN] {
        let problem = app
            .get(&format!("/users/{id}/posts"))
            .await
            .assert_problem(404);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(&id.to_string()),
            "{problem}"
        );
    }
}

/// `limit` and `after_id` on both post lists: 400 when they do not parse, 422 (each
/// listed) when out of range, as on `/users`.
pub(super) async fn post_list_queries_are_checked_like_users(app: &TestApp) {
    let ada = id_of(&app.create_user("Ada", "ada@example.com").await);
    let out_of_range = [
        (
            "limit=0",
            vec![(loc(&["query", "limit"]), "greater_than_equal")],
        ),
        (
            "limit=-5",
            vec![(loc(&["query", "limit"]), "greater_than_equal")],
        ),
        (
            "limit=501",
            vec![(loc(&["query", "limit"]), "less_than_equal")],
        ),
        (
            "after_id=-1",
            vec![(loc(&["query", "after_id"]), "greater_than_equal")],
        ),
        (
            "limit=0&after_id=-1",
            vec![
                (loc(&["query", "limit"]), "greater_than_equal"),
                (loc(&["query", "after_id"]), "greater_than_equal"),
            ],
        ),
    ];
    for base in [format!("/users/{ada}/posts"), "/posts".to_owned()] {
        for query in [
            "limit=abc",
            "limit=",
            "limit=1.5",
            "after_id=x",
            "after_id=99999999999999999999",
            "limit=%FF",
        ] {
            app.get(&format!("{base}?{query}"))
                .await
                .assert_problem(400);
        }
        for (query, expected) in &out_of_range {
            let expected: Vec<(Vec<String>, String)> = expected
                .iter()
                .map(|(loc, kind)| (loc.clone(), (*kind).to_owned()))
                .collect();
            let response = app.get(&format!("{base}?{query}")).await;
            assert_eq!(response.error_locs(), expected, "{base}?{query}");
        }
        for query in ["limit=1", "limit=500", "after_id=0"] {
            app.get(&format!("{base}?{query}")).await.assert_status(200);
        }
    }
}

/// `GET /posts`: every user's posts, ascending, keyset pages with
/// `</posts?limit=L&after_id=LAST>; rel="next"`, each post with its `author` as the
/// last member, equal to `GET /users/{user_id}`.
pub(super) async fn posts_list_embeds_author_last_and_paginates(app: &TestApp) {
    let users = [
        id_of(&app.create_user("Ada", "ada@example.com").await),
        id_of(&app.create_user("Grace", "grace@example.com").await),
        id_of(&app.create_user("李小龍", "bruce@example.com").await),
    ];
    let mut expected = Vec::new();
    for index in 0..7 {
        let author = users[index % users.len()];
        let post = app
            .create_post(author, &format!("Post {index}"), "text")
            .await;
        expected.push(with_author(app, &post).await);
    }
    let all = pages(app, "/posts", 2).await;
    assert_eq!(all.len(), 4, "7 posts in pages of 2");
    assert_eq!(all.concat(), expected);
    assert_eq!(
        pages(app, "/posts", 7).await.len(),
        2,
        "a full last page links on"
    );

    let response = app.get("/posts?limit=500").await;
    let text = response.text();
    let items = member_names_at(&text, 2);
    assert_eq!(items.len(), 7);
    for names in items {
        assert_eq!(names, POST_WITH_AUTHOR_MEMBERS, "{text}");
    }
    for names in member_names_at(&text, 3) {
        assert_eq!(names, USER_MEMBERS, "the author is the user object: {text}");
    }
    let after = app
        .get(&format!("/posts?after_id={}", id_of(&expected[4])))
        .await
        .json();
    assert_eq!(after.as_array().map(Vec::as_slice), Some(&expected[5..]));
}

/// No posts at all: `GET /posts` is `[]` with no `Link`, and so is a page past the end.
pub(super) async fn posts_list_of_nothing_is_an_empty_page(app: &TestApp) {
    let response = app.get("/posts").await;
    response.assert_status(200);
    assert_eq!(
        (response.json(), response.header("link")),
        (json!([]), None)
    );
    let ada = id_of(&app.create_user("Ada", "ada@example.com").await);
    app.create_post(ada, "T", "B").await;
    let past = app.get(&format!("/posts?after_id={}", i64::MAX)).await;
    past.assert_status(200);
    assert_eq!((past.json(), past.header("link")), (json!([]), None));
}

/// `GET /posts/{id}` is the post with its author last; an id that matches no post
/// (0 and negative ids included) is a 404 naming the id.
pub(super) async fn get_post_embeds_author_and_unknown_is_404(app: &TestApp) {
    let ada = id_of(&app.create_user("Ada", "ada@example.com").await);
    let post = app.create_post(ada, "Notes", "Body").await;
    let path = format!("/posts/{}", id_of(&post));
    let response = app.get(&path).await;
    response.assert_status(200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json(), with_author(app, &post).await);
    assert_eq!(member_names(&response.text()), POST_WITH_AUTHOR_MEMBERS);

    for id in [id_of(&post) + 1, 0, -1, i64::MAX, i64::MIN] {
        let problem = app.get(&format!("/posts/{id}")).await.assert_problem(404);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(&id.to_string()),
            "{problem}"
        );
    }

    // The author is read when the post is: a renamed author shows the new name.
    app.patch_json(&format!("/users/{ada}"), &json!({"name": "Ada King"}))
        .await
        .assert_status(200);
    let renamed = app.get(&path).await.json();
    assert_eq!(renamed["author"]["name"], "Ada King");
    assert_eq!(all_posts(app).await, vec![renamed]);
}

/// `DELETE /posts/{id}` answers 204 with an empty body; the post is then gone (404
/// for every method), and nothing else is.
pub(super) async fn delete_post_returns_204_then_404(app: &TestApp) {
    let ada = id_of(&app.create_user("Ada", "ada@example.com").await);
    let doomed = app.create_post(ada, "Doomed", "").await;
    let kept = app.create_post(ada, "Kept", "").await;
    let path = format!("/posts/{}", id_of(&doomed));
    let response = app.delete(&path).await;
    response.assert_status(204);
    assert!(response.body.is_empty());
    app.get(&path).await.assert_problem(404);
    app.delete(&path).await.assert_problem(404);
    for id in [0, -1, i64::MAX] {
        app.delete(&format!("/posts/{id}"))
            .await
            .assert_problem(404);
    }
    assert_eq!(all_posts(app).await, vec![with_author(app, &kept).await]);
    let listed = app.get(&format!("/users/{ada}/posts")).await.json();
    assert_eq!(listed, json!([kept]));
    app.get(&format!("/users/{ada}")).await.assert_status(200);
}

/// Deleting a user deletes their posts (the foreign key cascades): the posts' ids are
/// 404, no list shows them, the table holds none; other users' posts stay.
pub(super) async fn deleting_a_user_deletes_their_posts(app: &TestApp) {
    let ada = id_of(&app.create_user("Ada", "ada@example.com").await);
    let grace = id_of(&app.create_user("Grace", "grace@example.com").await);
    let mut adas = Vec::new();
    let mut graces = Vec::new();
    for index in 0..3 {
        adas.push(app.create_post(ada, &format!("Ada {index}"), "").await);
        graces.push(app.create_post(grace, &format!("Grace {index}"), "").await);
    }
    app.delete(&format!("/users/{ada}"))
        .await
        .assert_status(204);
    for post in &adas {
        let path = format!("/posts/{}", id_of(post));
        app.get(&path).await.assert_problem(404);
        app.delete(&path).await.assert_problem(404);
    }
    app.get(&format!("/users/{ada}/posts"))
        .await
        .assert_problem(404);
    let mut expected = Vec::new();
    for post in &graces {
        expected.push(with_author(app, post).await);
    }
    assert_eq!(all_posts(app).await, expected);
    let left = app
        .db
        .connect()
        .await
        .query_one("SELECT count(*) FROM posts WHERE user_id = $1", &[&ada])
        .await
        .expect("count the posts left")
        .get::<_, i64>(0);
    assert_eq!(
        left, 0,
        "the posts of a deleted user are still in the table"
    );
    let listed = app.get(&format!("/users/{grace}/posts")).await.json();
    assert_eq!(listed, Value::Array(graces));
}
