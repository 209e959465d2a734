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
//! | `routing` | 404 and 405 routes, `/health`, `x-request-id` |
//! | `docs` | `/openapi.json` and `/docs` |
//!
//! [`cases()`] is the suite's one list, and [`crate::run_conformance`] runs each case in
//! it as its own test against a tier (see [`crate::suite`] for why a case that is not
//! listed fails the build).
//!
//! Every error answer is checked with [`crate::TestResponse::assert_problem`]: status,
//! `application/problem+json`, the RFC 9457 members, `errors` only on 422, and no
//! internal text (SQL, constraint names, driver errors) in the body.

mod create;
mod delete;
mod docs;
mod list;
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
            routing::unknown_route_is_404_problem,
            routing::wrong_method_is_405_with_allow,
            routing::health_is_ok,
            routing::request_id_is_echoed_or_generated,
            docs::openapi_documents_every_route_and_status,
            docs::docs_are_served_without_internet,
        ],
    ]
}

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

#[cfg(test)]
mod tests {
    use crate::suite::duplicate_names;

    /// Every case's test has a name of its own. (That every case is listed at all is
    /// the `dead_code` lint's job: see [`crate::suite`].)
    #[test]
    fn no_case_is_listed_twice() {
        let cases = super::cases::<()>();
        assert_eq!(duplicate_names(&cases), Vec::<&str>::new());
        assert!(cases.len() >= 39, "the suite lost cases: {}", cases.len());
    }
}
