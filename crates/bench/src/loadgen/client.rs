//! A hyper HTTP/1.1 connection, for the one reader that needs a streamed body: the
//! `export` workload counts lines as the chunks arrive (`crate::export`).
//!
//! The closed loop and the soak use the lean client of `loadgen/wire.rs` instead:
//! hyper's connection task, channel and header map cost CPU on every request.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One HTTP/1.1 connection: the handle that sends requests on it.
pub type HyperConnection = SendRequest<Full<Bytes>>;

/// Opens a keep-alive HTTP/1.1 connection to `addr`.
pub async fn connect_hyper(addr: SocketAddr) -> anyhow::Result<HyperConnection> {
    let stream = TcpStream::connect(addr).await?;
    // Requests are small and latency-bound: do not let Nagle's algorithm hold them.
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection future does the reading and writing; it ends when `sender` drops.
    tokio::spawn(connection);
    Ok(sender)
}
