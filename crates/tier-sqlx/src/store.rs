//! The store of tier II: hand-written SQL, checked at compile time by `sqlx`'s macros.
//!
//! Each operation runs one `query_as!` or `query!` on the pool (listing a user's posts
//! may run a second, only when its page comes back empty; the batch and the export run
//! theirs in a transaction). At compile time the macro sends the SQL to PostgreSQL to
//! have it described (or reads that description from `.sqlx/` when
//! `SQLX_OFFLINE=true`), checks the parameters' types and the columns' names, types and
//! nullability, and writes the row mapping. At run time the pool lends a connection,
//! which prepares the statement once and caches it (sqlx keeps 100 per connection), so
//! later calls skip the parse round trip. A typo in the SQL or a column that does not
//! fit `UserRead` or `PostRead` is a compile error here, not a failed request: that is
//! what this tier buys over the raw driver.
//!
//! Posts come with their author through a join written in the SQL, so a page costs
//! one statement however long it is (no N+1); `PostAuthorRow` is the flat row that
//! `query_as!` fills from that join.
//!
//! A `Transaction` owns its pooled connection, derefs to it (`&mut *tx` is an
//! executor), and rolls back when dropped unfinished; only its `begin` is unsafe to drop
//! half way in sqlx 0.9.0, hence `begin_cancel_safe`.

use futures::TryStreamExt as _;
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use tracing::Instrument as _;
use users_api::sqlstate;
use users_api::store::EXPORT_BATCH_ROWS;
use users_api::{
    Page, PostCreate, PostRead, PostWithAuthor, StoreError, StoreResult, UserBatch, UserCreate,
    UserRead, UserStore, UserStream, UserUpdate,
};

/// The users and posts tables, through a `sqlx` pool of PostgreSQL connections.
#[derive(Clone)]
pub struct SqlxStore {
    pub(crate) pool: PgPool,
    /// `DB_PREPARED_STATEMENTS`: may sqlx name and keep statements (`self.on(...)`)?
    pub(crate) prepared_statements: bool,
}

impl SqlxStore {
    /// Wraps a pool. Statement logging (`LOG_SQL`) is part of the pool's connect options;
    /// with `prepared_statements` false, every statement is sent unnamed.
    pub fn new(pool: PgPool, prepared_statements: bool) -> Self {
        Self {
            pool,
            prepared_statements,
        }
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
        .fetch_one(self.on(&self.pool))
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
        .fetch_all(self.on(&self.pool))
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
        .fetch_optional(self.on(&self.pool))
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
        .fetch_optional(self.on(&self.pool))
        .await
        .map_err(db_error)
    }
    // ANCHOR_END: update

    // ANCHOR: delete
    async fn delete(&self, id: i64) -> StoreResult<bool> {
        let deleted = sqlx::query!("DELETE FROM users WHERE id = $1", id)
            .execute(self.on(&self.pool))
            .await
            .map_err(db_error)?;
        Ok(deleted.rows_affected() > 0)
    }
    // ANCHOR_END: delete

    // ANCHOR: create_batch
    async fn create_batch(&self, batch: &UserBatch) -> StoreResult<Vec<UserRead>> {
        let (names, emails) = (batch.names(), batch.emails());
        let mut tx = begin_cancel_safe(&self.pool, "BEGIN").await?;
        // One INSERT for the batch: `UNNEST` turns the two arrays into rows of (name,
        // email), 2 parameters and one SQL text whatever the batch's size.
        // `ON CONFLICT DO NOTHING` has no target: it skips a row on any unique
        // violation, and the index on `lower(email)` is the only one an insert can hit
        // (an in-batch repeat is skipped too), so a taken email shows as a missing row.
        //
        // For a `text[]` parameter the macro expects a `Vec<String>` or `&[String]`: it
        // lends a `String` as a `&str` at the top level only, not inside a slice, so a
        // `&[&str]` fails its check (E0308) although sqlx encodes it as a `text[]` all
        // the same (`&str` is `PgHasArrayType`). `as &[&str]` is the macro's type
        // override for a parameter: it skips that check (the cast itself must still
        // compile), and no `String` is copied.
        let inserted = sqlx::query_as!(
            UserRead,
            "INSERT INTO users (name, email) \
             SELECT * FROM UNNEST($1::text[], $2::text[]) \
             ON CONFLICT DO NOTHING \
             RETURNING id, name, email, created_at",
            &names[..] as &[&str],
            &emails[..] as &[&str],
        )
        .fetch_all(self.on(&mut *tx))
        .await
        // On an error, or if this future is dropped at an await (the client hung up),
        // `tx` is dropped unfinished, which queues a ROLLBACK (see `export`).
        .map_err(db_error)?;
        match batch.check_inserted(inserted) {
            Ok(users) => {
                tx.commit().await.map_err(db_error)?;
                Ok(users)
            }
            // An entry was skipped: keep none of the batch. Dropping `tx` would roll
            // back only when the connection next goes out; this rolls back now.
            Err(taken) => {
                tx.rollback().await.map_err(db_error)?;
                Err(taken)
            }
        }
    }
    // ANCHOR_END: create_batch

