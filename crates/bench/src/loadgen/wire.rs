//! The lean HTTP/1.1 client of the closed loop: HTTP written straight on a socket.
//!
//! One [`Connection`] is one keep-alive TCP stream (`TCP_NODELAY`), one request in
//! flight at a time (no pipelining, as wrk). The request is formatted into a buffer
//! that lives as long as the connection, and the response is read into another; its
//! head is parsed by `httparse` (hyper's own parser) and its body framed by
//! `Content-Length` or `Transfer-Encoding: chunked`. So a `GET` costs one `write` and
//! usually one `read` system call and no heap allocation ([`Connection::get`]).
//!
//! Why not hyper's client (`loadgen/client.rs`, which the export still uses)? It is a
//! general client: a task of its own per connection, a channel between the caller and
//! that task, a `HeaderMap` and a body stream per response. All of that runs on the
//! same 2 cores as the server under test, and made the bench's generator cost more
//! CPU per request than wrk, so the tiers looked slower beside pgbench than they are.
//!
//! Every read stops at the end of one response, or fails: a body cut off by the peer
//! is an error, never a hang (and the caller's timeout bounds every request anyway).

use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::RequestSpec;

/// Headers one response may carry; the tiers send about eight.
const MAX_HEADERS: usize = 32;
/// The largest response kept in memory (an export is read by `crate::export`, not here).
const MAX_RESPONSE: usize = 64 << 20;
/// How much more room each read asks for.
const READ_CHUNK: usize = 16 << 10;

/// One keep-alive HTTP/1.1 connection and its two reused buffers.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    /// `host: ADDR\r\n`, written once.
    host_line: Vec<u8>,
    /// The request being sent; cleared, never freed, between requests.
    request: Vec<u8>,
    /// Bytes read from the socket; `filled` of them are valid.
    response: Vec<u8>,
    filled: usize,
    /// The server said `connection: close`: the next request needs a new connection.
    closed: bool,
}

/// A whole response, as the soak needs it to delete what it created.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `Location` header, if any (and readable as text).
    pub location: Option<String>,
    /// The body (de-chunked).
    pub body: Bytes,
}

/// What the head of a response says, and where its body lies in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    status: u16,
    /// Length of the head, blank line included.
    len: usize,
    framing: Framing,
    location: Option<String>,
    close: bool,
}

/// How the body's end is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    /// No length: the body runs to the end of the connection.
    UntilClose,
}

/// Opens a keep-alive HTTP/1.1 connection to `addr`.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Connection> {
    let stream = TcpStream::connect(addr).await?;
    // Requests are small and latency-bound: do not let Nagle's algorithm hold them.
    stream.set_nodelay(true)?;
    Ok(Connection {
        stream,
        host_line: format!("host: {addr}\r\n").into_bytes(),
        request: Vec::with_capacity(1024),
        response: vec![0; READ_CHUNK],
        filled: 0,
        closed: false,
    })
}

/// Sends one request and reads the whole response; returns the status.
pub async fn send(
    connection: &mut Connection,
    _addr: SocketAddr,
    spec: &RequestSpec,
) -> anyhow::Result<u16> {
    connection.write_request(
        spec.method.as_str(),
        format_args!("{}", spec.path),
        spec.body.as_deref(),
    )?;
    Ok(connection.exchange(false).await?.0.status)
}

/// Sends one request and reads the whole response: status, `Location` and body.
pub async fn send_answer(
    connection: &mut Connection,
    _addr: SocketAddr,
    spec: &RequestSpec,
) -> anyhow::Result<Answer> {
    connection.write_request(
        spec.method.as_str(),
        format_args!("{}", spec.path),
        spec.body.as_deref(),
    )?;
    let (head, body) = connection.exchange(true).await?;
    Ok(Answer {
        status: head.status,
        location: head.location,
        body: Bytes::from(body),
    })
}

/// The status of one `GET path` on a fresh connection (for `/health`).
pub async fn status_of(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let attempt = async {
        let mut connection = connect(addr).await?;
        let answer = connection.get(format_args!("{path}"));
        answer.await
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), attempt)
        .await
        .context("timed out")?
}

