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
//! With [`FaultProxy::start_capturing`], the proxy keeps every byte the tier sends, and
//! [`FaultProxy::client_messages`] cuts them into PostgreSQL protocol messages (a
//! 1-byte type, a 4-byte length that counts itself, a body; the start-up packet has
//! no type byte). The security tests use it to see whether a value travelled inside
//! SQL text (`Parse`, `Query`) or as a bound parameter (`Bind`). TLS would hide the
//! bytes, so a capturing test connects with `sslmode=disable`
//! ([`FaultProxy::plaintext_config`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use url::Url;
use users_api::UserStore;
use users_api::config::{Config, DatabaseConfig};

use crate::{TestApp, TestDb, admin_database, init_test_logging};

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

/// Every byte each connection's client side sent, when capturing.
type Capture = Arc<Mutex<Option<Vec<Arc<Mutex<Vec<u8>>>>>>>;

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

    /// Keeps every byte the tier sends on connections opened from now on.
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
        for stream in capture.iter().flatten() {
            let bytes = stream.lock().unwrap_or_else(PoisonError::into_inner);
            messages.extend(split_client_stream(&bytes));
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

/// Binds with `SO_REUSEADDR`, so the port can be bound again right after a close.
async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: String,
    mut state: watch::Receiver<State>,
    listening: watch::Sender<bool>,
    stats: Arc<Stats>,
    capture: Capture,
) {
    let mut listener = Some(listener);
    loop {
        let current = match listener.take() {
            Some(listener) => listener,
            None => {
                if state.wait_for(|s| s.mode != Mode::Refuse).await.is_err() {
                    return;
                }
                match rebind(addr).await {
                    Some(listener) => listener,
                    None => return,
                }
            }
        };
        listening.send_replace(true);
        loop {
            tokio::select! {
                accepted = current.accept() => {
                    let Ok((client, _)) = accepted else { continue };
                    stats.accepted.fetch_add(1, Ordering::SeqCst);
                    let recorder = capture
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .as_mut()
                        .map(|streams| {
                            let stream = Arc::new(Mutex::new(Vec::new()));
                            streams.push(Arc::clone(&stream));
                            stream
                        });
                    tokio::spawn(connection(
                        client,
                        upstream.clone(),
                        state.clone(),
                        Arc::clone(&stats),
                        recorder,
                    ));
                }
                changed = state.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if state.borrow_and_update().mode == Mode::Refuse {
                        break;
                    }
                }
            }
        }
        drop(current);
        listening.send_replace(false);
    }
}

/// Binds `addr` again after a refusal. Another socket may hold the port for a moment
/// (a connection in TIME_WAIT, which SO_REUSEADDR allows): keep trying for a while.
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    let deadline = Instant::now() + REBIND_PATIENCE;
    loop {
        match bind(addr).await {
            Ok(listener) => return Some(listener),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(_) => return None,
        }
    }
}

