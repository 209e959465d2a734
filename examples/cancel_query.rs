//! Cancelling a future is not cancelling a query: `tokio::time::timeout` gives up on
//! `SELECT pg_sleep(10)` after 1 s, and the server goes on running it.
//!
//! ```text
//! cargo run --example cancel_query
//! ```
//!
//! It finds the server as the tier servers do (`DATABASE_URL`, or the `DB_*` pieces, from
//! the environment or `.env`), touches no table, and takes about 9 s. A second connection
//! watches the first one's session in `pg_stat_activity` (by its `pg_backend_pid()`). What
//! it printed on this machine (a debug build; the times vary a little):
//!
//! ```text
//! tokio-postgres: timeout fired after 1.00 s and dropped the future; the query is active
//! tokio-postgres: cancel request sent; query stopped 0.006 s later
//! tokio-postgres: the next query on the connection: ok (1)
//! sqlx: timeout fired after 1.00 s and dropped the future; the query is active
//! sqlx: no cancel request; query stopped 3.00 s after it started (statement_timeout 3 s)
//! sqlx: the next query on the connection: error 57014 (the abandoned query's); the one after: ok
//! sqlx closed: connection closed; 1.00 s later the query is active
//! sqlx closed: pg_cancel_backend from another session; stopped 0.005 s later
//! sqlx closed with client_connection_check_interval 200 ms: stopped 0.204 s after the connection closed
//! ```
//!
//! What to take from it:
//!
//! * A timeout (or `select!`, or a client that disconnects from an axum handler) only
//!   drops the future. The statement was already sent; the server knows nothing of the
//!   future and runs the query on, holding its locks and a connection.
//! * **tokio-postgres** can ask the server to stop: `client.cancel_token().cancel_query()`
//!   opens a short second connection and sends PostgreSQL's cancel request (the backend's
//!   pid and secret key). The query ends within milliseconds with error 57014, which the
//!   connection task reads and throws away (nobody waits for it any more), so the client
//!   serves the next query.
//! * **sqlx** has no cancel request. What stops its query is a limit the server itself
//!   enforces: `statement_timeout` (set here as a start-up option, 3 s; the tiers set 5 s).
//!   And the abandoned answer stays in the connection: sqlx reads it on the next use, so
//!   *the next query* fails with the old query's error (57014). A pool never shows you
//!   this: its return task pings the connection, meets the error and closes it.
//! * Closing the connection does not stop the query either, on PostgreSQL 15's defaults:
//!   the server notices a vanished client only when it next writes to it, and `pg_sleep`
//!   writes nothing. `client_connection_check_interval` (PostgreSQL 14+, off by default)
//!   makes it look while a query runs; `SELECT pg_cancel_backend(pid)` from any session
//!   is the server-side twin of the cancel request.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, PgConnection};
use tokio::time::timeout;
use tokio_postgres::{Client, NoTls};

/// The query that outlives its future.
const SLEEP: &str = "SELECT pg_sleep(10)";
/// How long the caller is willing to wait for it.
const PATIENCE: Duration = Duration::from_secs(1);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let database = users_api::config::database_from_env()?;
    let url = database.url().expose_secret().to_owned();
    let (observer, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .with_context(|| format!("connecting to {database} (is PostgreSQL running?)"))?;
    tokio::spawn(connection);
    let watch = Watch { observer };

    watch.tokio_postgres(&url).await?;
    let options: PgConnectOptions = url.parse()?;
    watch.sqlx_statement_timeout(&options).await?;
    watch.sqlx_closed(&options).await
}

/// The second connection, which reads the first one's session in `pg_stat_activity`.
struct Watch {
    observer: Client,
}

impl Watch {
    /// Tier I: the timeout, then tokio-postgres's cancel request.
    async fn tokio_postgres(&self, url: &str) -> anyhow::Result<()> {
        const DRIVER: &str = "tokio-postgres";
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(connection);
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0);

        // ANCHOR: raw_timeout
        let started = Instant::now();
        let outcome = timeout(PATIENCE, client.query(SLEEP, &[])).await;
        anyhow::ensure!(
            outcome.is_err(),
            "pg_sleep(10) finished within {PATIENCE:?}"
        );
        self.after_timeout(DRIVER, pid, started).await?;
        // ANCHOR_END: raw_timeout