impl Connection {
    /// Whether the server said `connection: close`: the next request must go on a
    /// new connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// `GET path`, the path formatted straight into the request buffer (no allocation
    /// once the buffers have grown); returns the status. The path is formatted before
    /// the future is made, since `fmt::Arguments` cannot be held across an `.await`.
    pub fn get(
        &mut self,
        path: fmt::Arguments<'_>,
    ) -> impl Future<Output = anyhow::Result<u16>> + Send + '_ {
        let written = self.write_request("GET", path, None);
        async move {
            written?;
            Ok(self.exchange(false).await?.0.status)
        }
    }

    /// Formats a request into the reused buffer.
    fn write_request(
        &mut self,
        method: &str,
        path: fmt::Arguments<'_>,
        body: Option<&str>,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(!self.closed, "the server closed the connection");
        let request = &mut self.request;
        request.clear();
        write!(request, "{method} {path} HTTP/1.1\r\n")?;
        request.extend_from_slice(&self.host_line);
        if let Some(body) = body {
            write!(
                request,
                "content-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )?;
            request.extend_from_slice(body.as_bytes());
        } else {
            request.extend_from_slice(b"\r\n");
        }
        Ok(())
    }

    /// Writes the buffered request and reads one response. The body is returned
    /// (de-chunked) only if `keep_body`; otherwise it is read and dropped.
    async fn exchange(&mut self, keep_body: bool) -> anyhow::Result<(Head, Vec<u8>)> {
        self.stream.write_all(&self.request).await?;
        let head = loop {
            if let Some(head) = parse_head(&self.response[..self.filled])? {
                break head;
            }
            self.read_more()
                .await
                .context("reading the response head")?;
        };
        let mut body = Vec::new();
        let end = match head.framing {
            Framing::Length(length) => {
                let end = head.len + length;
                anyhow::ensure!(end <= MAX_RESPONSE, "a body of {length} bytes");
                while self.filled < end {
                    self.read_more().await.context("reading the body")?;
                }
                if keep_body {
                    body.extend_from_slice(&self.response[head.len..end]);
                }
                end
            }
            Framing::Chunked => loop {
                let sink = keep_body.then_some(&mut body);
                match dechunk(&self.response[head.len..self.filled], sink)? {
                    Some(used) => break head.len + used,
                    None => {
                        body.clear();
                        self.read_more().await.context("reading a chunked body")?;
                    }
                }
            },
            Framing::UntilClose => {
                while self.read_more().await.is_ok() {}
                self.closed = true;
                if keep_body {
                    body.extend_from_slice(&self.response[head.len..self.filled]);
                }
                self.filled
            }
        };
        // One request in flight: nothing should follow the response, but keep what
        // does rather than lose it.
        self.response.copy_within(end..self.filled, 0);
        self.filled -= end;
        self.closed |= head.close;
        Ok((head, body))
    }

    /// Reads more bytes into the response buffer, growing it if full; fails at the end
    /// of the stream.
    async fn read_more(&mut self) -> anyhow::Result<()> {
        if self.filled == self.response.len() {
            anyhow::ensure!(
                self.response.len() < MAX_RESPONSE,
                "a response over {MAX_RESPONSE} bytes"
            );
            self.response
                .resize(self.response.len() + READ_CHUNK.max(self.response.len()), 0);
        }
        let read = self.stream.read(&mut self.response[self.filled..]).await?;
        if read == 0 {
            bail!("the server closed the connection mid-response");
        }
        self.filled += read;
        Ok(())
    }
}

/// Parses a response head, or `None` if `bytes` does not hold all of it yet.
fn parse_head(bytes: &[u8]) -> anyhow::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(bytes).context("parsing the response head")? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let status = response.code.context("a response without a status")?;
    let mut framing = None;
    let mut location = None;
    let mut close = false;
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") && framing != Some(Framing::Chunked) {
            let length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .context("an unreadable content-length")?;
            framing = Some(Framing::Length(length));
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // RFC 9112 6.3: chunked, when last, frames the body whatever the length says.
            let chunked = header
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            anyhow::ensure!(chunked, "a transfer-encoding other than chunked");
            framing = Some(Framing::Chunked);
        } else if name.eq_ignore_ascii_case("location") {
            location = std::str::from_utf8(header.value).ok().map(str::to_owned);
        } else if name.eq_ignore_ascii_case("connection") {
            close = header.value.eq_ignore_ascii_case(b"close");
        }
    }
    // 1xx, 204 and 304 have no body whatever the headers say.
    let framing = if status < 200 || status == 204 || status == 304 {
        Framing::Length(0)
    } else {
        framing.unwrap_or(Framing::UntilClose)
    };
    Ok(Some(Head {
        status,
        len,
        framing,
        location,
        close,
    }))
}

/// Walks a chunked body: `Some(bytes used)` once the last chunk and trailers are in
/// `bytes`, `None` if more must be read. The data goes to `sink` if given.
fn dechunk(bytes: &[u8], mut sink: Option<&mut Vec<u8>>) -> anyhow::Result<Option<usize>> {
    let mut at = 0;
    loop {
        let (size_len, size) = match httparse::parse_chunk_size(&bytes[at..])
            .map_err(|_| anyhow::anyhow!("an invalid chunk size"))?
        {
            httparse::Status::Complete(parsed) => parsed,
            httparse::Status::Partial => return Ok(None),
        };
        at += size_len;
        if size == 0 {
            // The trailer section: usually just the blank line, else headers then one.
            let rest = &bytes[at..];
            if rest.starts_with(b"\r\n") {
                return Ok(Some(at + 2));
            }
            return Ok(rest
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|end| at + end + 4));
        }
        let size = usize::try_from(size).ok().filter(|s| *s <= MAX_RESPONSE);
        let size = size.context("a chunk too large")?;
        if bytes.len() < at + size + 2 {
            return Ok(None);
        }
        if let Some(sink) = sink.as_deref_mut() {
            sink.extend_from_slice(&bytes[at..at + size]);
        }
        anyhow::ensure!(
            &bytes[at + size..at + size + 2] == b"\r\n",
            "a chunk without its CRLF"
        );
        at += size + 2;
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
