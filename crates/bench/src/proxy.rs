//! A counting TCP proxy between a tier and PostgreSQL: the explanation of the gaps.
//!
//! Timings say *that* one tier is slower; this says *why*. Every byte between the tier
//! and the server passes through here, and we cut it into PostgreSQL protocol messages
//! (the wire format is simple: after the start-up packet, every message is a 1-byte
//! type, a 4-byte big-endian length that counts itself, and a body). We count:
//!
//! * **messages**, per type and direction: `Bind`, `Execute`, `Sync` from the client;
//!   `BindComplete`, `DataRow`, `CommandComplete`, `ReadyForQuery` from the server;
//! * **round trips**: a round trip is a burst of client messages answered by the
//!   server, so we count each time the traffic on a connection turns from
//!   client-sending to server-sending. A prepared query costs one; preparing it
//!   first costs another; a pool that pings a connection on checkout costs a third.
//!
//! Round trips, not SQL, dominate a single-row lookup on a fast server: at ~30 µs of
//! network and wake-ups per trip, a request making three pays for it three times.
//!
//! The proxy understands no more than the framing, and a TLS session (`SSLRequest`
//! answered `S`) would be opaque to it: the bench connects without TLS.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The start-up packet's protocol code that asks for TLS (`SSLRequest`).
const SSL_REQUEST: u32 = 80_877_103;
/// The start-up packet's protocol code that asks for GSS encryption (`GSSENCRequest`).
const GSSENC_REQUEST: u32 = 80_877_104;

/// Which side sent some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The tier (the PostgreSQL client).
    Client,
    /// PostgreSQL.
    Server,
}

/// One message found in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A typed message: `b'B'` is Bind from a client, BindComplete is `b'2'`, ...
    Message(u8),
    /// A start-up packet (no type byte), with its protocol code.
    Startup(u32),
    /// The server's one-byte, unframed answer to `SSLRequest` or `GSSENCRequest`.
    EncryptionAnswer(u8),
}

/// Cuts one direction of a connection into messages, across any TCP chunking: a
/// message may arrive split over several reads, or several in one read.
#[derive(Debug, Clone)]
pub struct Splitter {
    /// The client side starts with an untyped start-up packet.
    startup: bool,
    /// Unframed one-byte answers the server owes (set by the client side).
    pending_answers: u32,
    /// The header being assembled: 5 bytes typed, 8 bytes (length, code) at start-up.
    header: [u8; 8],
    header_len: usize,
    /// Body bytes of the current message still to pass.
    skip: usize,
    /// The stream stopped making sense (or turned into TLS): stop counting.
    lost: bool,
}

impl Splitter {
    /// The splitter of one side of a fresh connection.
    pub fn new(side: Side) -> Self {
        Self {
            startup: side == Side::Client,
            pending_answers: 0,
            header: [0; 8],
            header_len: 0,
            skip: 0,
            lost: false,
        }
    }

    /// Whether the stream could no longer be followed.
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// Tells the server side that the client asked for encryption: its next byte is a
    /// bare `N` (no), `S` or `G` (yes), not a framed message.
    pub fn expect_encryption_answer(&mut self) {
        self.pending_answers += 1;
    }

