//! Our own accept loop: hyper's HTTP/1 connections, each with a timer, a cap on how
//! many are open, and a graceful shutdown.
//!
//! `axum::serve` would be shorter, but it builds hyper's connections without a timer,
//! and hyper then silently drops its header-read timeout: a client that opens a
//! connection and never finishes its request head holds it forever, and enough such
//! clients hold the server (slowloris). This is axum's `serve-with-hyper` example,
//! plus what a server facing the open internet needs:
//!
//! * a header-read timeout ([`ServeConfig::header_read_timeout`], 30 s). hyper starts
//!   its timer whenever it waits for a request head: on a new connection and between
//!   the requests of a keep-alive connection, so an idle connection is closed after
//!   the same 30 s (API.md allows 75 s);
//! * a cap on open connections ([`ServeConfig::max_connections`]): a connection is
//!   accepted only with a permit in hand, so the next one waits in the kernel's accept
//!   queue until one closes, instead of the process running out of file descriptors;
//! * accept errors (`EMFILE`, `ENFILE`: out of file descriptors) logged and survived,
//!   with a pause so the loop does not spin while none are free;
//! * shutdown: stop accepting (the listener is closed, so new connections are refused
//!   at once), let every connection finish its request in flight, for at most
//!   [`SHUTDOWN_GRACE`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::SHUTDOWN_GRACE;
use crate::config::ServeConfig;

/// hyper's read buffer, which bounds a request head. Far above our own 431 (32 KiB of
/// headers) and 414 (8 KiB of target), so those answer first, in problem+json; only a
/// head over this gets hyper's bare 431.
pub const MAX_BUF_SIZE: usize = 128 * 1024;

/// How many header lines hyper parses (its default is 100, past which it answers a
/// bare 431). 1,024 costs nothing measurable; 32,768 halved throughput when tried,
/// because hyper then allocates room for them on every request.
pub const MAX_HEADERS: usize = 1024;

/// How long the loop pauses after an accept error such as `EMFILE`: the condition
/// lasts until some connection closes, and retrying at once would spin a core.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts connections on `listener` and serves `app` on each, until `shutdown`
/// completes; then closes the listener and waits for the connections to finish their
/// requests in flight, at most [`SHUTDOWN_GRACE`].
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    config: ServeConfig,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(MAX_BUF_SIZE)
        .max_headers(MAX_HEADERS);
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A permit first, then `accept`: at the cap, new connections wait in the
        // kernel's queue (the listener's backlog) and are served as others close.
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                // Never closed; stop serving rather than spin if it ever were.
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    survive_accept_error(&err).await;
                    continue;
                }
            },
        };
        // Answers are written whole; there is nothing to gain from Nagle's delay.
        let _ = stream.set_nodelay(true);
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that hangs up, or times out sending its head, ends here: normal
            // on the internet, so not worth more than a debug line.
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection closed with an error");
            }
            drop(permit);
        });
    }
    // Closing the listener makes the kernel refuse new connections at once, rather than
    // queue them for a server that will never accept them.
    drop(listener);
    tracing::info!("shutdown requested; finishing requests in flight");
    tokio::select! {
        () = graceful.shutdown() => {}
        // A request stuck on the database, or a client reading a long export slowly,
        // must not keep the process alive forever.
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}; stopping anyway");
        }
    }
    Ok(())
}

/// What to do after `accept` fails. A connection that was reset before we took it is
/// the client's business; anything else (out of file descriptors, most often) is
/// logged, and the loop pauses before it tries again.
async fn survive_accept_error(err: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %err, "accept failed; pausing {ACCEPT_ERROR_PAUSE:?}");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}