/// Decrements the open-connection count however the connection ends.
struct OpenGuard(Arc<Stats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn connection(
    mut client: TcpStream,
    upstream: String,
    state: watch::Receiver<State>,
    stats: Arc<Stats>,
    recorder: Option<Arc<Mutex<Vec<u8>>>>,
) {
    stats.open.fetch_add(1, Ordering::SeqCst);
    let _open = OpenGuard(Arc::clone(&stats));
    let epoch = state.borrow().cuts;
    let mut cut_watch = state.clone();
    let cut = async move {
        // A closed channel (the proxy was dropped) counts as a cut.
        let _ = cut_watch.wait_for(|s| s.cuts != epoch).await;
    };
    let was_cut = tokio::select! {
        () = relay(&mut client, upstream, state, stats, recorder) => false,
        () = cut => true,
    };
    if was_cut {
        // A reset, not a polite close: what the tier sees when a server crashes or a
        // network path dies. (Zero linger makes the close send RST at once.)
        let _ = client.set_zero_linger();
    }
}

async fn relay(
    client: &mut TcpStream,
    upstream: String,
    state: watch::Receiver<State>,
    stats: Arc<Stats>,
    recorder: Option<Arc<Mutex<Vec<u8>>>>,
) {
    // In a partition, even the connection to the server waits.
    if wait_open(&mut state.clone()).await.is_err() {
        return;
    }
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let (client_read, client_write) = client.split();
    let (server_read, server_write) = server.split();
    // When one side closes, its pump passes the close on to the other side (FIN), as a
    // direct connection would; the relay ends when both directions have.
    tokio::join!(
        pump(
            client_read,
            server_write,
            state.clone(),
            Some(stats),
            recorder
        ),
        pump(server_read, client_write, state, None, None),
    );
}

/// Waits while the proxy is a black hole. `Err` if the proxy is gone.
async fn wait_open(state: &mut watch::Receiver<State>) -> Result<(), ()> {
    state
        .wait_for(|s| s.mode != Mode::Blackhole)
        .await
        .map(|_| ())
        .map_err(|_| ())
}

/// Copies one direction. The reader stamps each chunk with when it may be delivered
/// (now + latency); the writer waits for that moment. So latency delays every chunk
/// by the same amount without adding up, as on a long cable.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    state: watch::Receiver<State>,
    stats: Option<Arc<Stats>>,
    recorder: Option<Arc<Mutex<Vec<u8>>>>,
) {
    let (chunks_tx, mut chunks_rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let mut reader_state = state.clone();
    let reader = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            if wait_open(&mut reader_state).await.is_err() {
                return;
            }
            let read = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            let chunk = buffer[..read].to_vec();
            if let Some(stats) = &stats {
                stats.client_chunks.fetch_add(1, Ordering::SeqCst);
            }
            if let Some(recorder) = &recorder {
                recorder
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(&chunk);
            }
            let due = Instant::now() + reader_state.borrow().latency;
            if chunks_tx.send((due, chunk)).is_err() {
                return;
            }
        }
    };
    let mut writer_state = state;
    let writer = async move {
        while let Some((due, chunk)) = chunks_rx.recv().await {
            tokio::time::sleep_until(due).await;
            if wait_open(&mut writer_state).await.is_err() {
                return;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // The source closed: pass the close on (half-close), after the last chunk.
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

/// Cuts a client's byte stream into typed messages, skipping the untyped start-up
/// packets (`SSLRequest`, `GSSENCRequest`, then `StartupMessage`) at its beginning.
pub fn split_client_stream(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    const SSL_REQUEST: u32 = 80_877_103;
    const GSSENC_REQUEST: u32 = 80_877_104;
    let mut rest = bytes;
    // Untyped packets: a 4-byte length (counting itself) and a 4-byte code.
    loop {
        if rest.len() < 8 {
            return Vec::new();
        }
        let length = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let code = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if length < 8 || length > rest.len() {
            return Vec::new();
        }
        rest = &rest[length..];
        if code != SSL_REQUEST && code != GSSENC_REQUEST {
            break;
        }
    }
    let mut messages = Vec::new();
    while rest.len() >= 5 {
        let kind = rest[0];
        let length = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        if length < 4 || 1 + length > rest.len() {
            break;
        }
        messages.push((kind, rest[5..1 + length].to_vec()));
        rest = &rest[1 + length..];
    }
    messages
}

impl TestApp {
    /// Like [`TestApp::spawn`], but the tier reaches its database through a new
    /// [`FaultProxy`], which the test then breaks on command.
    pub async fn spawn_behind_proxy<S, F>(connect: F) -> (Self, FaultProxy)
    where
        S: UserStore,
        F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
    {
        init_test_logging();
        let proxy = FaultProxy::in_front_of_test_server().await;
        let db = TestDb::create().await;
        let config = proxy.config_through(db.config());
        let store = connect(&config)
            .await
            .unwrap_or_else(|err| panic!("the tier could not connect to {}: {err:#}", db.name()));
        (Self::serve(store, db).await, proxy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut message = vec![kind];
        message.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        message.extend_from_slice(body);
        message
    }

    fn untyped(code: u32, body: &[u8]) -> Vec<u8> {
        let mut packet = (body.len() as u32 + 8).to_be_bytes().to_vec();
        packet.extend_from_slice(&code.to_be_bytes());
        packet.extend_from_slice(body);
        packet
    }

    #[test]
    fn client_streams_split_into_messages() {
        let mut stream = untyped(80_877_103, b"");
        stream.extend(untyped(196_608, b"user\0postgres\0\0"));
        stream.extend(typed(b'P', b"\0SELECT $1\0\0\0"));
        stream.extend(typed(b'B', b"\0\0\0\0\0\x01\0\0\0\x02hi"));
        stream.extend(typed(b'S', b""));
        let messages = split_client_stream(&stream);
        let kinds: Vec<u8> = messages.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, b"PBS");
        assert!(messages[1].1.ends_with(b"hi"));
        // A truncated tail is left out, not misread.
        stream.extend(&typed(b'Q', b"SELECT 1\0")[..4]);
        assert_eq!(split_client_stream(&stream).len(), 3);
    }

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
