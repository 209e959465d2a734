//! Writing posts: `POST /users/{id}/posts` answers 201 with the stored post, trims the
//! title and keeps the body exactly as sent, lists every failing field in a 422,
//! answers 404 for an author that does not exist (the foreign key decides), 400 for
//! an id that does not parse on every posts route, and a refused write changes
//! nothing. (Request ids, 404 paths and 405s on the posts routes are in `routing`.)

use reqwest::Method;
use serde_json::{Value, json};

use super::{JSON, UNPARSEABLE_IDS, all_posts, id_of, loc, member_names};
use crate::TestApp;

/// The members of a post, in the order the API writes them.
pub(super) const POST_MEMBERS: [&str; 5] = ["id", "user_id", "title", "body", "created_at"];

/// `POST /users/{id}/posts` with a raw body declared as JSON.
async fn post_raw(app: &TestApp, user_id: i64, body: &[u8]) -> crate::TestResponse {
    let path = format!("/users/{user_id}/posts");
    app.send(Method::POST, &path, JSON, Some(body.to_vec()))
        .await
}

/// `POST /users/{id}/posts` with a JSON body.
async fn post(app: &TestApp, user_id: i64, body: &Value) -> crate::TestResponse {
    app.post_json(&format!("/users/{user_id}/posts"), body)
        .await
}

/// `POST /users/{id}/posts` answers 201 with `Location: /posts/{id}` and the stored
/// post; the Location is where the post lives, with its author.
pub(super) async fn create_post_returns_201_with_location_and_body(app: &TestApp) {
    let ada = app.create_user("Ada Lovelace", "ada@example.com").await;
    let ada_id = id_of(&ada);
    let title = "Notes on the Analytical Engine";
    let text = "It might act upon other things besides number.";
    let response = post(app, ada_id, &json!({"title": title, "body": text})).await;
    response.assert_status(201);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(response.header("x-request-id").is_some(), "no x-request-id");
    let created = response.json();
    let id = id_of(&created);
    assert!(id > 0);
    assert_eq!(
        response.header("location"),
        Some(format!("/posts/{id}").as_str())
    );
    assert_eq!(member_names(&response.text()), POST_MEMBERS);
    assert_eq!(created["user_id"], ada["id"]);
    assert_eq!(created["title"], title);
    assert_eq!(created["body"], text);
    // The same timestamp format as a user's: RFC 3339, UTC, six fractional digits.
    let created_at = created["created_at"].as_str().expect("a string");
    assert_eq!(created_at.len(), 27, "{created_at}");
    assert!(created_at.ends_with('Z') && created_at.as_bytes()[19] == b'.');

    let fetched = app.get(&format!("/posts/{id}")).await;
    fetched.assert_status(200);
    let mut expected = created.clone();
    expected["author"] = ada;
    assert_eq!(fetched.json(), expected);

    // Ids grow, and the database assigns them: a client's `id` or `user_id` is refused.
    let second = app.create_post(ada_id, "Second", "").await;
    assert!(id_of(&second) > id, "ids grow");
    let forged = post(
        app,
        ada_id,
        &json!({"id": 1, "user_id": 99, "title": "T", "body": "B"}),
    )
    .await;
    assert_eq!(
        forged.error_locs(),
        vec![
            (loc(&["body", "id"]), "extra_forbidden".into()),
            (loc(&["body", "user_id"]), "extra_forbidden".into()),
        ]
    );
}

/// The title is trimmed as a name is (Unicode `White_Space`); the body is stored
/// exactly as sent: surrounding spaces, tabs, CR LF, an empty body, any script.
pub(super) async fn post_title_is_trimmed_and_body_kept_as_sent(app: &TestApp) {
    let user_id = id_of(&app.create_user("Ada", "ada@example.com").await);
    let bodies = [
        "  leading and trailing spaces  ",
        "\tindented\r\nCR LF line\nLF line\r\n\r\n",
        "",
        " ",
        "李小龍 👩🏽‍💻 e\u{301} عبد الله",
    ];
    for (index, text) in bodies.iter().enumerate() {
        let post = app
            .create_post(
                user_id,
                &format!("\u{3000}\t Notes  {index} \n\u{a0}"),
                text,
            )
            .await;
        assert_eq!(post["title"], format!("Notes  {index}"));
        assert_eq!(post["body"], *text, "{text:?}");
        let stored = app.get(&format!("/posts/{}", id_of(&post))).await.json();
        assert_eq!(stored["title"], post["title"]);
        assert_eq!(stored["body"], *text, "{text:?}");
    }
    let listed = app.get(&format!("/users/{user_id}/posts")).await.json();
    let listed: Vec<&Value> = listed.as_array().expect("array").iter().collect();
    let listed_bodies: Vec<&str> = listed
        .iter()
        .map(|post| post["body"].as_str().expect("body"))
        .collect();
    assert_eq!(listed_bodies, bodies);
}

