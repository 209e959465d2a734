//! The store of tier II: hand-written SQL, checked at compile time by `sqlx`'s macros.
//!
//! Each operation runs one `query_as!` or `query!` on the pool. At compile time the
//! macro sends the SQL to PostgreSQL to have it described (or reads that description
//! from `.sqlx/` when `SQLX_OFFLINE=true`), checks the parameters' types and the
//! columns' names, types and nullability, and writes the row mapping. At run time the
//! pool lends a connection, which prepares the statement once and caches it (sqlx
//! keeps 100 per connection), so later calls skip the parse round trip. A typo in the
//! SQL or a column that does not fit `UserRead` is a compile error here, not a failed
//! request: that is what this tier buys over the raw driver.

use sqlx::PgPool;
use users_api::sqlstate;
use users_api::{Page, StoreError, StoreResult, UserCreate, UserRead, UserStore, UserUpdate};

/// The users table, through a `sqlx` pool of PostgreSQL connections.
#[derive(Clone)]
pub struct SqlxStore {
    pool: PgPool,
}

impl SqlxStore {
    /// Wraps a pool. Statement logging (`LOG_SQL`) is part of the pool's connect options.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl UserStore for SqlxStore {
    // ANCHOR: create
    async fn create(&self, user: &UserCreate) -> StoreResult<UserRead> {
        sqlx::query_as!(
            UserRead,
            "INSERT INTO users (name, email) VALUES ($1, $2) \
             RETURNING id, name, email, created_at",
            user.name(),
            user.email(),
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)
    }
    // ANCHOR_END: create

    // ANCHOR: list
    async fn list(&self, page: Page) -> StoreResult<Vec<UserRead>> {
        sqlx::query_as!(
            UserRead,
            "SELECT id, name, email, created_at FROM users \
             WHERE id > $1 ORDER BY id LIMIT $2",
            page.after_id,
            page.limit,
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)
    }
    // ANCHOR_END: list

    // ANCHOR: get
    async fn get(&self, id: i64) -> StoreResult<Option<UserRead>> {
        sqlx::query_as!(
            UserRead,
            "SELECT id, name, email, created_at FROM users WHERE id = $1",
            id,
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)
    }
    // ANCHOR_END: get

    // ANCHOR: update
    async fn update(&self, id: i64, changes: &UserUpdate) -> StoreResult<Option<UserRead>> {
        // One statement for any combination of members: a NULL parameter keeps the
        // column as it is. (Validation guarantees a member is never set to NULL.)
        // The macro accepts an `Option<&str>` wherever the SQL takes a `text`.
        sqlx::query_as!(
            UserRead,
            "UPDATE users SET name = COALESCE($2, name), \
             email = COALESCE($3, email) WHERE id = $1 \
             RETURNING id, name, email, created_at",
            id,
            changes.name(),
            changes.email(),
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)
    }
    // ANCHOR_END: update

    // ANCHOR: delete
    async fn delete(&self, id: i64) -> StoreResult<bool> {
        let deleted = sqlx::query!("DELETE FROM users WHERE id = $1", id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(deleted.rows_affected() > 0)
    }
    // ANCHOR_END: delete

    // ANCHOR: ping
    async fn ping(&self) -> StoreResult<()> {
        // `query_scalar!`: one column, no record type to name (`query!` would need the
        // anonymous `?column?` aliased to build a struct field).
        sqlx::query_scalar!("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }
    // ANCHOR_END: ping

    // ANCHOR: close
    async fn close(&self) {
        // Refuses new checkouts and closes idle connections, then waits for busy ones to
        // come back (the statement timeout bounds that wait) and closes them too.
        self.pool.close().await;
    }
    // ANCHOR_END: close
}

// ANCHOR: row_mapping
// No mapping function: `query_as!(UserRead, ...)` writes it at compile time. It learns
// each column's name, type and nullability from the database (or from `.sqlx/`), and
// builds `UserRead { id, name, email, created_at }` field by field (the fields are
// `pub`, so no `FromRow` derive is needed). A misspelled column, a wrong Rust type, or a
// nullable column for a field that is not an `Option` fails the build here, where
// tier-raw's `try_get` fails the request. (`id`, `name`, `email` and `created_at` are
// `NOT NULL` in the schema, and sqlx reads that, even through `RETURNING`.)
// ANCHOR_END: row_mapping

// ANCHOR: errors
/// Maps a driver error onto the store's vocabulary.
///
/// sqlx sorts its errors into variants; a database's answer carries its SQLSTATE and,
/// for a violated constraint, the constraint's name. A unique violation on the email
/// index is "email taken" (any other unique constraint is not). A lost connection, an
/// exhausted or closed pool, or a server shutting down is "unavailable" (503, retry);
/// everything else is a bug or a surprise (500). The meanings are shared by all tiers
/// (`users_api::sqlstate`).
fn db_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|code| sqlstate::is_email_taken(&code, db.constraint())) =>
        {
            StoreError::EmailTaken
        }
        sqlx::Error::Database(db)
            if db.code().is_some_and(|code| sqlstate::is_transient(&code)) =>
        {
            StoreError::unavailable(err)
        }
        // No pooled connection within `ACQUIRE_TIMEOUT`, or the pool is shutting down.
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => StoreError::unavailable(err),
        // The connection itself broke: closed, reset, or cut off mid-message.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::unavailable(err),
        _ => StoreError::internal(err),
    }
}
// ANCHOR_END: errors
