//! The contract of `API.md`, as test cases every tier must pass.
//!
//! Each case is an `async fn` that gets a [`TestApp`] (a tier with a fresh, empty
//! database) and talks HTTP to it. The cases know nothing about the tier, so a tier
//! passes them only by serving the contract. They live in one module per topic:
//!
//! | module | what it covers |
//! | --- | --- |
//! | `create` | `POST /users`: 201, trimming, Unicode, taken emails, a race for one email |
//! | `validation` | 422 listing every failing field; 400, 415 and 413 bodies; refused writes change nothing |
//! | `read` | `GET /users/{id}`: 404 and 400 ids |
//! | `list` | `GET /users`: order, keyset pages and `Link`, query errors |
//! | `update` | `PATCH /users/{id}`: partial updates, validation, conflicts |
//! | `delete` | `DELETE /users/{id}` |
//! | `batch` | `POST /users/batch`: 201 in request order, 422 with entry indexes, one 409 listing every taken email, all or nothing; the 405s of `/users/batch` and `/users/export` |
//! | `export` | `GET /users/export`: ndjson lines that are the `GET /users/{id}` bodies, ascending id, empty table, thousands of rows across the read batches |
//! | `posts` | `POST /users/{id}/posts`: 201, trimming, validation, 404 authors, 400 ids, refused writes |
//! | `posts_read` | `GET /users/{id}/posts`, `GET /posts` (author embedded), `GET`/`DELETE /posts/{id}`, the cascade |
//! | `routing` | 404 and 405 routes, `/health`, `x-request-id`, on `/users` and the posts routes |
//! | `docs` | `/openapi.json` and `/docs` |
//!
//! [`cases()`] is the suite's one list, and [`crate::run_conformance`] runs each case in
//! it as its own test against a tier (see [`crate::suite`] for why a case that is not
//! listed fails the build).
//!
//! Every error answer is checked with [`crate::TestResponse::assert_problem`]: status,
//! `application/problem+json`, the RFC 9457 members, `errors` only on 422, and no
//! internal text (SQL, constraint names, driver errors) in the body.

mod batch;
mod create;
mod delete;
mod docs;
mod export;
mod list;
mod posts;
mod posts_read;
mod read;
mod routing;
mod update;
mod validation;

use reqwest::Method;
use serde_json::Value;

use crate::suite::{Case, cases};
use crate::{TestApp, TestResponse};

