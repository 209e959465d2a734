//! A fault-injecting TCP proxy between a tier and PostgreSQL.
//!
//! Stopping the real PostgreSQL server to test an outage would stop it for every test
//! running in parallel, and restarting it takes seconds nobody controls. Instead each
//! fault test puts a [`FaultProxy`] of its own between the tier and the server, points
//! the tier at the proxy, and breaks the proxy on command:
//!
//! | method | what the tier sees | what it models |
//! | --- | --- | --- |
//! | [`FaultProxy::refuse_new`] | new connections fail with "connection refused" | the server is down (stopped, restarting) |
//! | [`FaultProxy::cut_all`] | every open connection is reset | a crash, `pg_terminate_backend`, a failover |
//! | [`FaultProxy::outage`] | both of the above | the database is gone |
//! | [`FaultProxy::blackhole`] | connections open but nothing ever answers | a network partition |
//! | [`FaultProxy::set_latency`] | every round trip takes longer | a slow network, an overloaded server |
//! | [`FaultProxy::restore`] | normal service again | the database is back |
//!
//! "Refused" is real: the proxy closes its listening socket, so the kernel answers a
//! connection attempt with a reset, exactly as for a stopped server (sqlx, for one,
//! treats `ConnectionRefused` differently from other errors). [`FaultProxy::restore`]
//! binds the same port again.
//!
//! With [`FaultProxy::start_capturing`], the proxy cuts every byte the tier sends into
//! PostgreSQL protocol messages (a 1-byte type, a 4-byte length that counts itself, a
//! body; the start-up packet has no type byte), and [`FaultProxy::client_messages`]
//! returns them. The security tests use it to see whether a value travelled inside
//! SQL text (`Parse`, `Query`) or as a bound parameter (`Bind`). TLS would hide the
//! bytes, so a capturing test connects with `sslmode=disable`
//! ([`FaultProxy::plaintext_config`]).
//!
//! The forwarding itself is [`crate::wire::relay()`], the relay loop the bench's counting
//! proxy uses too: this file holds what is particular to faults (the modes, refusing
//! by closing the port, and the [`RelayHooks`](crate::wire::RelayHooks) that delay, black-hole and cut).

mod connections;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;
use users_api::config::{Config, DatabaseConfig};

use self::connections::{accept_loop, bind};
use crate::admin_database;
use crate::wire::Splitter;
/// Cuts a captured client byte stream into typed messages (it lives in [`crate::wire`]).
pub use crate::wire::split_client_stream;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything.
    Normal,
    /// Not listening: new connections are refused by the kernel. Open ones keep working.
    Refuse,
    /// Accept connections, forward nothing in either direction (bytes wait, as in a
    /// partition; they flow again on restore).
    Blackhole,
}

#[derive(Debug, Clone, Copy)]
struct State {
    mode: Mode,
    /// Added to every chunk the tier sends, so to every round trip.
    latency: Duration,
    /// Bumped by `cut_all`: every connection opened before the bump closes.
    cuts: u64,
}

/// Counters, shared with the connection tasks.
#[derive(Debug, Default)]
struct Stats {
    accepted: AtomicUsize,
    open: AtomicUsize,
    client_chunks: AtomicU64,
}

/// When capturing: for each connection, the messages its client side sent so far.
type Capture = Arc<Mutex<Option<Vec<Recorder>>>>;

/// The client side of one captured connection, split as it arrives.
type Recorder = Arc<Mutex<Splitter>>;

/// A TCP proxy on `127.0.0.1` in front of PostgreSQL that breaks on command.
///
/// Dropping it closes its port and every connection through it.
pub struct FaultProxy {
    addr: SocketAddr,
    state: watch::Sender<State>,
    listening: watch::Receiver<bool>,
    stats: Arc<Stats>,
    capture: Capture,
    accept_task: JoinHandle<()>,
}

/// How long [`FaultProxy::restore`] keeps trying to bind its port again.
const REBIND_PATIENCE: Duration = Duration::from_secs(5);

impl FaultProxy {
    /// Starts a proxy on a free port of `127.0.0.1` that forwards to `upstream`
    /// (`host:port` of the real PostgreSQL server).
    pub async fn start(upstream: String) -> Self {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("the proxy binds a free port on 127.0.0.1");
        let addr = listener.local_addr().expect("the proxy's address");
        let (state, state_rx) = watch::channel(State {
            mode: Mode::Normal,
            latency: Duration::ZERO,
            cuts: 0,
        });
        let (listening_tx, listening) = watch::channel(true);
        let stats = Arc::new(Stats::default());
        let capture: Capture = Arc::default();
        let accept_task = tokio::spawn(accept_loop(
            listener,
            addr,
            upstream,
            state_rx,
            listening_tx,
            Arc::clone(&stats),
            Arc::clone(&capture),
        ));
        Self {
            addr,
            state,
            listening,
            stats,
            capture,
            accept_task,
        }
    }

    /// A proxy in front of the tests' PostgreSQL server (from `DATABASE_URL`).
    pub async fn in_front_of_test_server() -> Self {
        let admin = admin_database();
        Self::start(format!("{}:{}", admin.host(), admin.port())).await
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `database`, reached through this proxy instead: same credentials and database,
    /// host `127.0.0.1` and the proxy's port.
    pub fn database_through(&self, database: &DatabaseConfig) -> DatabaseConfig {
        self.rewrite(database, false)
    }

    /// `config`, with its database reached through this proxy.
    pub fn config_through(&self, config: &Config) -> Config {
        Config {
            database: self.database_through(&config.database),
            ..config.clone()
        }
    }

    /// Like [`Self::config_through`], and with `sslmode=disable`, so that captured bytes
    /// are readable (a server with TLS on would otherwise be asked for it by sqlx).
    pub fn plaintext_config(&self, config: &Config) -> Config {
        Config {
            database: self.rewrite(&config.database, true),
            ..config.clone()
        }
    }

    fn rewrite(&self, database: &DatabaseConfig, plaintext: bool) -> DatabaseConfig {
        let mut url = Url::parse(database.url().expose_secret()).expect("a valid database URL");
        url.set_host(Some("127.0.0.1")).expect("set the host");
        url.set_port(Some(self.addr.port())).expect("set the port");
        if plaintext {
            let others: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(key, _)| key != "sslmode")
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(others)
                .append_pair("sslmode", "disable");
        }
        DatabaseConfig::parse(url.as_str()).expect("the rewritten URL parses")
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        self.state.send_modify(change);
    }

