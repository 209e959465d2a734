//! The relay loop: one client connection forwarded to PostgreSQL and back, with hooks.
//!
//! Both proxies of this workspace forward bytes the same way and differ only in what
//! they do to them, so the loop is written once and asks its [`RelayHooks`]:
//!
//! | hook | the counting proxy (bench) | the fault proxy (tests) |
//! | --- | --- | --- |
//! | [`RelayHooks::observe`] | splits and counts messages, round trips | counts chunks, captures what the tier sent |
//! | [`RelayHooks::latency`] | none | holds every chunk back ("+300 ms") |
//! | [`RelayHooks::wait_open`] | always open | waits during a black hole (a partition) |
//! | [`RelayHooks::cut`] | never | resets the connection (a crash) |
//!
//! Each direction is a **pump** of two halves joined in one task: a reader that stamps
//! every chunk with when it may be delivered (now + latency), and a writer that waits
//! for that moment. So latency delays every chunk by the same amount without adding
//! up, as on a long cable, and chunks keep their order. When one side closes, its pump
//! passes the close on to the other side (a half-close, FIN), as a direct connection
//! would; the relay ends when both directions have.
//!
//! Every chunk is observed *before* it is forwarded: the server's reply to a request
//! cannot arrive before the request has left, so an observer sees a conversation in
//! the order it happened, which is what round-trip counting relies on.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Side;

/// How many bytes a pump reads at once.
const CHUNK: usize = 64 * 1024;

/// What a proxy does to the traffic of one connection. Every method has a default
/// that forwards everything at once, so a proxy implements only what it needs.
/// The relay calls them from both directions at once, hence `&self` and `Sync`.
pub trait RelayHooks: Send + Sync {
    /// The connection to the server is open.
    fn connected(&self) {}

    /// A chunk read from `from`, before it is forwarded. Chunks of one direction come
    /// in order, and a reply is observed after the request it answers.
    fn observe(&self, from: Side, chunk: &[u8]) {
        let _ = (from, chunk);
    }

    /// How long a chunk read from `from` now is held before it is delivered.
    fn latency(&self, from: Side) -> Duration {
        let _ = from;
        Duration::ZERO
    }

    /// Completes when bytes may move; waits while they may not (a black hole). Called
    /// before connecting to the server, before each read and before each write.
    /// `false` ends the relay (the proxy is gone).
    fn wait_open(&self) -> impl Future<Output = bool> + Send {
        async { true }
    }

    /// Completes when the connection must be cut: the relay then resets the client's
    /// connection (RST, not a polite close) and drops the server's.
    fn cut(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }
}

/// How a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayEnd {
    /// Both directions closed (or failed), or the hooks ended it.
    Closed,
    /// The server could not be reached; the client's connection is closed.
    Unreachable,
    /// [`RelayHooks::cut`] completed; the client's connection was reset.
    Cut,
}

/// Connects to `upstream` (`host:port`) and forwards bytes between it and `client`
/// in both directions until both sides have closed, or the hooks cut the connection.
pub async fn relay<H: RelayHooks>(mut client: TcpStream, upstream: &str, hooks: &H) -> RelayEnd {
    let end = tokio::select! {
        end = forward(&mut client, upstream, hooks) => end,
        () = hooks.cut() => RelayEnd::Cut,
    };
    if end == RelayEnd::Cut {
        // A reset, not a polite close: what the tier sees when a server crashes or a
        // network path dies. (Zero linger makes the close send RST at once.)
        let _ = client.set_zero_linger();
    }
    end
}

async fn forward<H: RelayHooks>(client: &mut TcpStream, upstream: &str, hooks: &H) -> RelayEnd {
    // In a partition, even the connection to the server waits.
    if !hooks.wait_open().await {
        return RelayEnd::Closed;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return RelayEnd::Unreachable;
    };
    hooks.connected();
    // Messages are small and latency-bound: send each chunk at once.
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let (client_read, client_write) = client.split();
    let (server_read, server_write) = server.split();
    tokio::join!(
        pump(Side::Client, client_read, server_write, hooks),
        pump(Side::Server, server_read, client_write, hooks),
    );
    RelayEnd::Closed
}