/// A 422 lists every failing field at once, with the `type`s of `/users`, and writes
/// nothing: unknown members, missing members, a blank title and a bad body together.
pub(super) async fn post_create_lists_every_failing_field(app: &TestApp) {
    let user_id = id_of(&app.create_user("Ada", "ada@example.com").await);
    let response = post(
        app,
        user_id,
        &json!({"title": " \t", "body": "a\u{0}b", "tags": ["x"]}),
    )
    .await;
    let body = response.assert_problem(422);
    assert_eq!(body["title"], "Unprocessable Content");
    assert_eq!(
        response.error_locs(),
        vec![
            (loc(&["body", "tags"]), "extra_forbidden".into()),
            (loc(&["body", "title"]), "string_too_short".into()),
            (loc(&["body", "body"]), "control_character".into()),
        ]
    );
    let cases = [
        (
            json!({}),
            vec![
                (loc(&["body", "title"]), "missing".to_owned()),
                (loc(&["body", "body"]), "missing".to_owned()),
            ],
        ),
        (
            json!({"title": "T"}),
            vec![(loc(&["body", "body"]), "missing".to_owned())],
        ),
        (
            json!({"body": "B"}),
            vec![(loc(&["body", "title"]), "missing".to_owned())],
        ),
        (
            json!({"title": "T", "body": "B", "name": "Ada"}),
            vec![(loc(&["body", "name"]), "extra_forbidden".to_owned())],
        ),
    ];
    for (sent, expected) in cases {
        assert_eq!(
            post(app, user_id, &sent).await.error_locs(),
            expected,
            "{sent}"
        );
    }
    assert!(all_posts(app).await.is_empty());
}

