//! The router: routes, `/openapi.json`, `/docs`, and the middleware stack.
//!
//! [`router`] is all a tier needs to call: hand it a store, get an axum `Router` that
//! serves the whole contract. Tests call it too, so they test exactly what runs.
//! [`router_with`] takes the `MAX_IN_FLIGHT` limit as well (`run_tier` uses it).
//!
//! Requests pass the layers top to bottom, responses bottom to top:
//!
//! ```text
//! SetRequestId      x-request-id: keep the caller's, or make a UUID
//! Trace             one span per request (method, path, request id); logs status, latency
//! PropagateRequestId  copy x-request-id onto the response
//! problem_json      any error response that is not problem+json yet becomes one
//! drain_unread_body a body nobody read is drained before the answer leaves
//! check_limits      414 for a target over 8 KiB, 431 for headers over 32 KiB, then
//!                   503 at once when MAX_IN_FLIGHT requests are being served (limits.rs)
//! Timeout           a request that takes longer than REQUEST_TIMEOUT answers 503
//! routes            the handlers (routes.rs), Swagger UI, 404 fallback, 405s
//! ```

mod limits;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

pub use self::limits::{MAX_HEADER_BYTES, MAX_TARGET_BYTES, SHED_RETRY_AFTER_SECS};
use crate::config::DEFAULT_MAX_IN_FLIGHT;
use crate::error::{PROBLEM_JSON, problem_response};
use crate::extract::BODY_LIMIT;
use crate::routes;
use crate::store::UserStore;
use crate::unread_body::drain_unread_body;

/// The header that carries the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest a request may take before it is answered 503.
///
/// It is a backstop. A request waiting on the database is answered first by the
/// deadline on its store call (`crate::deadline`: 4.5 s for checkout and round trips
/// together, a network partition included). This one covers whatever else could hold a
/// request, such as a store call someone forgot to put under that deadline: without it,
/// a request on a silent connection would hang until the kernel gave up on the TCP
/// connection, many minutes later. Well above the deadline, so the two never race.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(12);

/// The OpenAPI document: every path and schema, gathered from the `#[utoipa::path]`
/// attributes in `routes.rs`. It is the same for every tier.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Users API",
        version = "1.0.0",
        description = "One `/users` REST API, served by three database tiers (raw driver, \
                       sqlx, SeaORM) that answer byte for byte alike.\n\n\
                       Every error is `application/problem+json` (RFC 9457); a 422 lists \
                       every failing field FastAPI-style in `errors` (`loc`, `msg`, `type`). \
                       Every response carries `x-request-id`. Unknown routes answer 404, \
                       known routes with a wrong method 405 with an `Allow` header.",
    ),
    paths(
        routes::create_user,
        routes::list_users,
        routes::get_user,
        routes::update_user,
        routes::delete_user,
        routes::create_users_batch,
        routes::export_users,
        routes::create_post,
        routes::list_user_posts,
        routes::list_posts,
        routes::get_post,
        routes::delete_post,
        routes::health,
    ),
    tags(
        (name = "users", description = "Create, list, read, change and delete users"),
        (name = "posts", description = "A user's posts, and every post with its author"),
        (name = "health", description = "Liveness of the service and its database"),
    )
)]
pub struct ApiDoc;

/// Builds the whole service for a store: routes, docs, middleware, with the default
/// limit of requests in flight ([`DEFAULT_MAX_IN_FLIGHT`]).
pub fn router<S: UserStore>(store: S) -> Router {
    router_with(store, DEFAULT_MAX_IN_FLIGHT)
}

/// [`router`], serving at most `max_in_flight` requests at once; one more is answered
/// 503 at once (`MAX_IN_FLIGHT`).
pub fn router_with<S: UserStore>(store: S, max_in_flight: usize) -> Router {
    let in_flight = Arc::new(Semaphore::new(max_in_flight));
    let api = Router::new()
        .route(
            "/users",
            get(routes::list_users::<S>).post(routes::create_user::<S>),
        )
        // Static segments win over `{id}`: these two are routes of their own, and
        // `GET /users/batch` is a 405 (with `Allow: POST`), not a lookup of user "batch".
        .route("/users/batch", post(routes::create_users_batch::<S>))
        .route("/users/export", get(routes::export_users::<S>))
        .route(
            "/users/{id}",
            get(routes::get_user::<S>)
                .patch(routes::update_user::<S>)
                .delete(routes::delete_user::<S>),
        )
        .route(
            "/users/{id}/posts",
            get(routes::list_user_posts::<S>).post(routes::create_post::<S>),
        )
        .route("/posts", get(routes::list_posts::<S>))
        .route(
            "/posts/{id}",
            get(routes::get_post::<S>).delete(routes::delete_post::<S>),
        )
        // ANCHOR: with_state
        .route("/health", get(routes::health::<S>))
        .with_state(store);
    // ANCHOR_END: with_state

    // Swagger UI's assets are compiled into the binary (the `vendored` feature), and its
    // validator badge, which would call an outside service, is switched off: `/docs`
    // renders with no internet.
    let docs = SwaggerUi::new("/docs")
        .url("/openapi.json", ApiDoc::openapi())
        .config(SwaggerConfig::new(["/openapi.json"]).validator_url("none"));

    Router::new()
        .merge(api)
        .merge(docs)
        .fallback(unknown_route)
        // axum answers 405 with an `Allow` header on its own; `problem_json` below gives
        // it a body. Our own extractor enforces BODY_LIMIT; this covers any axum
        // extractor that might read a body in future.
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|request: &Request| {
                            let request_id = request
                                .headers()
                                .get(REQUEST_ID)
                                .and_then(|value| value.to_str().ok())
                                .unwrap_or_default();
                            tracing::info_span!(
                                "request",
                                method = %request.method(),
                                path = %request.uri().path(),
                                request_id,
                            )
                        })
                        .on_response(
                            DefaultOnResponse::new()
                                .level(Level::INFO)
                                .latency_unit(tower_http::LatencyUnit::Micros),
                        ),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn(problem_json))
                .layer(middleware::from_fn(drain_unread_body))
                .layer(middleware::from_fn_with_state(
                    in_flight,
                    limits::check_limits,
                ))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    REQUEST_TIMEOUT,
                )),
        )
}

async fn unknown_route() -> Response {
    problem_response(StatusCode::NOT_FOUND, "no such route", None)
}

/// Turns every error response that is not `problem+json` yet into one, keeping its
/// status and headers (`Allow` on a 405, `Retry-After` on a 503).
///
/// Our handlers and extractors already answer in problem+json; this catches what other
/// layers produce: axum's 405, tower-http's timeout. One net at the edge is simpler and
/// safer than configuring each layer, and it covers layers added later too.
async fn problem_json(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route; see the Allow header",
        StatusCode::NOT_FOUND => "no such route",
        StatusCode::PAYLOAD_TOO_LARGE => "request body is larger than the limit",
        StatusCode::SERVICE_UNAVAILABLE => "the request took too long; retry later",
        _ => "the request could not be handled",
    };
    let mut problem = problem_response(status, detail, None);
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().entry(name).or_insert(value.clone());
        }
    }
    problem
}
