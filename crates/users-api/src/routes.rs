//! The handlers: one `async fn` per endpoint, generic over the store.
//!
//! Each handler is the whole story of its endpoint: extract (the extractors reject bad
//! input before the handler runs), validate, ask the store (every call within
//! [`within_deadline`]: a partition is a 503 in 4.5 s), shape the answer. None of
//! them can panic or leak a database error: `?` turns a `StoreError` into an
//! `ApiError`, whose `IntoResponse` decides the status.
//!
//! The `#[utoipa::path]` attributes describe each endpoint for `/openapi.json`. They sit
//! on the handlers so that documentation and code cannot drift apart.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, stream};
use serde::Serialize;

use crate::deadline::within_deadline;
use crate::error::{ApiError, Problem, StoreError, error_chain};
use crate::extract::{JsonBody, ListParams, PathId};
use crate::model::{
    Health, Page, PostCreate, PostRead, PostWithAuthor, UserBatch, UserBatchCreated, UserCreate,
    UserRead, UserUpdate,
};
use crate::store::{StoreResult, UserStore};
use crate::validate;

/// The media type of `GET /users/export`: newline-delimited JSON, one user a line.
pub const NDJSON: &str = "application/x-ndjson";

/// At most this many rows that have already arrived go into one chunk of the export's
/// body. Rows are not waited for: a chunk holds what is ready, so the first line
/// leaves as soon as the first row arrives, and a fast database fills chunks of this
/// size instead of one write per line.
const EXPORT_CHUNK_ROWS: usize = 256;

/// Creates a user.
#[utoipa::path(
    post, path = "/users", tag = "users",
    request_body(content = UserCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = UserRead,
         headers(("Location" = String, description = "`/users/{id}` of the new user"))),
        (status = 400, description = "Body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already taken (in any letter case)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong, missing or unknown members; every failing field is listed", body = Problem, content_type = "application/problem+json"),
        BodyRejections,
        Unavailable,
    )
)]
// ANCHOR: create_user
pub async fn create_user<S: UserStore>(
    State(store): State<S>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let new_user = validate::user_create(&body)?;
    let user = within_deadline(store.create(&new_user)).await?;
    // Digits and slashes always make a valid header value; `if let` spares an unwrap.
    let location = HeaderValue::from_str(&format!("/users/{}", user.id));
    let mut response = (StatusCode::CREATED, Json(user)).into_response();
    if let Ok(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}
// ANCHOR_END: create_user

/// Lists users, keyset-paginated by id.
///
/// A page is full when it has `limit` users; then a `Link: <...>; rel="next"` header
/// names the next page. Paging by `after_id` (not `OFFSET`) makes a page deep in a
/// million rows cost what the first page costs: an index range scan on the primary key.
#[utoipa::path(
    get, path = "/users", tag = "users",
    params(
        ("limit" = Option<i64>, Query, description = "Page size, 1 to 500", minimum = 1, maximum = 500, example = 50),
        ("after_id" = Option<i64>, Query, description = "Only users with a greater id", minimum = 0, example = 0),
    ),
    responses(
        (status = 200, description = "Users in ascending id order", body = Vec<UserRead>,
         headers(("Link" = String, description = "`</users?limit=L&after_id=LAST>; rel=\"next\"` when the page is full"))),
        (status = 400, description = "A query parameter is not an integer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A query parameter is out of range", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn list_users<S: UserStore>(
    State(store): State<S>,
    ListParams(page): ListParams,
) -> Result<Response, ApiError> {
    let users = within_deadline(store.list(page)).await?;
    Ok(page_response(users, "/users", page, |user| user.id))
}

/// Reads one user.
#[utoipa::path(
    get, path = "/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = UserRead),
        (status = 400, description = "`id` is not a 64-bit integer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn get_user<S: UserStore>(
    State(store): State<S>,
    PathId(id): PathId,
) -> Result<Json<UserRead>, ApiError> {
    let user = within_deadline(store.get(id))
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(user))
}

/// Changes a user's name and/or email.
#[utoipa::path(
    patch, path = "/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "The user's id")),
    request_body(content = UserUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated user", body = UserRead),
        (status = 400, description = "`id` or the body does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email taken by another user", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong or unknown members, or none at all", body = Problem, content_type = "application/problem+json"),
        BodyRejections,
        Unavailable,
    )
)]
pub async fn update_user<S: UserStore>(
    State(store): State<S>,
    PathId(id): PathId,
    JsonBody(body): JsonBody,
) -> Result<Json<UserRead>, ApiError> {
    let changes = validate::user_update(&body)?;
    let user = within_deadline(store.update(id, &changes))
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(user))
}

