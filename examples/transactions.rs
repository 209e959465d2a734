//! Transactions in the three tiers' libraries: a commit, a rollback on error, and a
//! transaction dropped without either, each checked by reading the table from *another*
//! connection; then what a cancelled `begin()` does to a pooled connection.
//!
//! ```text
//! cargo run --example transactions
//! ```
//!
//! It finds the server as the tier servers do (`DATABASE_URL`, or the `DB_*` pieces, from
//! the environment or `.env`) and works in a scratch table of its own,
//! `example_transactions_<pid>`, dropped at the end, so the tiers' tables are never touched.
//! What it printed on this machine (a debug build; the times vary, the rows and states
//! do not):
//!
//! ```text
//! tokio-postgres committed: 1 row seen by another connection
//! tokio-postgres rolled back: 0 rows seen by another connection; error 23505
//! tokio-postgres dropped: 0 rows seen by another connection; session idle 0.002 s after
//! sqlx committed: 1 row seen by another connection
//! sqlx rolled back: 0 rows seen by another connection; error 23505
//! sqlx dropped: 0 rows seen by another connection; session idle 0.001 s after
//! sqlx PgConnection dropped: 0 rows seen by another connection; session still idle in transaction 0.503 s after; the same key from another session: error 55P03
//! sqlx PgConnection next use; session idle 0.002 s after
//! sea-orm committed: 1 row seen by another connection
//! sea-orm rolled back: 0 rows seen by another connection; error 23505
//! sea-orm dropped: 0 rows seen by another connection; session idle 0.001 s after
//! sqlx begin() cancelled, then an autocommit insert: 0 rows seen by another connection; the insert said 1 row inserted; session idle in transaction
//! sqlx begin() in a task cancelled, then an autocommit insert: 1 row seen by another connection; the insert said 1 row inserted; session idle
//! ```
//!
//! What to take from it:
//!
//! * Nothing a transaction wrote is visible to anyone else before `COMMIT`, and a dropped
//!   transaction is never committed: every library rolls it back. *When* the `ROLLBACK`
//!   reaches the server differs, and until it does the session sits `idle in transaction`
//!   holding its locks (another session inserting the same key waits on them):
//!   - tokio-postgres's `Transaction::drop` puts a `ROLLBACK` on the connection task's
//!     queue at once (`Client::__private_api_rollback`; `Drop` cannot await, but it can
//!     send), so the session is idle within a millisecond;
//!   - sqlx's `Transaction::drop` only *queues* the `ROLLBACK` in the connection's write
//!     buffer (`PgTransactionManager::start_rollback`). From a pool that is soon: the
//!     `PoolConnection` dropped with it spawns the pool's return task, whose ping flushes
//!     the buffer. On a connection of your own, nothing is sent until you next use it;
//!   - SeaORM's `DatabaseTransaction::drop` calls sqlx's `start_rollback` on the pooled
//!     connection it holds, so it behaves as sqlx's pool does.
//! * The last two lines are sqlx 0.9.0's bug transact-rs/sqlx#4393 (SeaORM 2 inherits it:
//!   it calls the same `begin`): a `begin()` future dropped after sending `BEGIN` but
//!   before reading the answer (a timeout, a `select!`, a client that disconnects) leaves
//!   the session inside a transaction nobody tracks, since `transaction_depth` is raised
//!   only after the answer and the drop guards roll back only when it is above 0. The pool
//!   takes the connection back (its ping does not look at the transaction status), and the
//!   next borrower's "autocommit" insert is never committed: it is lost when the
//!   connection closes. Fixed upstream after 0.9.0 (transact-rs/sqlx#4394). The guard the
//!   tiers use (`begin_cancel_safe` in tier-sqlx's and tier-orm's `store.rs`): run
//!   `begin()` in a task of its own. Dropping a `JoinHandle` does not cancel the task, so
//!   `begin()` always completes, and a transaction nobody takes is dropped and rolled back
//!   like any other.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait as _,
};
use secrecy::ExposeSecret as _;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use tokio_postgres::{Client, NoTls};