    /// Feeds the next bytes of this direction; calls `found` for each message begun.
    pub fn feed(&mut self, mut data: &[u8], mut found: impl FnMut(Frame)) {
        while !data.is_empty() && !self.lost {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            if self.pending_answers > 0 && self.header_len == 0 {
                self.pending_answers -= 1;
                let answer = data[0];
                data = &data[1..];
                found(Frame::EncryptionAnswer(answer));
                // `S` or `G`: the rest is encrypted, and no longer ours to read.
                self.lost = answer != b'N';
                continue;
            }
            let want = if self.startup { 8 } else { 5 };
            let n = (want - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
            self.header_len += n;
            data = &data[n..];
            if self.header_len < want {
                continue;
            }
            self.header_len = 0;
            let [a, b, c, d, e, f, g, h] = self.header;
            if self.startup {
                let length = u32::from_be_bytes([a, b, c, d]) as usize;
                let code = u32::from_be_bytes([e, f, g, h]);
                // SSLRequest and GSSENCRequest are followed by another start-up packet.
                self.startup = matches!(code, SSL_REQUEST | GSSENC_REQUEST);
                self.lost = length < 8;
                self.skip = length.saturating_sub(8);
                found(Frame::Startup(code));
            } else {
                // The length counts itself (4 bytes) but not the type byte.
                let length = u32::from_be_bytes([b, c, d, e]) as usize;
                self.lost = length < 4;
                self.skip = length.saturating_sub(4);
                found(Frame::Message(a));
            }
        }
    }
}

/// Counts of everything that crossed the proxy, summed over its connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Client messages by type byte (start-up packets under 0).
    pub client: BTreeMap<u8, u64>,
    /// Server messages by type byte (encryption answers under 0).
    pub server: BTreeMap<u8, u64>,
    /// Turns from client-sending to server-sending.
    pub round_trips: u64,
    /// Bytes from the client.
    pub client_bytes: u64,
    /// Bytes from the server.
    pub server_bytes: u64,
    /// Connections opened through the proxy.
    pub connections: u64,
}

impl Counts {
    /// `self - earlier`, for the traffic between two snapshots.
    pub fn since(&self, earlier: &Counts) -> Counts {
        let diff = |now: &BTreeMap<u8, u64>, then: &BTreeMap<u8, u64>| {
            now.iter()
                .map(|(k, v)| (*k, v - then.get(k).copied().unwrap_or(0)))
                .filter(|(_, v)| *v > 0)
                .collect()
        };
        Counts {
            client: diff(&self.client, &earlier.client),
            server: diff(&self.server, &earlier.server),
            round_trips: self.round_trips - earlier.round_trips,
            client_bytes: self.client_bytes - earlier.client_bytes,
            server_bytes: self.server_bytes - earlier.server_bytes,
            connections: self.connections - earlier.connections,
        }
    }
}

/// Follows one connection: both splitters and the round-trip rule. Pure, so the
/// tests feed it captured bytes; the proxy feeds it what it forwards.
#[derive(Debug, Clone)]
pub struct ConnectionCounter {
    client: Splitter,
    server: Splitter,
    last: Option<Side>,
}

impl Default for ConnectionCounter {
    fn default() -> Self {
        Self {
            client: Splitter::new(Side::Client),
            server: Splitter::new(Side::Server),
            last: None,
        }
    }
}

impl ConnectionCounter {
    /// Accounts for `data` sent by `side` into `counts`.
    pub fn observe(&mut self, side: Side, data: &[u8], counts: &mut Counts) {
        if data.is_empty() {
            return;
        }
        match side {
            Side::Client => {
                counts.client_bytes += data.len() as u64;
                let mut asked_encryption = 0;
                self.client.feed(data, |frame| match frame {
                    Frame::Message(kind) => *counts.client.entry(kind).or_default() += 1,
                    Frame::Startup(code) => {
                        *counts.client.entry(0).or_default() += 1;
                        if matches!(code, SSL_REQUEST | GSSENC_REQUEST) {
                            asked_encryption += 1;
                        }
                    }
                    Frame::EncryptionAnswer(_) => {}
                });
                for _ in 0..asked_encryption {
                    self.server.expect_encryption_answer();
                }
            }
            Side::Server => {
                counts.server_bytes += data.len() as u64;
                if self.last == Some(Side::Client) {
                    counts.round_trips += 1;
                }
                self.server.feed(data, |frame| match frame {
                    Frame::Message(kind) => *counts.server.entry(kind).or_default() += 1,
                    Frame::EncryptionAnswer(_) | Frame::Startup(_) => {
                        *counts.server.entry(0).or_default() += 1;
                    }
                });
            }
        }
        self.last = Some(side);
    }
}