/// Deletes a user.
#[utoipa::path(
    delete, path = "/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`id` is not a 64-bit integer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn delete_user<S: UserStore>(
    State(store): State<S>,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    if within_deadline(store.delete(id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(id))
    }
}

// ANCHOR: batch_route
/// Creates 1 to 100 users in one transaction: all of them, or none.
///
/// Validation comes first and lists every failing field of every entry (422). Then
/// one `INSERT` writes all rows inside a transaction; when an email is taken, by an
/// existing user or by an earlier entry of the batch, the transaction is rolled back
/// and the 409 lists every such entry.
#[utoipa::path(
    post, path = "/users/batch", tag = "users",
    request_body(content = UserBatch, content_type = "application/json"),
    responses(
        (status = 201, description = "Created: the users, in request order", body = UserBatchCreated),
        (status = 400, description = "Body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Emails taken by existing users or repeated within the batch; \
                                      `errors` lists each such entry at `[\"body\", \"users\", INDEX, \"email\"]`; nothing was written",
         body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not 1 to 100 entries, or wrong, missing or unknown members; \
                                      every failing field of every entry is listed", body = Problem, content_type = "application/problem+json"),
        BodyRejections,
        Unavailable,
    )
)]
pub async fn create_users_batch<S: UserStore>(
    State(store): State<S>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let batch = validate::user_batch(&body)?;
    let users = within_deadline(store.create_batch(&batch)).await?;
    Ok((StatusCode::CREATED, Json(UserBatchCreated { users })).into_response())
}
// ANCHOR_END: batch_route