/// How long the lesson waits for a session to leave `idle in transaction` before it
/// reports that it did not.
const PATIENCE: Duration = Duration::from_millis(500);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let database = users_api::config::database_from_env()?;
    let url = database.url().expose_secret().to_owned();
    let (observer, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .with_context(|| format!("connecting to {database} (is PostgreSQL running?)"))?;
    tokio::spawn(connection);
    // The observer's inserts below must not wait forever on another session's lock.
    observer.batch_execute("SET lock_timeout = '200ms'").await?;

    // Our own table: the process id keeps two runs at once apart.
    let table = format!("example_transactions_{}", std::process::id());
    observer
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, driver text NOT NULL, note text NOT NULL)"
        ))
        .await
        .with_context(|| format!("creating {table} in {database}"))?;
    let lesson = Lesson {
        insert: format!("INSERT INTO {table} (id, driver, note) VALUES ($1, $2, $3)"),
        table,
        observer,
        url,
    };
    let outcome = lesson.run().await;
    // Dropped whatever happened above.
    let dropped = lesson
        .observer
        .batch_execute(&format!("DROP TABLE IF EXISTS {}", lesson.table))
        .await;
    outcome?;
    Ok(dropped?)
}

/// The scratch table, the statement that writes to it, and the other connection that
/// reads it.
struct Lesson {
    table: String,
    insert: String,
    observer: Client,
    url: String,
}

impl Lesson {
    async fn run(&self) -> anyhow::Result<()> {
        self.tokio_postgres().await?;
        self.sqlx_pool().await?;
        self.sqlx_connection().await?;
        self.sea_orm().await?;
        self.cancelled_begin().await
    }

    // -----------------------------------------------------------------------------------
    // Tier I: tokio-postgres. `Client::transaction` borrows the client mutably, so nothing
    // else can use the connection while the transaction lives.

    async fn tokio_postgres(&self) -> anyhow::Result<()> {
        const DRIVER: &str = "tokio-postgres";
        let (mut client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
        tokio::spawn(connection);
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0);
        let insert = client.prepare(&self.insert).await?;

        // ANCHOR: raw_commit
        let tx = client.transaction().await?;
        tx.execute(&insert, &[&101, &DRIVER, &"committed"]).await?;
        tx.commit().await?;
        self.report(DRIVER, "committed", "").await?;
        // ANCHOR_END: raw_commit

        // The second insert repeats the first one's key: 23505, and the transaction is
        // aborted. `?` on it would drop `tx` (the case after this one); here the error is
        // handled and the rollback explicit.
        let tx = client.transaction().await?;
        let note = "rolled back";
        tx.execute(&insert, &[&102, &DRIVER, &note]).await?;
        let failed = tx.execute(&insert, &[&102, &DRIVER, &note]).await;
        let code = failed
            .err()
            .and_then(|e| e.code().map(|c| c.code().to_owned()));
        tx.rollback().await?;
        self.report(
            DRIVER,
            note,
            &format!("; error {}", code.unwrap_or_default()),
        )
        .await?;

        // ANCHOR: raw_drop
        let tx = client.transaction().await?;
        tx.execute(&insert, &[&103, &DRIVER, &"dropped"]).await?;
        let dropped_at = Instant::now();
        drop(tx); // sends ROLLBACK from Drop, at once
        // ANCHOR_END: raw_drop
        let idle = self.idle_after(pid, dropped_at).await?;
        self.report(DRIVER, "dropped", &idle).await
    }

    // -----------------------------------------------------------------------------------
    // Tier II: sqlx. `Pool::begin` takes a connection from the pool and owns it until the
    // transaction ends.

    async fn sqlx_pool(&self) -> anyhow::Result<()> {
        const DRIVER: &str = "sqlx";
        let pool = self.sqlx_pool_of_one().await?;

        let mut tx = pool.begin().await?;
        self.sqlx_insert(&mut tx, 201, DRIVER, "committed").await?;
        tx.commit().await?;
        self.report(DRIVER, "committed", "").await?;

        let mut tx = pool.begin().await?;
        let note = "rolled back";
        self.sqlx_insert(&mut tx, 202, DRIVER, note).await?;
        let failed = self.sqlx_insert(&mut tx, 202, DRIVER, note).await;
        let code = failed.err().and_then(|e| {
            let db = e.as_database_error()?;
            db.code().map(|c| c.into_owned())
        });
        tx.rollback().await?;
        self.report(
            DRIVER,
            note,
            &format!("; error {}", code.unwrap_or_default()),
        )
        .await?;

        let mut tx = pool.begin().await?;
        let pid = sqlx_pid(&mut tx).await?;
        self.sqlx_insert(&mut tx, 203, DRIVER, "dropped").await?;
        let dropped_at = Instant::now();
        // Queues ROLLBACK in the connection's buffer; the PoolConnection dropped with the
        // transaction spawns the pool's return task, whose ping sends it.
        drop(tx);
        let idle = self.idle_after(pid, dropped_at).await?;
        self.report(DRIVER, "dropped", &idle).await?;
        pool.close().await;
        Ok(())
    }