        // ANCHOR: raw_cancel
        let sent = Instant::now();
        client.cancel_token().cancel_query(NoTls).await?;
        let stopped = self.until_stopped(pid, sent).await?;
        println!("{DRIVER}: cancel request sent; query stopped {stopped:.3} s later");
        // ANCHOR_END: raw_cancel
        let one: i32 = client.query_one("SELECT 1", &[]).await?.get(0);
        println!("{DRIVER}: the next query on the connection: ok ({one})");
        Ok(())
    }

    /// Tier II: the timeout, then `statement_timeout`, and the error left behind.
    async fn sqlx_statement_timeout(&self, options: &PgConnectOptions) -> anyhow::Result<()> {
        const DRIVER: &str = "sqlx";
        // ANCHOR: sqlx_statement_timeout
        // The server's own limit on every statement of this session.
        let options = options.clone().options([("statement_timeout", "3s")]);
        // ANCHOR_END: sqlx_statement_timeout
        let (mut conn, pid, started) = sqlx_abandoned_sleep(&options).await?;
        self.after_timeout(DRIVER, pid, started).await?;

        let stopped = self.until_stopped(pid, started).await?;
        println!(
            "{DRIVER}: no cancel request; query stopped {stopped:.2} s after it started \
             (statement_timeout 3 s)"
        );
        // The abandoned query's error is still in the socket: the next caller reads it.
        let next = sqlx::query("SELECT 1").execute(&mut conn).await;
        let code = next
            .as_ref()
            .err()
            .and_then(|e| e.as_database_error())
            .and_then(|e| e.code())
            .map_or_else(|| "none".to_owned(), |c| c.into_owned());
        let after = sqlx::query("SELECT 1").execute(&mut conn).await;
        let after = if after.is_ok() { "ok" } else { "error" };
        println!(
            "{DRIVER}: the next query on the connection: error {code} (the abandoned \
             query's); the one after: {after}"
        );
        Ok(())
    }

    /// Tier II again: the connection closed after the timeout. The query runs on, unless
    /// the server checks for its client while it runs.
    async fn sqlx_closed(&self, options: &PgConnectOptions) -> anyhow::Result<()> {
        const DRIVER: &str = "sqlx closed";
        let (conn, pid, _) = sqlx_abandoned_sleep(options).await?;
        drop(conn); // closes the socket: the client is gone
        let closed = Instant::now();
        // Nothing happens to watch for: waiting is the demonstration.
        tokio::time::sleep(PATIENCE).await;
        let state = self.state(pid).await?;
        let waited = closed.elapsed().as_secs_f64();
        println!("{DRIVER}: connection closed; {waited:.2} s later the query is {state}");
        let sent = Instant::now();
        self.observer
            .execute("SELECT pg_cancel_backend($1)", &[&pid])
            .await?;
        let stopped = self.until_stopped(pid, sent).await?;
        println!("{DRIVER}: pg_cancel_backend from another session; stopped {stopped:.3} s later");

        // The same with the server told to check for its client every 200 ms.
        let options = options
            .clone()
            .options([("client_connection_check_interval", "200ms")]);
        let (conn, pid, _) = sqlx_abandoned_sleep(&options).await?;
        drop(conn);
        let stopped = self.until_stopped(pid, Instant::now()).await?;
        println!(
            "{DRIVER} with client_connection_check_interval 200 ms: stopped {stopped:.3} s \
             after the connection closed"
        );
        Ok(())
    }

    /// Prints that the timeout fired, and what the server is doing meanwhile.
    async fn after_timeout(&self, driver: &str, pid: i32, started: Instant) -> anyhow::Result<()> {
        let fired = started.elapsed().as_secs_f64();
        let state = self.state(pid).await?;
        println!(
            "{driver}: timeout fired after {fired:.2} s and dropped the future; the query is \
             {state}"
        );
        Ok(())
    }

    /// `active` while session `pid` runs `pg_sleep`, else its state (`idle`, ...), or
    /// `gone` when the session has ended.
    async fn state(&self, pid: i32) -> anyhow::Result<String> {
        let row = self
            .observer
            .query_opt(
                "SELECT state, query FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await?;
        let Some(row) = row else {
            return Ok("gone".to_owned());
        };
        let state: Option<String> = row.get(0);
        let query: Option<String> = row.get(1);
        Ok(match (state, query) {
            (Some(state), Some(query)) if state == "active" && query == SLEEP => state,
            (Some(state), _) if state == "active" => "active (another query)".to_owned(),
            (Some(state), _) => state,
            (None, _) => "unknown".to_owned(),
        })
    }

    /// Seconds from `since` until session `pid` no longer runs the sleep (at most 12 s,
    /// beyond the sleep itself). Polls: another session's state sends no event.
    async fn until_stopped(&self, pid: i32, since: Instant) -> anyhow::Result<f64> {
        while self.state(pid).await? == "active" {
            anyhow::ensure!(
                since.elapsed() < Duration::from_secs(12),
                "the query of session {pid} never stopped"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(since.elapsed().as_secs_f64())
    }
}

/// The session's backend process id, as `pg_stat_activity.pid` shows it.
/// Opens a sqlx connection and gives up on `SLEEP` after [`PATIENCE`]: the connection,
/// its backend's pid and when the query was sent, with the query still running.
async fn sqlx_abandoned_sleep(
    options: &PgConnectOptions,
) -> anyhow::Result<(PgConnection, i32, Instant)> {
    let mut conn = options.connect().await?;
    let pid = sqlx_pid(&mut conn).await?;
    let started = Instant::now();
    let outcome = timeout(PATIENCE, sqlx::query(SLEEP).execute(&mut conn)).await;
    anyhow::ensure!(
        outcome.is_err(),
        "pg_sleep(10) finished within {PATIENCE:?}"
    );
    Ok((conn, pid, started))
}

async fn sqlx_pid(conn: &mut PgConnection) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
}
