//! The fault proxy's connections: accepting them, refusing them by closing the port,
//! and relaying each through [`crate::wire::relay`] with hooks that inject the faults.
//!
//! [`FaultProxy`](super::FaultProxy) only changes a shared [`State`]; the tasks here
//! watch it. The accept loop closes its listening socket while the mode is
//! [`Mode::Refuse`] and binds the same port again afterwards; each connection's
//! [`FaultHooks`] hold chunks back for the latency, wait while the mode is
//! [`Mode::Blackhole`], and cut the connection when the cut counter moves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Capture, Mode, REBIND_PATIENCE, Recorder, State, Stats};
use crate::wire::{RelayHooks, Side, Splitter, relay};

/// Binds with `SO_REUSEADDR`, so the port can be bound again right after a close.
pub(super) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

pub(super) async fn accept_loop(
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
                        .map(|recorders| {
                            let splitter = Splitter::new(Side::Client).keeping_bodies();
                            let recorder = Arc::new(Mutex::new(splitter));
                            recorders.push(Arc::clone(&recorder));
                            recorder
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
    client: TcpStream,
    upstream: String,
    state: watch::Receiver<State>,
    stats: Arc<Stats>,
    recorder: Option<Recorder>,
) {
    stats.open.fetch_add(1, Ordering::SeqCst);
    let _open = OpenGuard(Arc::clone(&stats));
    let epoch = state.borrow().cuts;
    let hooks = FaultHooks {
        state,
        epoch,
        stats,
        recorder,
    };
    relay(client, &upstream, &hooks).await;
}

/// The faults, as the relay loop's hooks, for one connection.
struct FaultHooks {
    state: watch::Receiver<State>,
    /// The number of cuts when the connection opened: the next one ends it.
    epoch: u64,
    stats: Arc<Stats>,
    recorder: Option<Recorder>,
}

impl RelayHooks for FaultHooks {
    fn observe(&self, from: Side, chunk: &[u8]) {
        if from == Side::Client {
            self.stats.client_chunks.fetch_add(1, Ordering::SeqCst);
            if let Some(recorder) = &self.recorder {
                let mut splitter = recorder.lock().unwrap_or_else(PoisonError::into_inner);
                splitter.feed(chunk, |_| {});
            }
        }
    }

    /// The same in both directions: "+300 ms" is 600 ms per round trip.
    fn latency(&self, _from: Side) -> Duration {
        self.state.borrow().latency
    }

    /// Waits while the proxy is a black hole. `false` if the proxy is gone.
    fn wait_open(&self) -> impl Future<Output = bool> + Send {
        let mut state = self.state.clone();
        async move { state.wait_for(|s| s.mode != Mode::Blackhole).await.is_ok() }
    }

    fn cut(&self) -> impl Future<Output = ()> + Send {
        let mut state = self.state.clone();
        let epoch = self.epoch;
        async move {
            // A closed channel (the proxy was dropped) counts as a cut.
            let _ = state.wait_for(|s| s.cuts != epoch).await;
        }
    }
}