    /// sqlx's drop on a connection of your own: the `ROLLBACK` waits in the buffer, the
    /// session stays `idle in transaction` and keeps its locks until the next use.
    async fn sqlx_connection(&self) -> anyhow::Result<()> {
        const DRIVER: &str = "sqlx PgConnection";
        let mut conn = PgConnection::connect(&self.url).await?;
        let pid = sqlx_pid(&mut conn).await?;
        let mut tx = conn.begin().await?;
        self.sqlx_insert(&mut tx, 211, DRIVER, "dropped").await?;
        let dropped_at = Instant::now();
        drop(tx); // queues ROLLBACK; nothing will send it
        let idle = self.idle_after(pid, dropped_at).await?;
        // The uncommitted row's key is still locked: the same insert from here waits for
        // that transaction to end, until the observer's lock_timeout gives up.
        let blocked = self
            .observer
            .execute(&self.insert, &[&211, &"observer", &"blocked"])
            .await;
        let code = blocked
            .err()
            .and_then(|e| e.code().map(|c| c.code().to_owned()));
        self.report(
            DRIVER,
            "dropped",
            &format!(
                "{idle}; the same key from another session: error {}",
                code.unwrap_or_default()
            ),
        )
        .await?;
        let used_at = Instant::now();
        sqlx::query("SELECT 1").execute(&mut conn).await?;
        let idle = self.idle_after(pid, used_at).await?;
        println!("{DRIVER} next use{idle}");
        conn.close().await?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // Tier III: SeaORM. `DatabaseConnection::begin` wraps sqlx's transaction on a pooled
    // connection.

    async fn sea_orm(&self) -> anyhow::Result<()> {
        const DRIVER: &str = "sea-orm";
        let mut options = ConnectOptions::new(&self.url);
        options
            .max_connections(1)
            .test_before_acquire(false)
            .sqlx_logging(false);
        let db: DatabaseConnection = Database::connect(options).await?;

        let txn = db.begin().await?;
        txn.execute_raw(self.orm_insert(301, DRIVER, "committed"))
            .await?;
        txn.commit().await?;
        self.report(DRIVER, "committed", "").await?;

        let txn = db.begin().await?;
        let note = "rolled back";
        txn.execute_raw(self.orm_insert(302, DRIVER, note)).await?;
        let failed = txn.execute_raw(self.orm_insert(302, DRIVER, note)).await;
        let unique = matches!(
            failed.as_ref().err().and_then(|e| e.sql_err()),
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
        );
        txn.rollback().await?;
        let code = if unique { "23505" } else { "other" };
        self.report(DRIVER, note, &format!("; error {code}"))
            .await?;

        let txn = db.begin().await?;
        let pid_row = txn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_backend_pid() AS pid",
            ))
            .await?
            .context("no pid")?;
        let pid: i32 = pid_row.try_get("", "pid")?;
        txn.execute_raw(self.orm_insert(303, DRIVER, "dropped"))
            .await?;
        let dropped_at = Instant::now();
        drop(txn); // sqlx's start_rollback on the pooled connection, flushed on its return
        let idle = self.idle_after(pid, dropped_at).await?;
        self.report(DRIVER, "dropped", &idle).await?;
        db.close().await?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // sqlx 0.9.0, transact-rs/sqlx#4393: `begin()` cancelled between sending BEGIN and
    // reading its answer.

