//! The HTTP/1.1 client side of the load generator: opening a keep-alive connection
//! and sending one request on it.
//!
//! Requests go through hyper's low-level HTTP/1.1 connection API
//! (`hyper::client::conn::http1`), with no pool and no retries in between: what we
//! time is the server, plus one TCP write and read.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::RequestSpec;

/// One HTTP/1.1 connection: the handle that sends requests on it.
pub type Connection = SendRequest<Full<Bytes>>;

/// Opens a keep-alive HTTP/1.1 connection to `addr`.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Connection> {
    let stream = TcpStream::connect(addr).await?;
    // Requests are small and latency-bound: do not let Nagle's algorithm hold them.
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection future does the reading and writing; it ends when `sender` drops.
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends one request and reads the whole response body; returns the status.
pub async fn send(
    sender: &mut Connection,
    addr: SocketAddr,
    spec: &RequestSpec,
) -> anyhow::Result<u16> {
    Ok(send_answer(sender, addr, spec).await?.status)
}

/// A whole response, as the soak needs it to delete what it created.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `Location` header, if any (and readable as text).
    pub location: Option<String>,
    /// The body.
    pub body: Bytes,
}

/// Sends one request and reads the whole response: status, `Location` and body.
pub async fn send_answer(
    sender: &mut Connection,
    addr: SocketAddr,
    spec: &RequestSpec,
) -> anyhow::Result<Answer> {
    sender.ready().await?;
    let mut request = Request::builder()
        .method(spec.method.clone())
        .uri(&spec.path)
        .header(header::HOST, addr.to_string());
    let body = match &spec.body {
        Some(body) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Full::new(Bytes::from(body.clone()))
        }
        None => Full::new(Bytes::new()),
    };
    let response = sender.send_request(request.body(body)?).await?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    // The client pays for reading the body, as a real one would.
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        location,
        body,
    })
}

/// The status of one `GET path` on a fresh connection (for `/health`).
pub async fn status_of(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let spec = RequestSpec {
        method: Method::GET,
        path: path.into(),
        body: None,
        expected: 200,
    };
    let attempt = async {
        let mut sender = connect(addr).await?;
        send(&mut sender, addr, &spec).await
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .context("timed out")?
}