// ANCHOR: export_route
/// Exports every user as newline-delimited JSON, streamed as the rows arrive.
///
/// One line per user (the object of `GET /users/{id}`), ascending `id`, from one
/// snapshot. Nothing holds the whole table: memory stays flat however many users
/// there are, and a slow reader only slows the database reads down. A failure before
/// the first line is a 503; after it, the response is cut off (the chunked encoding is
/// not terminated), so a client can tell the export is incomplete.
#[utoipa::path(
    get, path = "/users/export", tag = "users",
    responses(
        (status = 200, description = "Every user, one JSON object a line, ascending id; an empty body when there are none",
         content_type = "application/x-ndjson", body = UserRead),
        Unavailable,
    )
)]
pub async fn export_users<S: UserStore>(State(store): State<S>) -> Result<Response, ApiError> {
    let mut rows = store.export();
    // Wait for the first row (or the end) before answering: until then a failure can
    // still be a proper 503. Once the status line is out, it can only cut the body off.
    // The deadline covers the first row only (checkout, BEGIN, the query's first
    // answer): after it, a slow reader may take as long as it likes, and each batch
    // the store reads stays under `statement_timeout` on the server.
    let first = within_deadline(async { rows.next().await.transpose() }).await?;
    let rows = stream::iter(first.map(Ok)).chain(rows);
    let body = rows.ready_chunks(EXPORT_CHUNK_ROWS).flat_map(ndjson_chunk);
    let mut response = Response::new(Body::from_stream(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    Ok(response)
}

/// Writes the rows that were ready as lines of JSON. An error ends the export: the
/// lines before it are still sent, then the error makes hyper abort the response. The
/// error's text goes to the log, never to the client (who just sees the cut).
fn ndjson_chunk(
    rows: Vec<StoreResult<UserRead>>,
) -> stream::Iter<std::vec::IntoIter<Result<Vec<u8>, StoreError>>> {
    let mut lines = Vec::with_capacity(rows.len() * 96);
    let mut failure = None;
    for row in rows {
        match row {
            Ok(user) => {
                // A struct of strings and numbers always serializes.
                if serde_json::to_writer(&mut lines, &user).is_ok() {
                    lines.push(b'\n');
                }
            }
            Err(err) => {
                tracing::warn!(error = %error_chain(&err), "export cut off");
                failure = Some(err);
                break;
            }
        }
    }
    let mut chunk = Vec::with_capacity(2);
    if !lines.is_empty() {
        chunk.push(Ok(lines));
    }
    chunk.extend(failure.map(Err));
    stream::iter(chunk)
}
// ANCHOR_END: export_route

/// Says whether the database answers.
#[utoipa::path(
    get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, description = "The database does not answer", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn health<S: UserStore>(State(store): State<S>) -> Result<Json<Health>, ApiError> {
    // A store that fails with anything, even an "internal" error, means "not healthy":
    // answer 503 so that load balancers and orchestrators take the instance out.
    within_deadline(store.ping())
        .await
        .map_err(|err| match ApiError::from(err) {
            ApiError::Internal(source) => ApiError::Unavailable(source),
            other => other,
        })?;
    Ok(Json(Health { status: "ok" }))
}

/// The answers every route that reads a JSON body may give before its handler runs,
/// documented once (the extractors and the body-timeout layer make them).
#[derive(utoipa::IntoResponses)]
pub enum BodyRejections {
    /// The body did not arrive in full within 10 s.
    #[response(
        status = 408,
        description = "The body did not arrive in full within 10 s",
        content_type = "application/problem+json"
    )]
    Timeout(Problem),
    /// Body larger than 16 KiB.
    #[response(
        status = 413,
        description = "Body larger than 16 KiB",
        content_type = "application/problem+json"
    )]
    TooLarge(Problem),
    /// Content-Type is not JSON.
    #[response(
        status = 415,
        description = "Content-Type is not JSON",
        content_type = "application/problem+json"
    )]
    NotJson(Problem),
}

/// The answer of every route that reaches the database, when it cannot, documented
/// once.
#[derive(utoipa::IntoResponses)]
pub enum Unavailable {
    /// Database unavailable.
    #[response(
        status = 503,
        description = "Database unavailable",
        content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "Seconds to wait"))
    )]
    Unavailable(Problem),
}

