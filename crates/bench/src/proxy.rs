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
//! answered `S`) would be opaque to it: whoever connects through it is handed a URL
//! with `sslmode=disable` ([`Proxy::url_through`]).
//!
//! `examples/n_plus_one.rs` counts the statements of the N+1 lesson with it too.
//!
//! The framing and the relay loop are `testkit::wire`, which the fault suite's proxy
//! uses too: this file adds the counting, as the relay's observer
//! ([`testkit::wire::RelayHooks::observe`]), and the per-request figures.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use testkit::wire::{ConnectionSplitter, RelayHooks, relay};
pub use testkit::wire::{Frame, Side, Splitter, message_name};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use users_api::DatabaseConfig;

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
#[derive(Debug, Clone, Default)]
pub struct ConnectionCounter {
    frames: ConnectionSplitter,
    last: Option<Side>,
}

impl ConnectionCounter {
    /// A connection whose start-up is over, for bytes captured mid-session.
    pub fn mid_session() -> Self {
        Self {
            frames: ConnectionSplitter::mid_session(),
            last: None,
        }
    }

    /// Whether `side`'s stream could no longer be followed (it turned into TLS, say).
    pub fn lost(&self, side: Side) -> bool {
        self.frames.side(side).lost()
    }

    /// Accounts for `data` sent by `side` into `counts`.
    pub fn observe(&mut self, side: Side, data: &[u8], counts: &mut Counts) {
        if data.is_empty() {
            return;
        }
        let (bytes, messages) = match side {
            Side::Client => (&mut counts.client_bytes, &mut counts.client),
            Side::Server => (&mut counts.server_bytes, &mut counts.server),
        };
        *bytes += data.len() as u64;
        // A round trip: the traffic turns from client-sending to server-sending.
        if side == Side::Server && self.last == Some(Side::Client) {
            counts.round_trips += 1;
        }
        self.frames.feed(side, data, |frame| {
            // What has no type byte (start-up packets, encryption answers) counts under 0.
            let kind = match frame {
                Frame::Message(kind) => kind,
                Frame::Startup(_) | Frame::EncryptionAnswer(_) => 0,
            };
            *messages.entry(kind).or_default() += 1;
        });
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
                let hooks = Counting {
                    counter: Mutex::default(),
                    counts: Arc::clone(&shared),
                };
                let upstream = upstream.clone();
                tokio::spawn(async move { relay(client, &upstream, &hooks).await });
            }
        });
        Ok(Self { addr, counts, task })
    }

    /// The address the tier should connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `db`'s URL with the proxy as host and port, and `sslmode=disable`: a client that
    /// may use TLS (sqlx asks for it when the server offers it) would make every message
    /// unreadable.
    pub fn url_through(&self, db: &DatabaseConfig) -> anyhow::Result<SecretString> {
        let mut url = url::Url::parse(db.url().expose_secret())
            .map_err(|_| anyhow::anyhow!("the database URL does not parse"))?;
        url.set_host(Some(&self.addr.ip().to_string()))
            .map_err(|_| anyhow::anyhow!("cannot set the proxy's host"))?;
        url.set_port(Some(self.addr.port()))
            .map_err(|()| anyhow::anyhow!("cannot set the proxy's port"))?;
        let others: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(key, _)| key != "sslmode")
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(others)
            .append_pair("sslmode", "disable");
        Ok(SecretString::from(url.to_string()))
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

/// The relay's hooks for one connection: its counter, and the proxy's sums.
struct Counting {
    counter: Mutex<ConnectionCounter>,
    counts: Arc<Mutex<Counts>>,
}

impl RelayHooks for Counting {
    fn connected(&self) {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .connections += 1;
    }

    /// The relay observes a chunk before forwarding it, so a reply is always counted
    /// after its request: the round-trip rule sees the turns in the order they happened.
    fn observe(&self, from: Side, chunk: &[u8]) {
        let mut counter = self.counter.lock().unwrap_or_else(PoisonError::into_inner);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counter.observe(from, chunk, &mut counts);
    }
}

