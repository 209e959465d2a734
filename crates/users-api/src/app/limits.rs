//! Limits checked before a request reaches its route: the size of its head (414, 431)
//! and the number of requests served at once (503, load shed).
//!
//! Both answer at once, without reading anything more from the client or touching the
//! database, and in `problem+json` like every other error.
//!
//! hyper has limits of its own, but it answers them with a bare status line and no
//! body, before any of our code runs. So hyper's are set well above ours
//! (`server/accept.rs`: a 128 KiB read buffer, 1,024 headers) and ours, which come
//! first, give the contract's answers. Only what is past hyper's (a head over 128 KiB,
//! more than 1,024 header lines, a target over 64 KiB) still gets hyper's bare one.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Semaphore;

use crate::error::problem_response;

/// The longest request target served (API.md): 8 KiB.
pub const MAX_TARGET_BYTES: usize = 8 * 1024;

/// The most header bytes served, names and values together (API.md): 32 KiB.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// What a shed request is told to wait before it retries, in seconds: load comes and
/// goes faster than a database comes back, so this is shorter than an outage's 2 s.
pub const SHED_RETRY_AFTER_SECS: u64 = 1;

/// Middleware: both limits in one layer, the head first, then the load.
///
/// One layer rather than two: every `from_fn` layer boxes its future and clones the
/// stack below it on each request, about 2,000 instructions (measured with callgrind:
/// docs/profile.md), and these two checks need nothing of each other's but their order.
pub async fn check_limits(
    State(in_flight): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(refused) = check_head(&request) {
        return refused;
    }
    let Ok(_permit) = in_flight.try_acquire() else {
        return shed_load();
    };
    next.run(request).await
}

/// 414 for a request target over [`MAX_TARGET_BYTES`], 431 for headers over
/// [`MAX_HEADER_BYTES`]; checked before the path or the query is parsed, so the length
/// decides whatever the target holds.
fn check_head(request: &Request) -> Option<Response> {
    if target_len(request.uri()) > MAX_TARGET_BYTES {
        return Some(problem_response(
            StatusCode::URI_TOO_LONG,
            "the request target is longer than 8 KiB",
            None,
        ));
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (header_bytes > MAX_HEADER_BYTES).then(|| {
        problem_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request headers are larger than 32 KiB in all",
            None,
        )
    })
}

/// The length of the target as the client sent it: the path and query, plus scheme
/// and authority for a target in absolute form (`GET http://host/users HTTP/1.1`).
fn target_len(uri: &Uri) -> usize {
    let scheme = uri
        .scheme_str()
        .map_or(0, |scheme| scheme.len() + "://".len());
    let authority = uri
        .authority()
        .map_or(0, |authority| authority.as_str().len());
    let path_and_query = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    scheme + authority + path_and_query
}

/// The answer when the limit of requests in flight is reached: 503 at once, so load
/// is shed, not queued. A queue would only make every client wait longer for the same
/// throughput, and past the knee (`MAX_IN_FLIGHT`, measured) more requests at once do
/// not make more throughput. Every route counts, `/health` included: under overload a
/// load balancer's health check should see it.
///
/// [`check_limits`] holds the permit until the response's head is ready; a streamed
/// body (the export) goes on without it, as tower's `ConcurrencyLimit` does.
fn shed_load() -> Response {
    let mut response = problem_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is serving as many requests as it can; retry later",
        None,
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(SHED_RETRY_AFTER_SECS),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_counts_every_part_the_client_sent() {
        assert_eq!(target_len(&Uri::from_static("/users?limit=5")), 14);
        assert_eq!(target_len(&Uri::from_static("http://h:1/users")), 16);
    }
}