/// Every case of the suite, in the order of `API.md`. `C` is the type of the tier's
/// `connect` (the conformance cases need only an app, but share the fault suite's
/// [`Case`] type and runner).
pub fn cases<C>() -> Vec<Case<C>> {
    cases![
        app: [
            create::create_returns_201_with_location_and_body,
            create::create_trims_name_and_email,
            create::create_ignores_client_ids_and_timestamps,
            create::created_at_is_rfc3339_utc_with_microseconds,
            create::unicode_round_trips_unchanged,
            create::duplicate_email_in_any_case_is_409,
            create::unique_violation_elsewhere_is_no_taken_email,
            create::concurrent_creates_of_one_email_one_wins,
            validation::create_lists_every_failing_field,
            validation::create_rejects_wrong_types_and_null,
            validation::create_rejects_non_object_bodies,
            validation::name_rules_are_enforced,
            validation::control_characters_in_name_are_422,
            validation::email_syntax_is_enforced,
            validation::email_longer_than_254_is_422,
            validation::malformed_json_is_400,
            validation::missing_or_wrong_content_type_is_415,
            validation::body_over_16_kib_is_413,
            validation::failed_writes_change_nothing,
            read::get_returns_the_user,
            read::get_unknown_id_is_404,
            read::unparseable_ids_are_400,
            list::list_is_ascending_and_keyset_paginated,
            list::list_defaults_to_50_per_page,
            list::list_of_nothing_is_an_empty_page,
            list::list_query_that_does_not_parse_is_400,
            list::list_query_out_of_range_is_422,
            update::update_changes_only_given_members,
            update::update_trims_and_validates,
            update::update_needs_at_least_one_member,
            update::update_to_anothers_email_is_409,
            update::recasing_own_email_is_not_a_conflict,
            update::update_unknown_id_is_404,
            delete::delete_returns_204_then_404,
            batch::batch_returns_201_with_users_in_request_order,
            batch::batch_422_lists_every_failing_field_of_every_entry,
            batch::batch_422_when_the_list_itself_is_wrong,
            batch::batch_validation_runs_before_conflicts,
            batch::batch_conflicts_are_one_409_listing_each_entry,
            batch::batch_minus_its_conflicts_is_201_after_a_409,
            batch::batch_of_100_entries_is_201,
            batch::batch_and_export_are_routes_not_ids,
            batch::batch_bodies_not_json_are_400_415_413,
            export::export_of_an_empty_table_is_200_and_empty,
            export::export_lines_are_the_get_bodies_in_id_order,
            export::export_crosses_every_batch_edge,
            export::export_carries_a_request_id,
            posts::create_post_returns_201_with_location_and_body,
            posts::post_title_is_trimmed_and_body_kept_as_sent,
            posts::post_create_lists_every_failing_field,
            posts::post_create_rejects_wrong_types_null_and_non_objects,
            posts::post_title_and_body_lengths_are_enforced,
            posts::control_characters_in_posts_are_422,
            posts::post_for_missing_user_is_404,
            posts::post_racing_its_authors_delete_is_201_or_404,
            posts::unparseable_ids_on_posts_routes_are_400,
            posts::post_bodies_not_json_are_400_415_413,
            posts::failed_post_writes_change_nothing,
            posts_read::user_posts_are_ascending_and_keyset_paginated,
            posts_read::post_lists_default_to_50_per_page,
            posts_read::user_posts_of_nobody_is_404_and_of_no_posts_empty,
            posts_read::post_list_queries_are_checked_like_users,
            posts_read::posts_list_embeds_author_last_and_paginates,
            posts_read::posts_list_of_nothing_is_an_empty_page,
            posts_read::get_post_embeds_author_and_unknown_is_404,
            posts_read::delete_post_returns_204_then_404,
            posts_read::deleting_a_user_deletes_their_posts,
            routing::unknown_route_is_404_problem,
            routing::wrong_method_is_405_with_allow,
            routing::health_is_ok,
            routing::request_id_is_echoed_or_generated,
            routing::unread_bodies_still_get_their_answer,
            routing::posts_routes_have_request_ids_404s_and_405s,
            docs::openapi_documents_every_route_and_status,
            docs::docs_are_served_without_internet,
        ],
    ]
}

const JSON: Option<&str> = Some("application/json");

/// `{id}`s that are not a 64-bit integer: each route that takes one answers 400.
const UNPARSEABLE_IDS: &[&str] = &[
    "abc",
    "1.5",
    "9223372036854775808",
    "-9223372036854775809",
    "1e3",
    "%20",
    "0x10",
    "%FF",
];

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

/// Every page of a keyset-paginated list, read from `{base}?limit={limit}` on by
/// following `Link`. Checks the contract of every list on the way: each page is JSON,
/// ascending by id, and a full page, and only a full page, links to the next with
/// exactly `<{base}?limit={limit}&after_id={last}>; rel="next"`.
async fn pages(app: &TestApp, base: &str, limit: usize) -> Vec<Vec<Value>> {
    let mut pages: Vec<Vec<Value>> = Vec::new();
    let mut path = format!("{base}?limit={limit}");
    loop {
        let response = app.get(&path).await;
        response.assert_status(200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        let page = response
            .json()
            .as_array()
            .expect("a page is an array")
            .clone();
        assert!(page.len() <= limit, "{path}: {} items", page.len());
        let ids: Vec<i64> = page.iter().map(id_of).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{path}: not ascending: {ids:?}"
        );
        let link = response.header("link").map(str::to_owned);
        pages.push(page);
        let Some(&last) = ids.last().filter(|_| ids.len() == limit) else {
            assert_eq!(link, None, "{path}: a Link on a page that is not full");
            return pages;
        };
        let next = format!("{base}?limit={limit}&after_id={last}");
        assert_eq!(
            link,
            Some(format!("<{next}>; rel=\"next\"")),
            "{path}: the Link of a full page"
        );
        path = next;
        assert!(pages.len() < 1_000, "pagination does not end");
    }
}