    /// Stops listening: every new connection is refused, as by a stopped server.
    /// Connections already open keep working. Returns once the port is closed.
    pub async fn refuse_new(&self) {
        self.update(|state| state.mode = Mode::Refuse);
        self.wait_listening(false).await;
    }

    /// Resets every open connection (the tier sees "connection reset"), as a crash or a
    /// restart of the server would. New connections are still accepted unless
    /// refused too.
    pub fn cut_all(&self) {
        self.update(|state| state.cuts += 1);
    }

    /// The database is gone: new connections are refused and open ones are cut.
    pub async fn outage(&self) {
        self.refuse_new().await;
        self.cut_all();
    }

    /// Connections stay open (and new ones are accepted) but no byte moves in either
    /// direction: a network partition. Bytes sent meanwhile are delivered on restore.
    pub async fn blackhole(&self) {
        self.update(|state| state.mode = Mode::Blackhole);
        self.wait_listening(true).await;
    }

    /// Delays every chunk the tier sends by `latency`: each round trip to the database
    /// takes that much longer. Chunks keep their order; the delay is not cumulative.
    pub fn set_latency(&self, latency: Duration) {
        self.update(|state| state.latency = latency);
    }

    /// Normal service: listening again, forwarding everything, no added latency.
    pub async fn restore(&self) {
        self.update(|state| {
            state.mode = Mode::Normal;
            state.latency = Duration::ZERO;
        });
        self.wait_listening(true).await;
    }

    async fn wait_listening(&self, listening: bool) {
        let mut receiver = self.listening.clone();
        let waited = tokio::time::timeout(
            REBIND_PATIENCE + Duration::from_secs(1),
            receiver.wait_for(|now| *now == listening),
        )
        .await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "the proxy on {} could not {} its port",
            self.addr,
            if listening { "bind" } else { "close" }
        );
    }

    /// How many connections the proxy has accepted so far.
    pub fn accepted(&self) -> usize {
        self.stats.accepted.load(Ordering::SeqCst)
    }

    /// How many connections are open through the proxy now.
    pub fn open_connections(&self) -> usize {
        self.stats.open.load(Ordering::SeqCst)
    }

    /// How many chunks of bytes the tier has sent through the proxy so far.
    pub fn client_chunks(&self) -> u64 {
        self.stats.client_chunks.load(Ordering::SeqCst)
    }

    /// Keeps every message the tier sends on connections opened from now on.
    pub fn start_capturing(&self) {
        let mut capture = self.capture.lock().unwrap_or_else(PoisonError::into_inner);
        capture.get_or_insert_with(Vec::new);
    }

    /// The typed protocol messages the tier sent on the captured connections, as
    /// `(type byte, body)`: `b'P'` Parse, `b'B'` Bind, `b'Q'` simple Query, ...
    /// Start-up packets (which have no type byte) are left out.
    pub fn client_messages(&self) -> Vec<(u8, Vec<u8>)> {
        let capture = self.capture.lock().unwrap_or_else(PoisonError::into_inner);
        let mut messages = Vec::new();
        for recorder in capture.iter().flatten() {
            let splitter = recorder.lock().unwrap_or_else(PoisonError::into_inner);
            messages.extend_from_slice(splitter.messages());
        }
        messages
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
        // Ends every connection task: they treat a closed channel as a cut.
        self.state.send_modify(|state| state.cuts += 1);
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::time::Instant;

    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        stream.write_all(b"ping").await?;
        let mut buffer = [0u8; 4];
        stream.read_exact(&mut buffer).await?;
        Ok(buffer.to_vec())
    }

    #[tokio::test]
    async fn the_proxy_forwards_refuses_cuts_delays_and_restores() {
        let upstream = echo_server().await;
        let proxy = FaultProxy::start(upstream.to_string()).await;
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut stream).await.unwrap(), b"ping");

        // Refused: no new connection, but the open one still works.
        proxy.refuse_new().await;
        let refused = TcpStream::connect(proxy.addr()).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        assert_eq!(round_trip(&mut stream).await.unwrap(), b"ping");

        // Cut: the open connection dies.
        proxy.cut_all();
        let mut buffer = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .unwrap();
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

        // Restored, with latency.
        proxy.restore().await;
        proxy.set_latency(Duration::from_millis(200));
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        let started = Instant::now();
        assert_eq!(round_trip(&mut stream).await.unwrap(), b"ping");
        assert!(started.elapsed() >= Duration::from_millis(200));

        // Black hole: nothing moves until restore, then the bytes arrive.
        proxy.blackhole().await;
        stream.write_all(b"ping").await.unwrap();
        let mut reply = [0u8; 4];
        let silent =
            tokio::time::timeout(Duration::from_millis(300), stream.read_exact(&mut reply)).await;
        assert!(silent.is_err(), "a black hole answered");
        proxy.restore().await;
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut reply))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&reply, b"ping");
        assert!(proxy.accepted() >= 2);
    }
}
