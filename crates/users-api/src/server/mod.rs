//! Running a tier: configuration, logging, connecting, serving, shutting down.
//!
//! Every tier's `main.rs` is one call to [`run_tier`], so the three binaries behave
//! alike in everything but their store. Tests use [`serve`] directly on a listener
//! bound to port 0, the pattern of mini-redis's `run(listener, shutdown)`.
//!
//! The accept loop itself (timeouts, the cap on connections, graceful shutdown) is in
//! `accept.rs`: [`serve_with`].

mod accept;

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

pub use self::accept::{ACCEPT_ERROR_PAUSE, MAX_BUF_SIZE, MAX_HEADERS, serve_with};
use crate::app::router_with;
use crate::config::{Config, ServeConfig, TierInfo, load_dotenv};
use crate::error::error_chain;
use crate::store::UserStore;

/// How long requests in flight may take to finish once shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long closing the pool may take at shutdown. A pool closes by waiting for its
/// connections to come back and saying goodbye on each; with a database that stopped
/// answering that wait has no end (sqlx's `close` waits for every connection), and
/// API.md wants the process gone within 12 s: the grace period, this, and a margin.
pub const POOL_CLOSE_DEADLINE: Duration = Duration::from_secs(1);

/// What the log line that announces the server starts with, before its address. A
/// tier started on `BIND_ADDR=127.0.0.1:0` tells its port only here, so the fault
/// suite and the bench (`testkit::process`) search their child's log for it.
pub const LISTENING_ON: &str = "listening on http://";

/// The body of a tier's `main`: [`load_config`], then [`serve_tier`] with `connect`.
/// Exits 0 after a clean shutdown, 1 if the server could not start, 2 on a
/// configuration error.
pub async fn run_tier<S, F>(tier: TierInfo, connect: F) -> ExitCode
where
    S: UserStore,
    F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
{
    match load_config(tier) {
        Ok(config) => serve_tier(tier, config, connect).await,
        Err(code) => code,
    }
}

/// Reads `.env` (once) and the environment, and starts logging. A configuration error
/// is logged (never with the password) and returned as exit code 2. A tier that picks
/// its store by configuration (tier-raw's `DB_PIPELINE`) calls this, then
/// [`serve_tier`] with the `connect` it chose.
pub fn load_config(tier: TierInfo) -> Result<Config, ExitCode> {
    let dotenv = load_dotenv();
    init_tracing();
    if let Err(err) = &dotenv {
        tracing::warn!(error = %err, "could not read .env");
    }
    Config::from_env(tier).map_err(|err| {
        tracing::error!(error = %err, "invalid configuration");
        ExitCode::from(2)
    })
}

/// Connects with `connect` (which creates the database if needed and applies the
/// schema), serves until SIGTERM or Ctrl-C, then closes the pool.
pub async fn serve_tier<S, F>(tier: TierInfo, config: Config, connect: F) -> ExitCode
where
    S: UserStore,
    F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
{
    let db = &config.database;
    // The password never appears: host, port, name and user are logged one by one.
    tracing::info!(
        tier = tier.name,
        bind_addr = %config.bind_addr,
        db.host = db.host(),
        db.port = db.port(),
        db.name = db.name(),
        db.user = db.user(),
        pool_size = config.pool_size,
        log_sql = config.log_sql,
        pipeline = config.pipeline.enabled,
        max_in_flight = config.serve.max_in_flight,
        max_connections = config.serve.max_connections,
        header_read_timeout_secs = config.serve.header_read_timeout.as_secs(),
        "starting"
    );
    // ANCHOR: connect_store
    let store = match connect(&config).await {
        Ok(store) => store,
        Err(err) => {
            tracing::error!(error = %error_chain(err.as_ref()), database = %db, "could not connect to the database");
            return ExitCode::FAILURE;
        }
    };
    // ANCHOR_END: connect_store
    let listener = match TcpListener::bind(&config.bind_addr).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(error = %err, bind_addr = %config.bind_addr, "could not listen");
            return ExitCode::FAILURE;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            tier = tier.name,
            "{LISTENING_ON}{addr} (API docs at http://{addr}/docs)"
        );
    }
    // ANCHOR: serve_then_close
    let app = router_with(store.clone(), config.serve.max_in_flight);
    let result = serve_with(listener, app, shutdown_signal(), config.serve).await;
    if tokio::time::timeout(POOL_CLOSE_DEADLINE, store.close())
        .await
        .is_err()
    {
        tracing::warn!("the pool did not close within {POOL_CLOSE_DEADLINE:?}; exiting anyway");
    }
    // ANCHOR_END: serve_then_close
    match result {
        Ok(()) => {
            tracing::info!(tier = tier.name, "stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting
/// connections and lets requests in flight finish, for at most [`SHUTDOWN_GRACE`].
/// [`serve_with`] with the default limits ([`ServeConfig::default`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, ServeConfig::default()).await
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM (what `docker stop` and
/// orchestrators send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    // ANCHOR: shutdown_select
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    // ANCHOR_END: shutdown_select
}

/// Logs to stdout through `tracing`, filtered by `RUST_LOG` (default `info`). Colours
/// only on a terminal, so log files stay free of escape codes. Calling it twice is
/// harmless (the second call changes nothing).
pub fn init_tracing() {
    // Whatever RUST_LOG says, the targets that print parameter values stay capped.
    let filter = crate::privacy::keep_private(
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .try_init();
}