// ANCHOR: posts_routes
/// Writes a post by user `id`.
#[utoipa::path(
    post, path = "/users/{id}/posts", tag = "posts",
    params(("id" = i64, Path, description = "The author's id")),
    request_body(content = PostCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = PostRead,
         headers(("Location" = String, description = "`/posts/{post_id}` of the new post"))),
        (status = 400, description = "`id` or the body does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user (or deleted while the post was written)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong, missing or unknown members; every failing field is listed", body = Problem, content_type = "application/problem+json"),
        BodyRejections,
        Unavailable,
    )
)]
pub async fn create_post<S: UserStore>(
    State(store): State<S>,
    PathId(user_id): PathId,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let new_post = validate::post_create(&body)?;
    let post = within_deadline(store.create_post(user_id, &new_post))
        .await?
        .ok_or_else(|| not_found(user_id))?;
    let location = HeaderValue::from_str(&format!("/posts/{}", post.id));
    let mut response = (StatusCode::CREATED, Json(post)).into_response();
    if let Ok(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Lists one user's posts, keyset-paginated by id, like `/users`.
#[utoipa::path(
    get, path = "/users/{id}/posts", tag = "posts",
    params(
        ("id" = i64, Path, description = "The author's id"),
        ("limit" = Option<i64>, Query, description = "Page size, 1 to 500", minimum = 1, maximum = 500, example = 50),
        ("after_id" = Option<i64>, Query, description = "Only posts with a greater id", minimum = 0, example = 0),
    ),
    responses(
        (status = 200, description = "The user's posts in ascending id order", body = Vec<PostRead>,
         headers(("Link" = String, description = "`</users/{id}/posts?limit=L&after_id=LAST>; rel=\"next\"` when the page is full"))),
        (status = 400, description = "`id` or a query parameter is not an integer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A query parameter is out of range", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn list_user_posts<S: UserStore>(
    State(store): State<S>,
    PathId(user_id): PathId,
    ListParams(page): ListParams,
) -> Result<Response, ApiError> {
    let posts = within_deadline(store.list_user_posts(user_id, page))
        .await?
        .ok_or_else(|| not_found(user_id))?;
    let path = format!("/users/{user_id}/posts");
    Ok(page_response(posts, &path, page, |post| post.id))
}

/// Lists the posts of all users, each with its author, keyset-paginated by id.
#[utoipa::path(
    get, path = "/posts", tag = "posts",
    params(
        ("limit" = Option<i64>, Query, description = "Page size, 1 to 500", minimum = 1, maximum = 500, example = 50),
        ("after_id" = Option<i64>, Query, description = "Only posts with a greater id", minimum = 0, example = 0),
    ),
    responses(
        (status = 200, description = "Posts in ascending id order, authors embedded", body = Vec<PostWithAuthor>,
         headers(("Link" = String, description = "`</posts?limit=L&after_id=LAST>; rel=\"next\"` when the page is full"))),
        (status = 400, description = "A query parameter is not an integer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A query parameter is out of range", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn list_posts<S: UserStore>(
    State(store): State<S>,
    ListParams(page): ListParams,
) -> Result<Response, ApiError> {
    let posts = within_deadline(store.list_posts(page)).await?;
    Ok(page_response(posts, "/posts", page, |post| post.post.id))
}

/// Reads one post, with its author.
#[utoipa::path(
    get, path = "/posts/{id}", tag = "posts",
    params(("id" = i64, Path, description = "The post's id")),
    responses(
        (status = 200, description = "The post, author embedded", body = PostWithAuthor),
        (status = 400, description = "`id` is not a 64-bit integer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such post", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn get_post<S: UserStore>(
    State(store): State<S>,
    PathId(id): PathId,
) -> Result<Json<PostWithAuthor>, ApiError> {
    let post = within_deadline(store.get_post(id))
        .await?
        .ok_or_else(|| post_not_found(id))?;
    Ok(Json(post))
}

/// Deletes a post.
#[utoipa::path(
    delete, path = "/posts/{id}", tag = "posts",
    params(("id" = i64, Path, description = "The post's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`id` is not a 64-bit integer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such post", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn delete_post<S: UserStore>(
    State(store): State<S>,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    if within_deadline(store.delete_post(id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(post_not_found(id))
    }
}
// ANCHOR_END: posts_routes

/// A page of a list as JSON, with `Link: <PATH?limit=L&after_id=LAST>; rel="next"`
/// when the page is full: the same keyset link on every list. `id_of` says which id a
/// row is paged by.
fn page_response<T: Serialize>(
    items: Vec<T>,
    path: &str,
    page: Page,
    id_of: fn(&T) -> i64,
) -> Response {
    let full = i64::try_from(items.len()).is_ok_and(|len| len == page.limit);
    let next = items.last().filter(|_| full).map(|last| {
        format!(
            "<{path}?limit={}&after_id={}>; rel=\"next\"",
            page.limit,
            id_of(last)
        )
    });
    let mut response = Json(items).into_response();
    if let Some(value) = next.and_then(|link| HeaderValue::from_str(&link).ok()) {
        response.headers_mut().insert(header::LINK, value);
    }
    response
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no user with id {id}"))
}

fn post_not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no post with id {id}"))
}
