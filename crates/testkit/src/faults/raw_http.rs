//! HTTP/1.1 by hand, for the cases reqwest cannot express: a client that hangs up at
//! a moment of its choosing, one that reads slowly through a small receive buffer, and
//! a reader of the raw chunked encoding.
//!
//! reqwest (through hyper) hides the chunked framing of a streamed response: a body
//! that ends without its terminating zero-length chunk surfaces as some error, or not
//! at all. API.md makes that terminator the signal of a complete export ("if the
//! database fails after the first byte, the response is cut off"), so these cases read
//! the bytes off the socket themselves and decode them with [`decode`].

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// A read that takes longer than this means the server hung: the case fails.
const HANG: Duration = Duration::from_secs(30);

/// Connects to `addr`; with `recv_buffer`, the socket's receive buffer is set to that
/// many bytes first (before the connection exists, so the TCP window is sized by it):
/// the server can then send only that much ahead of what the client has read.
pub(super) async fn open(addr: SocketAddr, recv_buffer: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a TCP socket");
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
    }
    socket.connect(addr).await.expect("connect to the tier")
}

/// Sends one request; `Connection: close`, so the server closes once it has answered
/// (the end of the bytes is the end of the answer).
pub(super) async fn send(stream: &mut TcpStream, method: &str, path: &str, body: Option<&Value>) {
    let body = body.map(|body| serde_json::to_vec(body).expect("serialize"));
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(body) = &body {
        request.push_str("Content-Type: application/json\r\n");
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend(body.unwrap_or_default());
    stream.write_all(&bytes).await.expect("send the request");
}

/// Reads until the answer's head and at least `body_bytes` bytes after it have come
/// (or the server closed). Returns what was read.
pub(super) async fn read_at_least(stream: &mut TcpStream, body_bytes: usize) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if let Some(end) = head_end(&raw)
            && raw.len() >= end + body_bytes
        {
            return raw;
        }
        match tokio::time::timeout(HANG, stream.read(&mut buffer)).await {
            Err(_) => panic!("no byte from the tier for {HANG:?}: it hung"),
            Ok(Ok(0) | Err(_)) => return raw,
            Ok(Ok(read)) => raw.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Reads until the server closes (or resets) the connection, at most `rate` bytes a
/// second when given (a slow reader), as fast as it comes otherwise. Appends to `raw`.
pub(super) async fn read_to_end(stream: &mut TcpStream, raw: &mut Vec<u8>, rate: Option<f64>) {
    let started = Instant::now();
    let already = raw.len();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if let Some(rate) = rate {
            // Pacing, not synchronisation: stay at or under `rate` on average.
            let ahead = (raw.len() - already) as f64 / rate - started.elapsed().as_secs_f64();
            if ahead > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(ahead)).await;
            }
        }
        match tokio::time::timeout(HANG, stream.read(&mut buffer)).await {
            Err(_) => panic!("no byte from the tier for {HANG:?}: it hung"),
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(read)) => raw.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Where the head of an answer ends (the index after its blank line), once it has come.
fn head_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// An answer read off the socket, its chunked body decoded.
#[derive(Debug)]
pub(super) struct RawAnswer {
    /// The status code of the status line.
    pub status: u16,
    /// The head, lower-cased (status line and header fields).
    pub head: String,
    /// The body: the data of every chunk received, the last one possibly partial.
    pub body: Vec<u8>,
    /// Whether the zero-length chunk that ends a complete chunked body arrived.
    pub terminated: bool,
}

impl RawAnswer {
    /// The body's complete lines (each ended by `\n`), without their `\n`; a partial
    /// last line is left out. Fails the test on a line that is not UTF-8.
    pub fn complete_lines(&self) -> Vec<&str> {
        let end = self
            .body
            .iter()
            .rposition(|byte| *byte == b'\n')
            .map_or(0, |at| at + 1);
        let text = std::str::from_utf8(&self.body[..end]).expect("ndjson is UTF-8");
        text.lines().collect()
    }
}

/// Decodes the bytes of one answer whose body is chunked: the head, then chunk by
/// chunk until the terminating chunk or the end of the bytes. Fails the test if the
/// bytes hold no complete head, if the body is not chunked, or if the framing is
/// malformed (a size line that is not hex, a chunk not followed by CRLF).
pub(super) fn decode(raw: &[u8]) -> RawAnswer {
    let end = head_end(raw).unwrap_or_else(|| {
        panic!(
            "no complete answer head in {} bytes: {:?}",
            raw.len(),
            String::from_utf8_lossy(raw)
        )
    });
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status code in {head:?}"));
    assert!(
        head.contains("\r\ntransfer-encoding: chunked\r\n"),
        "the answer is not chunked: {head}"
    );
    let mut rest = &raw[end..];
    let mut body = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|window| window == b"\r\n") else {
            return RawAnswer {
                status,
                head,
                body,
                terminated: false,
            };
        };
        let size_line = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .unwrap_or_else(|_| panic!("a chunk size that is not hex: {size_line:?}"));
        rest = &rest[line_end + 2..];
        if size == 0 {
            // The last chunk, then (no trailers) the final CRLF.
            let terminated = rest.starts_with(b"\r\n");
            return RawAnswer {
                status,
                head,
                body,
                terminated,
            };
        }
        if rest.len() < size + 2 {
            body.extend_from_slice(&rest[..rest.len().min(size)]);
            return RawAnswer {
                status,
                head,
                body,
                terminated: false,
            };
        }
        body.extend_from_slice(&rest[..size]);
        assert_eq!(
            &rest[size..size + 2],
            b"\r\n",
            "a chunk not followed by CRLF"
        );
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n";

    #[test]
    fn a_complete_body_is_terminated_and_a_cut_one_is_not() {
        let complete = format!("{HEAD}4\r\na\nb\n\r\n3;ext=1\r\nc\nd\r\n0\r\n\r\n");
        let answer = decode(complete.as_bytes());
        assert_eq!(answer.status, 200);
        assert!(answer.terminated);
        assert_eq!(answer.body, b"a\nb\nc\nd");
        assert_eq!(answer.complete_lines(), vec!["a", "b", "c"]);

        // Cut inside a chunk, after a whole chunk, and before the final CRLF.
        for cut in [
            format!("{HEAD}4\r\na\nb\n\r\n3\r\nc"),
            format!("{HEAD}4\r\na\nb\n\r\n"),
            format!("{HEAD}4\r\na\nb\n\r\n0\r\n"),
        ] {
            let answer = decode(cut.as_bytes());
            assert!(!answer.terminated, "{cut:?}");
            assert_eq!(answer.complete_lines(), vec!["a", "b"]);
        }
    }

    #[test]
    #[should_panic(expected = "not hex")]
    fn malformed_framing_fails() {
        decode(format!("{HEAD}zz\r\nabc\r\n").as_bytes());
    }
}
