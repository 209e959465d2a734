//! Draining what nobody read: a request body left unread when the answer is ready.
//!
//! Many answers come before a handler reads the body, or without any handler: a 404
//! for an unknown route, a 405, a 400 for `/users/abc` in `PATCH /users/abc`. hyper
//! then sends the answer and closes the connection while the client may still be
//! sending its body. The client's TCP stack sees a reset, and the client reports a
//! broken pipe or "connection closed before message completed" instead of our answer
//! (found by the hostile-request tests, sending bodies to every route).
//!
//! So every request's body goes to the router wrapped in [`ReturnedOnDrop`]: whoever
//! drops it unread hands it back, and [`drain_unread_body`] reads and discards the
//! rest within the bounds every refused body gets (`extract::drain`: at most 1 MiB,
//! at most 2 s), before the answer leaves. A body that was read to the end, the
//! normal case, costs nothing but the wrapper.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use crate::extract::drain;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

/// A request body that, dropped before its end, puts itself back into `slot`.
struct ReturnedOnDrop {
    inner: Option<Body>,
    slot: Arc<Mutex<Option<Body>>>,
}

impl HttpBody for ReturnedOnDrop {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        match self.get_mut().inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| http_body::SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for ReturnedOnDrop {
    fn drop(&mut self) {
        if let Some(body) = self.inner.take()
            && !body.is_end_stream()
        {
            *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(body);
        }
    }
}

/// Middleware: serves the request, then drains whatever of its body was left unread
/// (see the module docs), then lets the answer go.
pub async fn drain_unread_body(request: Request, next: Next) -> Response {
    // No body at all (a GET, a DELETE): nothing can be left unread, so the request
    // skips the wrapper and its two allocations (measured: docs/profile.md).
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let slot = Arc::new(Mutex::new(None));
    let wrapped = ReturnedOnDrop {
        inner: Some(body),
        slot: Arc::clone(&slot),
    };
    let response = next
        .run(Request::from_parts(parts, Body::new(wrapped)))
        .await;
    let unread = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    // A 408 or a 413 comes from the body extractor, which has already waited for or
    // drained this body as long as it should: waiting again would only delay the answer.
    let refused_already = matches!(
        response.status(),
        StatusCode::REQUEST_TIMEOUT | StatusCode::PAYLOAD_TOO_LARGE
    );
    if let Some(body) = unread
        && !refused_already
    {
        drain(body, 0).await;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    async fn read_all(body: Body) -> Bytes {
        body.collect().await.unwrap().to_bytes()
    }

    fn wrapped(text: &'static str) -> (ReturnedOnDrop, Arc<Mutex<Option<Body>>>) {
        let slot = Arc::new(Mutex::new(None));
        let body = ReturnedOnDrop {
            inner: Some(Body::from(text)),
            slot: Arc::clone(&slot),
        };
        (body, slot)
    }

    #[tokio::test]
    async fn a_body_dropped_unread_comes_back_whole() {
        let (body, slot) = wrapped("unread bytes");
        drop(body);
        let back = slot.lock().unwrap().take().expect("handed back");
        assert_eq!(read_all(back).await, "unread bytes");
    }

    #[tokio::test]
    async fn a_body_read_to_the_end_is_not_handed_back() {
        let (body, slot) = wrapped("read bytes");
        assert_eq!(read_all(Body::new(body)).await, "read bytes");
        assert!(slot.lock().unwrap().is_none());
    }
}