/// Per-request averages of a [`Counts`] difference over `requests` requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use postgres_protocol::message::frontend;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use testkit::wire::fixtures::{self, backend};

    fn startup() -> Vec<u8> {
        fixtures::startup(&[("user", "x")])
    }

    fn query(sql: &str) -> Vec<u8> {
        let mut buf = BytesMut::new();
        frontend::query(sql, &mut buf).unwrap();
        buf.to_vec()
    }

    /// A prepared statement executed the way tokio-postgres does it, and its answer.
    fn execute_prepared() -> (Vec<u8>, Vec<u8>) {
        let request = fixtures::execute_prepared(&7i64.to_be_bytes());
        (request, fixtures::prepared_reply())
    }

    #[test]
    fn an_ssl_request_is_answered_by_one_bare_byte() {
        let mut counter = ConnectionCounter::default();
        let mut counts = Counts::default();
        let mut ssl = BytesMut::new();
        frontend::ssl_request(&mut ssl);
        counter.observe(Side::Client, &ssl, &mut counts);
        // `N`: no TLS. The client then sends the real start-up packet.
        counter.observe(Side::Server, b"N", &mut counts);
        counter.observe(Side::Client, &startup(), &mut counts);
        let auth_ok = backend(b'R', &[0, 0, 0, 0]);
        let ready = backend(b'Z', b"I");
        counter.observe(Side::Server, &[auth_ok, ready].concat(), &mut counts);
        assert_eq!(counts.client.get(&0), Some(&2));
        assert_eq!(counts.server.get(&0), Some(&1));
        assert_eq!(counts.server.get(&b'R'), Some(&1));
        assert_eq!(counts.server.get(&b'Z'), Some(&1));
        assert_eq!(counts.round_trips, 2);
        assert!(!counter.lost(Side::Server));
    }

    #[test]
    fn a_tls_session_is_counted_in_bytes_and_turns_only() {
        let mut counter = ConnectionCounter::default();
        let mut counts = Counts::default();
        let mut ssl = BytesMut::new();
        frontend::ssl_request(&mut ssl);
        counter.observe(Side::Client, &ssl, &mut counts);
        // `S`: TLS from here on. Its records are not PostgreSQL messages.
        counter.observe(Side::Server, b"S", &mut counts);
        assert!(counter.lost(Side::Server));
        counter.observe(Side::Client, b"\x16\x03\x01\x02\x00", &mut counts);
        counter.observe(Side::Server, b"\x16\x03\x03\x00\x7a", &mut counts);
        assert_eq!(counts.server, BTreeMap::from([(0, 1)]));
        assert_eq!(counts.server_bytes, 6);
        assert_eq!(counts.round_trips, 2);
    }

    #[test]
    fn a_round_trip_is_a_turn_from_client_to_server() {
        let (request, reply) = execute_prepared();
        let mut counter = ConnectionCounter::mid_session();
        let mut counts = Counts::default();
        // One request, its reply split over two reads: one round trip.
        counter.observe(Side::Client, &request, &mut counts);
        counter.observe(Side::Server, &reply[..7], &mut counts);
        counter.observe(Side::Server, &reply[7..], &mut counts);
        assert_eq!(counts.round_trips, 1);
        // sqlx's checkout ping then the query: two turns, two round trips.
        counter.observe(Side::Client, &query("SELECT 1"), &mut counts);
        counter.observe(Side::Server, &backend(b'Z', b"I"), &mut counts);
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

    #[tokio::test]
    async fn the_url_through_the_proxy_keeps_its_secret_and_options_and_drops_tls() {
        let proxy = Proxy::start("127.0.0.1:1".into()).await.unwrap();
        let db = DatabaseConfig::parse(
            "postgres://ada:pw@db.example:6000/users?sslmode=require&application_name=x",
        )
        .unwrap();
        let url = proxy.url_through(&db).unwrap();
        assert_eq!(
            url.expose_secret(),
            format!(
                "postgres://ada:pw@127.0.0.1:{}/users?application_name=x&sslmode=disable",
                proxy.addr().port()
            )
        );
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
                socket.write_all(&backend(b'Z', b"I")).await.unwrap();
            }
        });
        let proxy = Proxy::start(upstream_addr.to_string()).await.unwrap();
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut buf = [0u8; 6];
        client.write_all(&startup()).await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        client.write_all(&query("SELECT 1")).await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf[0], b'Z');
        let counts = proxy.snapshot();
        assert_eq!(counts.round_trips, 2);
        assert_eq!(counts.connections, 1);
        assert_eq!(counts.client.get(&b'Q'), Some(&1));
        assert_eq!(counts.server.get(&b'Z'), Some(&2));
    }
}