    // ANCHOR: export
    fn export(&self) -> UserStream {
        let store = self.clone();
        // `try_stream!` turns the block into a state machine that owns `tx` (and through
        // it the pooled connection) and the row stream borrowing it, so the stream is
        // `'static`, as axum needs. An `Err` from `?` is the last item.
        //
        // What a drop (the client hung up) does at each await, in sqlx 0.9.0:
        // * in `begin_cancel_safe`: the task goes on alone; see there.
        // * in `rows.try_next()`, or parked at `yield`: `rows` goes first, its
        //   ReadyForQuery still owed, then `tx`: `Drop for Transaction` (sqlx-core's
        //   `transaction.rs`) calls `start_rollback` (sqlx-postgres's `transaction.rs`),
        //   which only queues a ROLLBACK. Then the `PoolConnection` in it: its `Drop`
        //   (sqlx-core's `pool/connection.rs`) spawns `return_to_pool`, whose `ping` (a
        //   Sync, then `wait_until_ready`) sends the ROLLBACK and reads the rest of the
        //   batch (at most `EXPORT_BATCH_ROWS` rows) and the answers: idle within one
        //   batch. (If that fails, the connection is closed and the server rolls back.)
        // * in `commit`: a ROLLBACK is queued after the COMMIT (a warning, if any).
        Box::pin(async_stream::try_stream! {
            // REPEATABLE READ: every statement sees the snapshot of the first, so the
            // batches make one consistent export. sqlx sends it in the BEGIN itself.
            let mut tx =
                begin_cancel_safe(&store.pool, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?;
            // Keyset batches, the very statement of `list`. Not one `fetch` of the whole
            // table: sqlx sends no cancel request, so a dropped `fetch` leaves the server
            // sending the rest, which the connection must read before it is usable
            // (`wait_until_ready` in sqlx-postgres's `connection/mod.rs`, run by the
            // pool's `ping`): a million rows would keep the session busy long after the
            // client left. And one statement lasting as long as a slow reader would be
            // cut off by the 4 s statement timeout.
            let mut after_id = 0;
            loop {
                // `fetch` decodes each row as sqlx reads it off the socket (`fetch_all`
                // would collect the batch in a `Vec`), as fast as the client reads.
                let mut rows = sqlx::query_as!(
                    UserRead,
                    "SELECT id, name, email, created_at FROM users \
                     WHERE id > $1 ORDER BY id LIMIT $2",
                    after_id,
                    EXPORT_BATCH_ROWS,
                )
                .fetch(store.on(&mut *tx));
                let mut read = 0;
                while let Some(user) = rows.try_next().await.map_err(db_error)? {
                    after_id = user.id;
                    read += 1;
                    yield user;
                }
                // A short batch is the last: no statement to find an empty one.
                if read < EXPORT_BATCH_ROWS {
                    break;
                }
            }
            tx.commit().await.map_err(db_error)?;
        })
    }
    // ANCHOR_END: export

    // ANCHOR: create_post
    async fn create_post(&self, user_id: i64, post: &PostCreate) -> StoreResult<Option<PostRead>> {
        // No "does the user exist?" read first: between that read and this insert the
        // user could be deleted. The foreign key checks the author inside the insert, and
        // a missing one comes back as SQLSTATE 23503 on `posts_user_id_fkey`: a 404, not
        // an error. `query_as!` knows `RETURNING`'s columns as well as a `SELECT`'s.
        let inserted = sqlx::query_as!(
            PostRead,
            "INSERT INTO posts (user_id, title, body) VALUES ($1, $2, $3) \
             RETURNING id, user_id, title, body, created_at",
            user_id,
            post.title(),
            post.body(),
        )
        .fetch_one(self.on(&self.pool))
        .await;
        match inserted {
            Ok(post) => Ok(Some(post)),
            Err(err) if is_missing_author(&err) => Ok(None),
            Err(err) => Err(db_error(err)),
        }
    }
    // ANCHOR_END: create_post

    // ANCHOR: list_user_posts
    async fn list_user_posts(
        &self,
        user_id: i64,
        page: Page,
    ) -> StoreResult<Option<Vec<PostRead>>> {
        // The page is a range scan of the index `posts_user_id_id_idx (user_id, id)`.
        let mut db = self.operation().await.map_err(db_error)?;
        let posts = sqlx::query_as!(
            PostRead,
            "SELECT id, user_id, title, body, created_at FROM posts \
             WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            user_id,
            page.after_id,
            page.limit,
        )
        .fetch_all(&mut db)
        .await
        .map_err(db_error)?;
        // An empty page means "no posts here" or "no such user" (404): only then does a
        // second statement, in the same `operation`, tell them apart. `query_scalar!` of
        // the `NOT NULL` primary key gives an `i64`, and `fetch_optional` an `Option` of
        // it: no row, no user. (`SELECT EXISTS (...)` would read as well, but sqlx cannot
        // know that an expression is never NULL and would hand us an `Option<bool>`.)
        if posts.is_empty() {
            let author = sqlx::query_scalar!("SELECT id FROM users WHERE id = $1", user_id)
                .fetch_optional(&mut db)
                .await
                .map_err(db_error)?;
            let Some(_) = author else { return Ok(None) };
        }
        db.finish().await.map_err(db_error)?;
        Ok(Some(posts))
    }
    // ANCHOR_END: list_user_posts

    // ANCHOR: list_posts
    async fn list_posts(&self, page: Page) -> StoreResult<Vec<PostWithAuthor>> {
        // Every post with its author, in ONE statement: the join brings each author along
        // with its post. Reading the page, then each post's author, would be the N+1
        // problem: 501 round trips for a page of 500. The author's columns are renamed
        // `author_*` so that the flat row has one field per column (see `PostAuthorRow`);
        // the author's id is the post's `user_id`, so it is not read twice.
        // ANCHOR: posts_join
        let rows = sqlx::query_as!(
            PostAuthorRow,
            "SELECT p.id, p.user_id, p.title, p.body, p.created_at, \
                    u.name AS author_name, u.email AS author_email, \
                    u.created_at AS author_created_at \
             FROM posts p JOIN users u ON u.id = p.user_id \
             WHERE p.id > $1 ORDER BY p.id LIMIT $2",
            page.after_id,
            page.limit,
        )
        .fetch_all(self.on(&self.pool))
        .await
        .map_err(db_error)?;
        // ANCHOR_END: posts_join
        Ok(rows.into_iter().map(PostWithAuthor::from).collect())
    }
    // ANCHOR_END: list_posts

    // ANCHOR: get_post
    async fn get_post(&self, id: i64) -> StoreResult<Option<PostWithAuthor>> {
        // The same join as `list_posts`, for one post. (The macros take only a string
        // literal, checked as a whole, so the two queries cannot share a `const`.)
        let row = sqlx::query_as!(
            PostAuthorRow,
            "SELECT p.id, p.user_id, p.title, p.body, p.created_at, \
                    u.name AS author_name, u.email AS author_email, \
                    u.created_at AS author_created_at \
             FROM posts p JOIN users u ON u.id = p.user_id \
             WHERE p.id = $1",
            id,
        )
        .fetch_optional(self.on(&self.pool))
        .await
        .map_err(db_error)?;
        Ok(row.map(PostWithAuthor::from))
    }
    // ANCHOR_END: get_post

    // ANCHOR: delete_post
    async fn delete_post(&self, id: i64) -> StoreResult<bool> {
        let deleted = sqlx::query!("DELETE FROM posts WHERE id = $1", id)
            .execute(self.on(&self.pool))
            .await
            .map_err(db_error)?;
        Ok(deleted.rows_affected() > 0)
    }
    // ANCHOR_END: delete_post

    // ANCHOR: ping
    async fn ping(&self) -> StoreResult<()> {
        // `query_scalar!`: one column, no record type to name (`query!` would need the
        // anonymous `?column?` aliased to build a struct field).
        sqlx::query_scalar!("SELECT 1")
            .fetch_one(self.on(&self.pool))
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

// ANCHOR: begin_cancel_safe
/// Begins a transaction with `statement` in a task of its own, so that dropping the
/// caller's future cannot leave a connection in a transaction nobody rolls back.
///
/// The trap, in sqlx-postgres 0.9.0's `transaction.rs`: `PgTransactionManager::begin`
/// raises the connection's `transaction_depth` only once BEGIN's answer is back, and
/// `start_rollback` (called by its guard and by `Drop for Transaction`) queues a
/// ROLLBACK only when that depth is above 0. Dropped while BEGIN is in flight, the
/// future leaves the server in a transaction sqlx does not know of; the pool's `ping`
/// reads BEGIN's answer and lends the connection out like that, and every later
/// statement on it joins a transaction never committed (transact-rs/sqlx#4393, fixed
/// upstream after 0.9.0).
///
/// A spawned task is not dropped with our future: it runs `begin_with` to the end, and
/// if nobody awaits the `JoinHandle` any more, tokio drops the task's output, the
/// `Transaction`, which queues a ROLLBACK as at every later await of the callers. The
/// cost: a task per transaction. `in_current_span` keeps the request's span on what
/// the task logs.
async fn begin_cancel_safe(
    pool: &PgPool,
    statement: &'static str,
) -> StoreResult<Transaction<'static, Postgres>> {
    // `begin_with` takes a connection (within `ACQUIRE_TIMEOUT`) and sends `statement`
    // ("BEGIN" is what `pool.begin()` sends); the `'static` transaction owns the
    // connection, so it can leave the task.
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin_with(statement).await }.in_current_span())
        .await
        // The task panicked or the runtime is shutting down.
        .map_err(StoreError::internal)?
        .map_err(db_error)
}
// ANCHOR_END: begin_cancel_safe