/// Members of the wrong type, `null` included, are 422 `string_type`; a body that is
/// JSON but not an object is 422 at `["body"]`.
pub(super) async fn post_create_rejects_wrong_types_null_and_non_objects(app: &TestApp) {
    let user_id = id_of(&app.create_user("Ada", "ada@example.com").await);
    for (title, text) in [
        (json!(42), json!(true)),
        (json!(null), json!(null)),
        (json!(["T"]), json!({"b": 1})),
        (json!(1.5), json!(0)),
    ] {
        let response = post(app, user_id, &json!({"title": title, "body": text})).await;
        assert_eq!(
            response.error_locs(),
            vec![
                (loc(&["body", "title"]), "string_type".into()),
                (loc(&["body", "body"]), "string_type".into())
            ],
            "title={title} body={text}"
        );
    }
    for body in [&b"[]"[..], b"\"Notes\"", b"42", b"null", b"true"] {
        let response = post_raw(app, user_id, body).await;
        assert_eq!(
            response.error_locs(),
            vec![(loc(&["body"]), "object_type".into())],
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(all_posts(app).await.is_empty());
}

/// A title of 200 characters (Unicode scalar values, after trimming) is fine, 201 is
/// 422; a body of 4,000 characters is fine, 4,001 is 422, both listed when both fail.
pub(super) async fn post_title_and_body_lengths_are_enforced(app: &TestApp) {
    let user_id = id_of(&app.create_user("Ada", "ada@example.com").await);
    let title_at_limit = "é".repeat(200);
    let body_at_limit = "ß".repeat(4_000);
    let fits = app
        .create_post(user_id, &format!("  {title_at_limit}\t"), &body_at_limit)
        .await;
    assert_eq!(fits["title"], title_at_limit);
    assert_eq!(fits["body"], body_at_limit);
    let long_title = "é".repeat(201);
    let long_body = "ß".repeat(4_001);
    let cases = [
        (
            long_title.as_str(),
            "B",
            vec![(loc(&["body", "title"]), "string_too_long".to_owned())],
        ),
        (
            "T",
            long_body.as_str(),
            vec![(loc(&["body", "body"]), "string_too_long".to_owned())],
        ),
        (
            long_title.as_str(),
            long_body.as_str(),
            vec![
                (loc(&["body", "title"]), "string_too_long".to_owned()),
                (loc(&["body", "body"]), "string_too_long".to_owned()),
            ],
        ),
        (
            "",
            "B",
            vec![(loc(&["body", "title"]), "string_too_short".to_owned())],
        ),
        (
            "\u{3000} \n",
            "B",
            vec![(loc(&["body", "title"]), "string_too_short".to_owned())],
        ),
    ];
    for (title, text, expected) in cases {
        let response = post(app, user_id, &json!({"title": title, "body": text})).await;
        assert_eq!(
            response.error_locs(),
            expected,
            "title of {} characters, body of {}",
            title.chars().count(),
            text.chars().count()
        );
    }
    // The body is not trimmed, so its surrounding spaces count towards the 4,000.
    let padded = format!(" {} ", "b".repeat(3_999));
    let response = post(app, user_id, &json!({"title": "T", "body": padded})).await;
    assert_eq!(
        response.error_locs(),
        vec![(loc(&["body", "body"]), "string_too_long".into())]
    );
    assert_eq!(all_posts(app).await.len(), 1);
}

/// Control characters are 422 `control_character`, never a database error: any in a
/// title, line breaks included; any in a body but tab, line feed and carriage return.
pub(super) async fn control_characters_in_posts_are_422(app: &TestApp) {
    let user_id = id_of(&app.create_user("Ada", "ada@example.com").await);
    for title in [
        "Notes\u{0}",
        "A\u{7}da",
        "A\u{1b}[31m",
        "A\u{7f}",
        "A\u{9f}",
        "line\nbreak",
        "tab\tinside",
        "CR\rinside",
    ] {
        let response = post(app, user_id, &json!({"title": title, "body": "B"})).await;
        assert_eq!(
            response.error_locs(),
            vec![(loc(&["body", "title"]), "control_character".into())],
            "{title:?}"
        );
    }
    for text in [
        "\u{0}",
        "bell\u{7}",
        "A\u{1b}[31m",
        "del\u{7f}",
        "nel\u{85}",
    ] {
        let response = post(app, user_id, &json!({"title": "T", "body": text})).await;
        assert_eq!(
            response.error_locs(),
            vec![(loc(&["body", "body"]), "control_character".into())],
            "{text:?}"
        );
    }
    // The same NUL written as raw JSON escape text, in both members.
    let response = post_raw(app, user_id, br#"{"title": "T\u0000", "body": "\u0000"}"#).await;
    assert_eq!(
        response.error_locs(),
        vec![
            (loc(&["body", "title"]), "control_character".into()),
            (loc(&["body", "body"]), "control_character".into()),
        ]
    );
    assert!(all_posts(app).await.is_empty());
    // Tab, line feed and carriage return are what a text of several lines needs.
    let fine = app
        .create_post(user_id, "Lines", "one\ttwo\nthree\r\nfour\r")
        .await;
    assert_eq!(fine["body"], "one\ttwo\nthree\r\nfour\r");
}

/// A post for a user that does not exist (0 and negative ids included, and one just
/// deleted) is a 404 naming the id, never a 500; nothing is written.
pub(super) async fn post_for_missing_user_is_404(app: &TestApp) {
    let ada = id_of(&app.create_user("Ada", "ada@example.com").await);
    let gone = id_of(&app.create_user("Gone", "gone@example.com").await);
    app.delete(&format!("/users/{gone}"))
        .await
        .assert_status(204);
    let body = json!({"title": "T", "body": "B"});
    for id in [gone, ada + 100, 0, -1, i64::MAX, i64::MIN] {
        let problem = post(app, id, &body).await.assert_problem(404);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(&id.to_string()),
            "{problem}"
        );
    }
    assert!(all_posts(app).await.is_empty());
}

/// Posts written while their author is being deleted: each is a 201 (written before
/// the delete, then removed with the user) or a 404 (the foreign key found no user),
/// never a 500; afterwards no post of theirs is left.
pub(super) async fn post_racing_its_authors_delete_is_201_or_404(app: &TestApp) {
    for round in 0..3 {
        let doomed = id_of(
            &app.create_user("Doomed", &format!("doomed{round}@example.com"))
                .await,
        );
        let path = format!("/users/{doomed}/posts");
        let writes = (0..12).map(|index| {
            let body = json!({"title": format!("Race {index}"), "body": ""});
            let path = path.clone();
            async move { app.post_json(&path, &body).await }
        });
        let user_path = format!("/users/{doomed}");
        let delete = app.delete(&user_path);
        // All in flight at once: `join` polls the delete and the writes together.
        let (deleted, written) = futures::join!(delete, futures::future::join_all(writes));
        deleted.assert_status(204);
        for response in written.iter().filter(|response| response.status != 201) {
            response.assert_problem(404);
        }
    }
    assert!(
        all_posts(app).await.is_empty(),
        "posts outlived their author"
    );
}

/// An `{id}` that is not a 64-bit integer is 400 on every posts route and method.
pub(super) async fn unparseable_ids_on_posts_routes_are_400(app: &TestApp) {
    let body = json!({"title": "T", "body": "B"});
    for id in UNPARSEABLE_IDS {
        let user_posts = format!("/users/{id}/posts");
        app.get(&user_posts).await.assert_problem(400);
        app.post_json(&user_posts, &body).await.assert_problem(400);
        let post_path = format!("/posts/{id}");
        app.get(&post_path).await.assert_problem(400);
        app.delete(&post_path).await.assert_problem(400);
    }
}

/// Bodies that are not JSON (400), not declared as JSON (415) or too big (413) are
/// refused on `POST /users/{id}/posts` as on `POST /users`, and write nothing.
pub(super) async fn post_bodies_not_json_are_400_415_413(app: &TestApp) {
    let user_id = id_of(&app.create_user("Ada", "ada@example.com").await);
    let bodies: [&[u8]; 5] = [
        b"",
        b"{",
        br#"{"title": "T", "body": "B"} trailing"#,
        br#"{"title": "\ud800", "body": "B"}"#,
        br#"{"title": "T", "body": "B",}"#,
    ];
    for body in bodies {
        post_raw(app, user_id, body).await.assert_problem(400);
    }
    let path = format!("/users/{user_id}/posts");
    let valid = br#"{"title": "T", "body": "B"}"#.to_vec();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        app.send(Method::POST, &path, content_type, Some(valid.clone()))
            .await
            .assert_problem(415);
    }
    // A body of 4,000 characters fits in 16 KiB; padding beyond 16 KiB does not.
    let padding = " ".repeat(17 * 1024);
    let big = format!(r#"{{"title": "T", "body": "B"{padding}}}"#);
    post_raw(app, user_id, big.as_bytes())
        .await
        .assert_problem(413);
    assert!(all_posts(app).await.is_empty());
}

/// Requests on posts that fail change nothing: the posts are as before.
pub(super) async fn failed_post_writes_change_nothing(app: &TestApp) {
    let ada = id_of(&app.create_user("Ada", "ada@example.com").await);
    let post = app.create_post(ada, "Kept", "as it was").await;
    let before = all_posts(app).await;
    let user_posts = format!("/users/{ada}/posts");
    let attempts = [
        app.post_json(&user_posts, &json!({"title": "", "body": "x"}))
            .await,
        app.post_json(&user_posts, &json!({"title": "T", "body": "\u{0}"}))
            .await,
        app.post_json(&user_posts, &json!({"title": "T", "body": "B", "x": 1}))
            .await,
        app.post_json(
            &format!("/users/{}/posts", ada + 1),
            &json!({"title": "T", "body": "B"}),
        )
        .await,
        app.send(
            Method::POST,
            &user_posts,
            Some("text/plain"),
            Some(b"{}".to_vec()),
        )
        .await,
        app.send(Method::POST, &user_posts, JSON, Some(b"{".to_vec()))
            .await,
        app.delete(&format!("/posts/{}", id_of(&post) + 1)).await,
        app.delete("/posts/0").await,
        app.delete("/posts/abc").await,
        app.send(
            Method::PATCH,
            &format!("/posts/{}", id_of(&post)),
            JSON,
            Some(b"{}".to_vec()),
        )
        .await,
    ];
    for response in &attempts {
        assert!(
            response.status >= 400,
            "{} {} succeeded",
            response.method,
            response.path
        );
        response.assert_problem(response.status);
    }
    assert_eq!(all_posts(app).await, before);
    let mut expected = post;
    expected["author"] = app.get(&format!("/users/{ada}")).await.json();
    assert_eq!(before, vec![expected]);
}