/// All posts with their authors, read through `GET /posts` page by page.
async fn all_posts(app: &TestApp) -> Vec<Value> {
    pages(app, "/posts", 500).await.concat()
}

/// The member names of every JSON object `depth` levels down in `text` (1: the
/// top-level object; 2: the objects of a top-level array), in the order the text gives
/// them. `serde_json::Value` sorts members, and the contract says where `author` goes.
fn member_names_at(text: &str, depth: usize) -> Vec<Vec<String>> {
    let parsed: Result<Value, _> = serde_json::from_str(text);
    assert!(parsed.is_ok(), "not JSON: {text}");
    let mut objects: Vec<Vec<String>> = Vec::new();
    // The open containers, `{` or `[`, outermost first.
    let mut open: Vec<char> = Vec::new();
    // Whether the next string is a member name of an object at `depth` (after its `{`
    // or one of its `,`).
    let mut name_next = false;
    let mut chars = text.char_indices();
    while let Some((start, c)) = chars.next() {
        match c {
            '{' | '[' => {
                open.push(c);
                name_next = c == '{' && open.len() == depth;
                if name_next {
                    objects.push(Vec::new());
                }
            }
            '}' | ']' => {
                open.pop();
                name_next = false;
            }
            ',' => name_next = open.len() == depth && open.last() == Some(&'{'),
            ':' => name_next = false,
            '"' => {
                let mut escaped = false;
                let mut end = start;
                for (index, c) in chars.by_ref() {
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            end = index;
                            break;
                        }
                        _ => {}
                    }
                }
                if name_next {
                    let name: String = serde_json::from_str(&text[start..=end]).expect("a name");
                    objects.last_mut().expect("an open object").push(name);
                    name_next = false;
                }
            }
            _ => {}
        }
    }
    objects
}

/// The member names of the top-level object of `text`, in order.
fn member_names(text: &str) -> Vec<String> {
    let mut objects = member_names_at(text, 1);
    assert_eq!(objects.len(), 1, "not one object: {text}");
    objects.pop().unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use crate::suite::duplicate_names;

    /// Every case's test has a name of its own. (That every case is listed at all is
    /// the `dead_code` lint's job: see [`crate::suite`].)
    #[test]
    fn no_case_is_listed_twice() {
        let cases = super::cases::<()>();
        assert_eq!(duplicate_names(&cases), Vec::<&str>::new());
        assert!(cases.len() >= 75, "the suite lost cases: {}", cases.len());
    }

    /// Member names come in the text's order, at the depth asked for, and strings
    /// that look like members (escaped quotes, colons, commas) are not taken for them.
    #[test]
    fn member_names_follow_the_text() {
        let text = r#"{"id":1,"body":"a \"x\": 1, \"y\"","tags":["p","q",{"n":1}],"author":{"z":1,"a":2}}"#;
        assert_eq!(super::member_names(text), ["id", "body", "tags", "author"]);
        assert_eq!(
            super::member_names_at(text, 2),
            vec![vec!["z".to_owned(), "a".to_owned()]]
        );
        let list = r#"[{"b":1,"a":[1,2]}, {"c":{"d":1},"e":"f,g"}]"#;
        assert_eq!(
            super::member_names_at(list, 2),
            vec![
                vec!["b".to_owned(), "a".to_owned()],
                vec!["c".to_owned(), "e".to_owned()]
            ]
        );
    }
}