/// A running proxy: where to connect, and its counters.
pub struct Proxy {
    addr: SocketAddr,
    counts: Arc<Mutex<Counts>>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub async fn start(upstream: String) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the proxy")?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Mutex::new(Counts::default()));
        let shared = Arc::clone(&counts);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counts = Arc::clone(&shared);
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        relay(client, server, counts).await;
                    }
                });
            }
        });
        Ok(Self { addr, counts, task })
    }

    /// The address the tier should connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A copy of the counters so far.
    pub fn snapshot(&self) -> Counts {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Stops accepting; connections still open end when the tier closes them.
        self.task.abort();
    }
}

/// Forwards bytes both ways until either side closes, counting as it goes. One task
/// owns both directions, so the two splitters need no lock between them.
async fn relay(mut client: TcpStream, mut server: TcpStream, counts: Arc<Mutex<Counts>>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut counter = ConnectionCounter::default();
    counts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .connections += 1;
    let mut from_client = vec![0u8; 64 * 1024];
    let mut from_server = vec![0u8; 64 * 1024];
    loop {
        let (side, n) = tokio::select! {
            read = client.read(&mut from_client) => (Side::Client, read),
            read = server.read(&mut from_server) => (Side::Server, read),
        };
        let n = match n {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (data, to) = match side {
            Side::Client => (&from_client[..n], &mut server),
            Side::Server => (&from_server[..n], &mut client),
        };
        // Count before forwarding: the reply cannot arrive before the request left.
        counter.observe(
            side,
            data,
            &mut counts.lock().unwrap_or_else(PoisonError::into_inner),
        );
        if to.write_all(data).await.is_err() {
            break;
        }
    }
}

/// Per-request averages of a [`Counts`] difference over `requests` requests.
#[derive(Debug, Clone, Serialize)]
pub struct PerRequest {
    /// Requests measured.
    pub requests: usize,
    /// Round trips per request.
    pub round_trips: f64,
    /// Client messages per request.
    pub client_messages: f64,
    /// Server messages per request.
    pub server_messages: f64,
    /// Bytes per request, both directions.
    pub bytes: f64,
    /// Client messages per request by name, e.g. `Bind: 1`.
    pub client: BTreeMap<String, f64>,
    /// Server messages per request by name.
    pub server: BTreeMap<String, f64>,
    /// New database connections opened during the measurement (should be 0).
    pub new_connections: u64,
}

impl PerRequest {
    /// Divides `counts` by `requests`.
    pub fn new(counts: &Counts, requests: usize) -> Self {
        let n = requests.max(1) as f64;
        let per = |map: &BTreeMap<u8, u64>, side: Side| {
            map.iter()
                .map(|(kind, count)| (message_name(side, *kind).to_owned(), *count as f64 / n))
                .collect()
        };
        Self {
            requests,
            round_trips: counts.round_trips as f64 / n,
            client_messages: counts.client.values().sum::<u64>() as f64 / n,
            server_messages: counts.server.values().sum::<u64>() as f64 / n,
            bytes: (counts.client_bytes + counts.server_bytes) as f64 / n,
            client: per(&counts.client, Side::Client),
            server: per(&counts.server, Side::Server),
            new_connections: counts.connections,
        }
    }
}

/// The protocol's name for a message type byte (PostgreSQL docs, "Message Formats").
pub fn message_name(side: Side, kind: u8) -> &'static str {
    match (side, kind) {
        (Side::Client, 0) => "StartupMessage",
        (Side::Client, b'B') => "Bind",
        (Side::Client, b'C') => "Close",
        (Side::Client, b'D') => "Describe",
        (Side::Client, b'E') => "Execute",
        (Side::Client, b'F') => "FunctionCall",
        (Side::Client, b'H') => "Flush",
        (Side::Client, b'P') => "Parse",
        (Side::Client, b'Q') => "Query",
        (Side::Client, b'S') => "Sync",
        (Side::Client, b'X') => "Terminate",
        (Side::Client, b'p') => "PasswordMessage",
        (Side::Client, b'd') => "CopyData",
        (Side::Client, b'c') => "CopyDone",
        (Side::Client, b'f') => "CopyFail",
        (Side::Server, 0) => "EncryptionAnswer",
        (Side::Server, b'1') => "ParseComplete",
        (Side::Server, b'2') => "BindComplete",
        (Side::Server, b'3') => "CloseComplete",
        (Side::Server, b'A') => "NotificationResponse",
        (Side::Server, b'C') => "CommandComplete",
        (Side::Server, b'D') => "DataRow",
        (Side::Server, b'E') => "ErrorResponse",
        (Side::Server, b'I') => "EmptyQueryResponse",
        (Side::Server, b'K') => "BackendKeyData",
        (Side::Server, b'N') => "NoticeResponse",
        (Side::Server, b'R') => "Authentication",
        (Side::Server, b'S') => "ParameterStatus",
        (Side::Server, b'T') => "RowDescription",
        (Side::Server, b'Z') => "ReadyForQuery",
        (Side::Server, b'n') => "NoData",
        (Side::Server, b's') => "PortalSuspended",
        (Side::Server, b't') => "ParameterDescription",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A typed message with `body`.
    fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    /// An untyped start-up packet with `code` and `body`.
    fn startup(code: u32, body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32 + 8).to_be_bytes().to_vec();
        out.extend_from_slice(&code.to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn frames(splitter: &mut Splitter, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut found = Vec::new();
        for chunk in chunks {
            splitter.feed(chunk, |frame| found.push(frame));
        }
        found
    }

    /// A prepared statement executed the way tokio-postgres does it: Bind, Execute,
    /// Sync in one write; BindComplete, DataRow, CommandComplete, ReadyForQuery back.
    fn execute_prepared() -> (Vec<u8>, Vec<u8>) {
        let request = [
            msg(
                b'B',
                b"\0s0\0\0\x01\0\x01\0\x01\0\0\0\x08\0\0\0\0\0\0\0\x07\0\x01\0\x01",
            ),
            msg(b'E', b"\0\0\0\0\0"),
            msg(b'S', b""),
        ]
        .concat();
        let reply = [
            msg(b'2', b""),
            msg(b'D', b"\0\x01\0\0\0\x01x"),
            msg(b'C', b"SELECT 1\0"),
            msg(b'Z', b"I"),
        ]
        .concat();
        (request, reply)
    }

    #[test]
    fn splits_messages_however_the_bytes_are_chunked() {
        let (request, _) = execute_prepared();
        let expected = vec![
            Frame::Message(b'B'),
            Frame::Message(b'E'),
            Frame::Message(b'S'),
        ];
        // Whole, byte by byte, and cut in the middle of a header.
        let mut whole = Splitter::new(Side::Server);
        assert_eq!(frames(&mut whole, &[&request]), expected);
        let bytes: Vec<&[u8]> = request.chunks(1).collect();
        let mut single = Splitter::new(Side::Server);
        assert_eq!(frames(&mut single, &bytes), expected);
        let mut cut = Splitter::new(Side::Server);
        assert_eq!(frames(&mut cut, &[&request[..3], &request[3..]]), expected);
    }

    #[test]
    fn the_startup_packet_has_no_type_byte() {
        let mut client = Splitter::new(Side::Client);
        let hello = startup(196_608, b"user\0postgres\0database\0users_bench\0\0");
        let found = frames(&mut client, &[&hello, &msg(b'Q', b"SELECT 1\0")]);
        assert_eq!(found, vec![Frame::Startup(196_608), Frame::Message(b'Q')]);
    }

    #[test]
    fn an_ssl_request_is_answered_by_one_bare_byte() {
        let mut counter = ConnectionCounter::default();
        let mut counts = Counts::default();
        counter.observe(Side::Client, &startup(SSL_REQUEST, b""), &mut counts);
        // `N`: no TLS. The client then sends the real start-up packet.
        counter.observe(Side::Server, b"N", &mut counts);
        counter.observe(Side::Client, &startup(196_608, b"user\0x\0\0"), &mut counts);
        let auth_ok = msg(b'R', &[0, 0, 0, 0]);
        let ready = msg(b'Z', b"I");
        counter.observe(Side::Server, &[auth_ok, ready].concat(), &mut counts);
        assert_eq!(counts.client.get(&0), Some(&2));
        assert_eq!(counts.server.get(&0), Some(&1));
        assert_eq!(counts.server.get(&b'R'), Some(&1));
        assert_eq!(counts.server.get(&b'Z'), Some(&1));
        assert_eq!(counts.round_trips, 2);
        assert!(!counter.server.lost());
    }

    #[test]
    fn a_round_trip_is_a_turn_from_client_to_server() {
        let (request, reply) = execute_prepared();
        let mut counter = ConnectionCounter::default();
        counter.client.startup = false;
        let mut counts = Counts::default();
        // One request, its reply split over two reads: one round trip.
        counter.observe(Side::Client, &request, &mut counts);
        counter.observe(Side::Server, &reply[..7], &mut counts);
        counter.observe(Side::Server, &reply[7..], &mut counts);
        assert_eq!(counts.round_trips, 1);
        // sqlx's checkout ping then the query: two turns, two round trips.
        counter.observe(Side::Client, &msg(b'Q', b"SELECT 1\0"), &mut counts);
        counter.observe(Side::Server, &msg(b'Z', b"I"), &mut counts);
        counter.observe(Side::Client, &request[..4], &mut counts);
        counter.observe(Side::Client, &request[4..], &mut counts);
        counter.observe(Side::Server, &reply, &mut counts);
        assert_eq!(counts.round_trips, 3);
        assert_eq!(counts.client.get(&b'B'), Some(&2));
        assert_eq!(counts.server.get(&b'D'), Some(&2));
        assert_eq!(counts.server.get(&b'Z'), Some(&3));

        let per = PerRequest::new(&counts, 2);
        assert_eq!(per.round_trips, 1.5);
        assert_eq!(per.client["Bind"], 1.0);
        assert_eq!(per.client["Query"], 0.5);
        assert_eq!(per.server["ReadyForQuery"], 1.5);
    }

    #[test]
    fn differences_of_snapshots_drop_unchanged_types() {
        let mut before = Counts::default();
        before.client.insert(b'B', 3);
        before.round_trips = 3;
        let mut after = before.clone();
        *after.client.entry(b'B').or_default() += 2;
        after.client.insert(b'P', 1);
        after.round_trips = 6;
        let diff = after.since(&before);
        assert_eq!(diff.client, BTreeMap::from([(b'B', 2), (b'P', 1)]));
        assert_eq!(diff.round_trips, 3);
    }

    #[tokio::test]
    async fn the_proxy_forwards_and_counts() {
        // A fake server that answers every burst with ReadyForQuery.
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = upstream.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            while let Ok(n) = socket.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                socket.write_all(&msg(b'Z', b"I")).await.unwrap();
            }
        });
        let proxy = Proxy::start(upstream_addr.to_string()).await.unwrap();
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut buf = [0u8; 6];
        client.write_all(&startup(196_608, b"\0")).await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        client.write_all(&msg(b'Q', b"SELECT 1\0")).await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf[0], b'Z');
        let counts = proxy.snapshot();
        assert_eq!(counts.round_trips, 2);
        assert_eq!(counts.connections, 1);
        assert_eq!(counts.client.get(&b'Q'), Some(&1));
        assert_eq!(counts.server.get(&b'Z'), Some(&2));
    }
}