    async fn cancelled_begin(&self) -> anyhow::Result<()> {
        const DRIVER: &str = "sqlx";
        let pool = self.sqlx_pool_of_one().await?;
        // `Pool::begin` is `acquire`, then this same `begin` on the connection. Taking the
        // connection first makes the one poll below land in the window for certain.
        let mut conn = pool.acquire().await?;
        let pid = sqlx_pid(&mut conn).await?;
        // One poll writes BEGIN to the socket and then waits for the answer: dropping the
        // future there is exactly what a timeout, a `select!` or a disconnected client
        // does to it.
        // ANCHOR: begin_cancelled
        let pending = poll_once(conn.begin()).await;
        anyhow::ensure!(pending, "begin() finished in one poll: nothing to show");
        drop(conn); // back to the pool, whose ping reads BEGIN's answer and finds it healthy
        // ANCHOR_END: begin_cancelled
        // An "autocommit" insert through the pool, on the same (only) connection.
        let note = "begin() cancelled, then an autocommit insert";
        let inserted = sqlx::query(AssertSqlSafe(self.insert.clone()))
            .bind(401)
            .bind(DRIVER)
            .bind(note)
            .execute(&pool)
            .await?
            .rows_affected();
        let state = self.state(pid).await?;
        let extra = format!("; the insert said {inserted} row inserted; session {state}");
        self.report(DRIVER, note, &extra).await?;
        // Closing the connection ends the session: the insert is gone for good.
        pool.close().await;

        // The guard: begin() in a task of its own runs to the end even when the caller's
        // future is dropped; the transaction it returns to nobody is dropped, rolled back.
        let pool = self.sqlx_pool_of_one().await?;
        // ANCHOR: begin_guard
        let task = tokio::spawn({
            let pool = pool.clone();
            async move { pool.begin().await }
        });
        // Dropping the handle is what a timeout or a `select!` does to the caller's
        // future: the task is detached, not cancelled. (Polling the handle once first, as
        // above, proved flaky: on a multi-threaded runtime the task may already be done.)
        drop(task);
        // ANCHOR_END: begin_guard
        let note = "begin() in a task cancelled, then an autocommit insert";
        let inserted = sqlx::query(AssertSqlSafe(self.insert.clone()))
            .bind(402)
            .bind(DRIVER)
            .bind(note)
            .execute(&pool)
            .await?
            .rows_affected();
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&pool)
            .await?;
        let state = self.state(pid).await?;
        let extra = format!("; the insert said {inserted} row inserted; session {state}");
        self.report(DRIVER, note, &extra).await?;
        pool.close().await;
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // Helpers.

    /// A pool of one connection, so every checkout is the same session; no ping before
    /// each checkout (as the tiers configure it; sqlx still pings on the way back).
    async fn sqlx_pool_of_one(&self) -> anyhow::Result<PgPool> {
        Ok(PgPoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect(&self.url)
            .await?)
    }

    async fn sqlx_insert(
        &self,
        conn: &mut PgConnection,
        id: i32,
        driver: &str,
        note: &str,
    ) -> Result<(), sqlx::Error> {
        // The table name is this program's own, not input: safe to splice in.
        sqlx::query(AssertSqlSafe(self.insert.clone()))
            .bind(id)
            .bind(driver)
            .bind(note)
            .execute(conn)
            .await?;
        Ok(())
    }

    fn orm_insert(&self, id: i32, driver: &str, note: &str) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            self.insert.as_str(),
            [id.into(), driver.into(), note.into()],
        )
    }

    /// Prints how many rows of `driver`'s `note` the observer sees, then `extra`.
    async fn report(&self, driver: &str, note: &str, extra: &str) -> anyhow::Result<()> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE driver = $1 AND note = $2",
            self.table
        );
        let rows: i64 = self
            .observer
            .query_one(&sql, &[&driver, &note])
            .await?
            .get(0);
        let plural = if rows == 1 { "" } else { "s" };
        println!("{driver} {note}: {rows} row{plural} seen by another connection{extra}");
        Ok(())
    }

    /// Session `pid`'s state in `pg_stat_activity` (`idle`, `idle in transaction`, ...).
    async fn state(&self, pid: i32) -> anyhow::Result<String> {
        let row = self
            .observer
            .query_opt("SELECT state FROM pg_stat_activity WHERE pid = $1", &[&pid])
            .await?;
        Ok(row
            .and_then(|row| row.get::<_, Option<String>>(0))
            .unwrap_or_else(|| "gone".to_owned()))
    }

    /// `; session idle N s after the drop`, or that it was still in its transaction after
    /// [`PATIENCE`]. Polls: there is no event to await in another session's state.
    async fn idle_after(&self, pid: i32, since: Instant) -> anyhow::Result<String> {
        loop {
            let state = self.state(pid).await?;
            let elapsed = since.elapsed();
            if state == "idle" {
                let seconds = elapsed.as_secs_f64();
                return Ok(format!("; session idle {seconds:.3} s after"));
            }
            if elapsed > PATIENCE {
                let seconds = elapsed.as_secs_f64();
                return Ok(format!("; session still {state} {seconds:.3} s after"));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// The session's backend process id, as `pg_stat_activity.pid` shows it.
async fn sqlx_pid(conn: &mut PgConnection) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
}

/// Polls `future` exactly once, then drops it; `true` if it was still pending.
async fn poll_once<F: Future>(future: F) -> bool {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_pending())).await
}