// ANCHOR: row_mapping
// No mapping function: `query_as!(UserRead, ...)` writes it at compile time. It learns
// each column's name, type and nullability from the database (or from `.sqlx/`), and
// builds `UserRead { id, name, email, created_at }` field by field (the fields are
// `pub`, so no `FromRow` derive is needed). A misspelled column, a wrong Rust type, or a
// nullable column for a field that is not an `Option` fails the build here, where
// tier-raw's `try_get` fails the request. (`id`, `name`, `email` and `created_at` are
// `NOT NULL` in the schema, and sqlx reads that, even through `RETURNING`.)
// ANCHOR_END: row_mapping

// ANCHOR: post_row_mapping
// A post with its author is two structs, and `query_as!` fills one struct from one row
// of columns: it maps by name and knows no nesting. So the join fills a flat row struct,
// one field per column, and a plain `From` builds the nested `PostWithAuthor` from it.
// The macro still checks every column: the join is inner and every column is `NOT NULL`
// in its table, so sqlx infers each field as non-null, with no `as "col!"` override.

/// One row of the posts-with-authors join, exactly as `query_as!` fills it.
struct PostAuthorRow {
    id: i64,
    user_id: i64,
    title: String,
    body: String,
    created_at: DateTime<Utc>,
    author_name: String,
    author_email: String,
    author_created_at: DateTime<Utc>,
}

impl From<PostAuthorRow> for PostWithAuthor {
    fn from(row: PostAuthorRow) -> Self {
        Self {
            author: UserRead {
                // The join's condition: the author is the user of `user_id`.
                id: row.user_id,
                name: row.author_name,
                email: row.author_email,
                created_at: row.author_created_at,
            },
            post: PostRead {
                id: row.id,
                user_id: row.user_id,
                title: row.title,
                body: row.body,
                created_at: row.created_at,
            },
        }
    }
}
// ANCHOR_END: post_row_mapping

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
        // The log gets the code and names, not the database's message, which may quote
        // the row (see `DbErrorSummary`). A transient state is a 503, the rest a 500.
        sqlx::Error::Database(db) => sqlstate::DbErrorSummary::of(
            &db.code().unwrap_or_default(),
            db.constraint(),
            db.table(),
        )
        .into_store_error(),
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

/// Whether the insert of a post failed because its author does not exist: the foreign
/// key `posts_user_id_fkey` refused it (SQLSTATE 23503). `create_post` answers `None`
/// then, as `get` does for a missing user; any other error goes through [`db_error`].
fn is_missing_author(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| sqlstate::is_missing_author(&code, db.constraint())),
        _ => false,
    }
}
// ANCHOR_END: errors