/// Copies one direction, the bytes `from_side` sends (see the module docs).
async fn pump<H: RelayHooks>(
    from_side: Side,
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    hooks: &H,
) {
    let (chunks_tx, mut chunks_rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = async move {
        let mut buffer = vec![0u8; CHUNK];
        loop {
            if !hooks.wait_open().await {
                return;
            }
            let read = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            let chunk = &buffer[..read];
            hooks.observe(from_side, chunk);
            let due = Instant::now() + hooks.latency(from_side);
            if chunks_tx.send((due, chunk.to_vec())).is_err() {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = chunks_rx.recv().await {
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            if !hooks.wait_open().await {
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::BytesMut;
    use postgres_protocol::message::frontend;
    use tokio::net::TcpListener;
    use tokio::sync::Notify;

    use super::*;
    use crate::wire::{ConnectionSplitter, Frame, PROTOCOL_3_0};

    /// ReadyForQuery, idle: what a server sends when it is done with a request.
    const READY: &[u8] = b"Z\0\0\0\x05I";

    /// Hooks that record every frame, with optional latency and a cut on command.
    #[derive(Default)]
    struct Recorder {
        connections: AtomicUsize,
        frames: Mutex<(ConnectionSplitter, Vec<(Side, Frame)>)>,
        latency: Duration,
        cut: Notify,
    }

    impl RelayHooks for Recorder {
        fn connected(&self) {
            self.connections.fetch_add(1, Ordering::SeqCst);
        }
        fn observe(&self, from: Side, chunk: &[u8]) {
            let (splitter, frames) = &mut *self.frames.lock().unwrap();
            splitter.feed(from, chunk, |frame| frames.push((from, frame)));
        }
        fn latency(&self, _from: Side) -> Duration {
            self.latency
        }
        fn cut(&self) -> impl Future<Output = ()> + Send {
            self.cut.notified()
        }
    }

    /// A fake server on 127.0.0.1:0 that answers every read with `answer` (or echoes,
    /// if `answer` is `None`), and closes when the client does.
    async fn fake_server(answer: Option<&'static [u8]>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 1024];
                    while let Ok(n @ 1..) = socket.read(&mut buffer).await {
                        let reply = answer.unwrap_or(&buffer[..n]);
                        if socket.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    /// A relay of one connection through `hooks`: returns the client's end, and the
    /// relay's task.
    async fn relayed(
        upstream: String,
        hooks: std::sync::Arc<Recorder>,
    ) -> (TcpStream, tokio::task::JoinHandle<RelayEnd>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let (accepted, _) = accepted.unwrap();
        let task = tokio::spawn(async move { relay(accepted, &upstream, &*hooks).await });
        (client.unwrap(), task)
    }

    /// How the relay ended, failing the test if it did not within 5 s.
    async fn within_5_s(task: tokio::task::JoinHandle<RelayEnd>) -> RelayEnd {
        let ended = tokio::time::timeout(Duration::from_secs(5), task).await;
        ended.expect("the relay did not end").unwrap()
    }

    #[tokio::test]
    async fn the_relay_forwards_and_observes_every_message_in_order() {
        let hooks = std::sync::Arc::new(Recorder::default());
        let (mut client, task) = relayed(fake_server(Some(READY)).await, hooks.clone()).await;
        let mut buf = BytesMut::new();
        frontend::startup_message([("user", "postgres")], &mut buf).unwrap();
        let mut reply = [0u8; 6];
        client.write_all(&buf.split()).await.unwrap();
        client.read_exact(&mut reply).await.unwrap();
        frontend::query("SELECT 1", &mut buf).unwrap();
        client.write_all(&buf.split()).await.unwrap();
        client.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply, READY);
        // The client closes; the close travels to the server, which closes too.
        drop(client);
        assert_eq!(within_5_s(task).await, RelayEnd::Closed);
        assert_eq!(hooks.connections.load(Ordering::SeqCst), 1);
        let frames = hooks.frames.lock().unwrap().1.clone();
        assert_eq!(
            frames,
            vec![
                (Side::Client, Frame::Startup(PROTOCOL_3_0)),
                (Side::Server, Frame::Message(b'Z')),
                (Side::Client, Frame::Message(b'Q')),
                (Side::Server, Frame::Message(b'Z')),
            ]
        );
    }

    #[tokio::test]
    async fn a_cut_resets_the_client_and_an_unreachable_server_closes_it() {
        let hooks = std::sync::Arc::new(Recorder::default());
        let (mut client, task) = relayed(fake_server(None).await, hooks.clone()).await;
        client.write_all(b"ping").await.unwrap();
        let mut echo = [0u8; 4];
        client.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"ping");
        hooks.cut.notify_one();
        assert_eq!(within_5_s(task).await, RelayEnd::Cut);
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");

        // Nothing listens on a port just released: the relay gives up at once.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let nowhere = closed.local_addr().unwrap().to_string();
        drop(closed);
        let hooks = std::sync::Arc::new(Recorder::default());
        let (_client, task) = relayed(nowhere, hooks.clone()).await;
        assert_eq!(within_5_s(task).await, RelayEnd::Unreachable);
        assert_eq!(hooks.connections.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn latency_delays_every_chunk_without_adding_up() {
        let latency = Duration::from_millis(200);
        let hooks = std::sync::Arc::new(Recorder {
            latency,
            ..Recorder::default()
        });
        let (mut client, _task) = relayed(fake_server(None).await, hooks).await;
        // Two chunks, 20 ms apart: each is delayed on the way there and back, but they
        // travel together, as on a long cable. The second echo is back 2 x 200 + 20 ms
        // after the start; if each delay waited for the one before, 3 x 200 or more.
        let started = Instant::now();
        client.write_all(b"ping").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.write_all(b"pong").await.unwrap();
        let mut echo = [0u8; 4];
        client.read_exact(&mut echo).await.unwrap();
        let first = started.elapsed();
        assert_eq!(&echo, b"ping");
        client.read_exact(&mut echo).await.unwrap();
        let second = started.elapsed();
        assert_eq!(&echo, b"pong");
        assert!(first >= 2 * latency, "{first:?}");
        assert!(
            second < 2 * latency + latency / 2,
            "latency added up: {second:?}"
        );
    }
}
