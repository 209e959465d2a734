//! The store of tier I: hand-written SQL through `tokio-postgres`, rows mapped by hand.
//!
//! Each operation borrows a connection from the pool, prepares its statement (once
//! per connection: `prepare_cached` keeps it, so later calls skip the parse round
//! trip), runs it with bound parameters, and maps the row with `try_get`. Nothing
//! checks the SQL or the column names before run time: a typo here compiles, and fails
//! on the first request. That is the price of this tier's directness.

use deadpool_postgres::{Object, Pool, PoolError};
use tokio_postgres::Row;
use users_api::pool::ACQUIRE_TIMEOUT;
use users_api::sqlstate;
use users_api::{Page, StoreError, StoreResult, UserCreate, UserRead, UserStore, UserUpdate};

/// The users table, through a pool of `tokio-postgres` connections.
#[derive(Clone)]
pub struct RawStore {
    pool: Pool,
    log_sql: bool,
}

impl RawStore {
    /// Wraps a pool; with `log_sql`, every statement is logged before it runs.
    pub fn new(pool: Pool, log_sql: bool) -> Self {
        Self { pool, log_sql }
    }

    /// Borrows a connection: at most [`ACQUIRE_TIMEOUT`] in all, waiting for a free one
    /// and opening a new one included (deadpool times each phase on its own).
    async fn connection(&self) -> StoreResult<Object> {
        match tokio::time::timeout(ACQUIRE_TIMEOUT, self.pool.get()).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(err)) => Err(pool_error(err)),
            Err(elapsed) => Err(StoreError::unavailable(elapsed)),
        }
    }

    /// Logs the SQL when `LOG_SQL=true`; the parameters are never logged.
    pub(crate) fn log(&self, sql: &str) {
        if self.log_sql {
            tracing::info!(target: "sql", "{sql}");
        }
    }
}

impl UserStore for RawStore {
    // ANCHOR: create
    async fn create(&self, user: &UserCreate) -> StoreResult<UserRead> {
        const SQL: &str = "INSERT INTO users (name, email) VALUES ($1, $2) \
                           RETURNING id, name, email, created_at";
        self.log(SQL);
        let client = self.connection().await?;
        let statement = client.prepare_cached(SQL).await.map_err(db_error)?;
        let row = client
            .query_one(&statement, &[&user.name(), &user.email()])
            .await
            .map_err(db_error)?;
        user_from_row(&row)
    }
    // ANCHOR_END: create

    // ANCHOR: list
    async fn list(&self, page: Page) -> StoreResult<Vec<UserRead>> {
        const SQL: &str = "SELECT id, name, email, created_at FROM users \
                           WHERE id > $1 ORDER BY id LIMIT $2";
        self.log(SQL);
        let client = self.connection().await?;
        let statement = client.prepare_cached(SQL).await.map_err(db_error)?;
        let rows = client
            .query(&statement, &[&page.after_id, &page.limit])
            .await
            .map_err(db_error)?;
        rows.iter().map(user_from_row).collect()
    }
    // ANCHOR_END: list

    // ANCHOR: get
    async fn get(&self, id: i64) -> StoreResult<Option<UserRead>> {
        const SQL: &str = "SELECT id, name, email, created_at FROM users WHERE id = $1";
        self.log(SQL);
        let client = self.connection().await?;
        let statement = client.prepare_cached(SQL).await.map_err(db_error)?;
        let row = client
            .query_opt(&statement, &[&id])
            .await
            .map_err(db_error)?;
        row.as_ref().map(user_from_row).transpose()
    }
    // ANCHOR_END: get

    // ANCHOR: update
    async fn update(&self, id: i64, changes: &UserUpdate) -> StoreResult<Option<UserRead>> {
        // One statement for any combination of members: a NULL parameter keeps the
        // column as it is. (Validation guarantees a member is never set to NULL.)
        const SQL: &str = "UPDATE users SET name = COALESCE($2, name), \
                           email = COALESCE($3, email) WHERE id = $1 \
                           RETURNING id, name, email, created_at";
        self.log(SQL);
        let client = self.connection().await?;
        let statement = client.prepare_cached(SQL).await.map_err(db_error)?;
        let row = client
            .query_opt(&statement, &[&id, &changes.name(), &changes.email()])
            .await
            .map_err(db_error)?;
        row.as_ref().map(user_from_row).transpose()
    }
    // ANCHOR_END: update

    // ANCHOR: delete
    async fn delete(&self, id: i64) -> StoreResult<bool> {
        const SQL: &str = "DELETE FROM users WHERE id = $1";
        self.log(SQL);
        let client = self.connection().await?;
        let statement = client.prepare_cached(SQL).await.map_err(db_error)?;
        let deleted = client.execute(&statement, &[&id]).await.map_err(db_error)?;
        Ok(deleted > 0)
    }
    // ANCHOR_END: delete

    // ANCHOR: ping
    async fn ping(&self) -> StoreResult<()> {
        const SQL: &str = "SELECT 1";
        self.log(SQL);
        let client = self.connection().await?;
        client.simple_query(SQL).await.map_err(db_error)?;
        Ok(())
    }
    // ANCHOR_END: ping

    // ANCHOR: close
    async fn close(&self) {
        // Refuses new checkouts and drops idle connections; busy ones close as they return.
        self.pool.close();
    }
    // ANCHOR_END: close
}

// ANCHOR: row_mapping
/// Maps a row by column name. A misspelled name or a wrong Rust type compiles, and
/// fails here at run time: `try_get` checks both against what the server sent.
pub(crate) fn user_from_row(row: &Row) -> StoreResult<UserRead> {
    let map = || -> Result<UserRead, tokio_postgres::Error> {
        Ok(UserRead {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            created_at: row.try_get("created_at")?,
        })
    };
    map().map_err(StoreError::internal)
}
// ANCHOR_END: row_mapping

// ANCHOR: errors
/// Maps a driver error onto the store's vocabulary.
///
/// The lesson of this function: a raw driver hands you SQLSTATE codes, and deciding
/// what they mean for your API is your job. A unique violation on the email index is
/// "email taken"; a lost connection or a server shutting down is "unavailable" (503,
/// retry); everything else is a bug or a surprise (500). The meanings are shared by
/// all tiers (`users_api::sqlstate`); reading them out of the error is this driver's.
pub(crate) fn db_error(err: tokio_postgres::Error) -> StoreError {
    let Some(db) = err.as_db_error() else {
        // No SQLSTATE: the error is from the connection itself (closed, I/O, timeout).
        return StoreError::unavailable(err);
    };
    let code = db.code().code();
    if sqlstate::is_email_taken(code, db.constraint()) {
        StoreError::EmailTaken
    } else if sqlstate::is_transient(code) {
        StoreError::unavailable(err)
    } else {
        StoreError::internal(err)
    }
}

/// Maps a pool error: timeouts and failures to connect are "unavailable".
fn pool_error(err: PoolError) -> StoreError {
    match err {
        PoolError::Backend(err) => db_error(err),
        PoolError::Timeout(_) | PoolError::Closed => StoreError::unavailable(err),
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => StoreError::internal(err),
    }
}
// ANCHOR_END: errors
