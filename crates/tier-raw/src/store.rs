//! The store of tier I: hand-written SQL through `tokio-postgres`, rows mapped by hand.
//!
//! Each operation borrows a connection from the pool, runs its statement with bound
//! parameters through `crate::statements` (prepared once per connection and kept, or
//! unnamed with `DB_PREPARED_STATEMENTS=false`; one round trip either way), and maps
//! the row with `try_get`. Nothing checks the SQL or the column names before run
//! time: a typo compiles, and fails on the first request. The price of directness.
//!
//! Posts show the same directness on a relation: a post's author comes from a join
//! written out in SQL, and the joined row is mapped by hand too, the author's columns
//! read under aliases the query gives them (`post_with_author_from_row`). No loader,
//! no lazy attribute: a query runs only where this file runs one, so an N+1 cannot
//! creep in unseen, but nothing stops you writing one either.
//!
//! The batch and the export hold a transaction across awaits. Here the driver guards
//! it: a `Transaction` dropped at any await queues its own ROLLBACK (see the comments
//! in `create_batch` and `export`). Each operation ends with `client.release()`; a
//! connection cut off before (a deadline, a client gone) goes to `crate::abandon`.

use std::pin::pin;

use async_stream::try_stream;
use deadpool_postgres::{Object, Pool, PoolError};
use futures::StreamExt as _;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use users_api::deadline::Lease;
use users_api::pool::ACQUIRE_TIMEOUT;
use users_api::sqlstate;
use users_api::store::EXPORT_BATCH_ROWS;
use users_api::{
    Page, PostCreate, PostRead, PostWithAuthor, StoreError, StoreResult, UserBatch, UserCreate,
    UserRead, UserStore, UserStream, UserUpdate,
};

use crate::statements::{Sql, Statements};

/// The users table, through a pool of `tokio-postgres` connections.
#[derive(Clone)]
pub struct RawStore {
    pool: Pool,
    pub(crate) statements: Statements,
}

impl RawStore {
    /// Wraps a pool; with `log_sql`, every statement is logged before it runs; with
    /// `prepared_statements` false, every statement is sent unnamed.
    pub fn new(pool: Pool, log_sql: bool, prepared_statements: bool) -> Self {
        let statements = Statements::new(prepared_statements, log_sql);
        Self { pool, statements }
    }

    /// Borrows a connection: at most [`ACQUIRE_TIMEOUT`] in all, waiting for a free one
    /// and opening a new one included (deadpool times each phase on its own).
    async fn connection(&self) -> StoreResult<Lease<Object>> {
        match tokio::time::timeout(ACQUIRE_TIMEOUT, self.pool.get()).await {
            Ok(Ok(client)) => Ok(Lease::new(client, crate::abandon)),
            Ok(Err(err)) => Err(pool_error(err)),
            Err(elapsed) => Err(StoreError::unavailable(elapsed)),
        }
    }
}

impl UserStore for RawStore {
    // ANCHOR: create
    async fn create(&self, user: &UserCreate) -> StoreResult<UserRead> {
        const SQL: Sql = Sql {
            text: "INSERT INTO users (name, email) VALUES ($1, $2) \
                   RETURNING id, name, email, created_at",
            types: &[Type::TEXT, Type::TEXT],
        };
        let client = self.connection().await?;
        let row = (self.statements)
            .query_one(&**client, &SQL, &[&user.name(), &user.email()])
            .await?;
        client.release();
        user_from_row(&row)
    }
    // ANCHOR_END: create

    // ANCHOR: list
    async fn list(&self, page: Page) -> StoreResult<Vec<UserRead>> {
        const SQL: Sql = Sql {
            text: "SELECT id, name, email, created_at FROM users \
                   WHERE id > $1 ORDER BY id LIMIT $2",
            types: &[Type::INT8, Type::INT8],
        };
        let client = self.connection().await?;
        let rows = (self.statements)
            .query(&**client, &SQL, &[&page.after_id, &page.limit])
            .await?;
        client.release();
        rows.iter().map(user_from_row).collect()
    }
    // ANCHOR_END: list

    // ANCHOR: get
    async fn get(&self, id: i64) -> StoreResult<Option<UserRead>> {
        const SQL: Sql = Sql {
            text: "SELECT id, name, email, created_at FROM users WHERE id = $1",
            types: &[Type::INT8],
        };
        let client = self.connection().await?;
        let row = (self.statements).query_opt(&**client, &SQL, &[&id]).await?;
        client.release();
        row.as_ref().map(user_from_row).transpose()
    }
    // ANCHOR_END: get

    // ANCHOR: update
    async fn update(&self, id: i64, changes: &UserUpdate) -> StoreResult<Option<UserRead>> {
        // One statement for any combination of members: a NULL parameter keeps the
        // column as it is. (Validation guarantees a member is never set to NULL.)
        const SQL: Sql = Sql {
            text: "UPDATE users SET name = COALESCE($2, name), \
                   email = COALESCE($3, email) WHERE id = $1 \
                   RETURNING id, name, email, created_at",
            types: &[Type::INT8, Type::TEXT, Type::TEXT],
        };
        let client = self.connection().await?;
        let row = (self.statements)
            .query_opt(&**client, &SQL, &[&id, &changes.name(), &changes.email()])
            .await?;
        client.release();
        row.as_ref().map(user_from_row).transpose()
    }
    // ANCHOR_END: update

    // ANCHOR: delete
    async fn delete(&self, id: i64) -> StoreResult<bool> {
        const SQL: Sql = Sql {
            text: "DELETE FROM users WHERE id = $1",
            types: &[Type::INT8],
        };
        let client = self.connection().await?;
        let deleted = (self.statements).execute(&**client, &SQL, &[&id]).await?;
        client.release();
        Ok(deleted > 0)
    }
    // ANCHOR_END: delete

    // ANCHOR: create_batch
    async fn create_batch(&self, batch: &UserBatch) -> StoreResult<Vec<UserRead>> {
        // One INSERT for the whole batch: the two arrays become rows with UNNEST, and
        // `ON CONFLICT DO NOTHING` skips an entry whose email is taken (by a user, or by
        // an earlier entry of this batch) instead of failing. No conflict target: the
        // unique index on lower(email) is the only one that can fire.
        const SQL: Sql = Sql {
            text: "INSERT INTO users (name, email) \
                   SELECT * FROM UNNEST($1::text[], $2::text[]) \
                   ON CONFLICT DO NOTHING RETURNING id, name, email, created_at",
            types: &[Type::TEXT_ARRAY, Type::TEXT_ARRAY],
        };
        let mut client = self.connection().await?;
        // Dropped at any await below (the client hung up), nothing stays half done, and
        // no guard of ours is needed (tokio-postgres 0.7.18's source):
        // - `transaction()`: `TransactionBuilder::start` sends BEGIN and, if dropped
        //   before its answer came, `RollbackIfNotDone`'s Drop queues a ROLLBACK.
        // - after it: `Transaction`'s Drop queues a ROLLBACK at once (`done` is false
        //   until `commit` or `rollback` runs). Queued means handed to the connection's
        //   task, which writes it after what was already sent and throws away the
        //   answers nobody waits for, so the connection goes back to the pool clean.
        // - in `commit`: once its COMMIT went out the batch is written, whether or not
        //   the client is still there to hear it. Only then.
        let tx = client.transaction().await.map_err(db_error)?;
        // `Vec<&str>` is sent as `text[]`: one parameter per column, however many rows.
        let rows = (self.statements)
            .query(&tx, &SQL, &[&batch.names(), &batch.emails()])
            .await?;
        let inserted = rows.iter().map(user_from_row).collect::<StoreResult<_>>()?;
        match batch.check_inserted(inserted) {
            Ok(users) => {
                tx.commit().await.map_err(db_error)?;
                client.release();
                Ok(users)
            }
            Err(conflict) => {
                // Dropping `tx` would roll back too, but only queue it. Awaiting the
                // ROLLBACK hands the connection back idle, and shows us if it failed.
                tx.rollback().await.map_err(db_error)?;
                client.release();
                Err(conflict)
            }
        }
    }
    // ANCHOR_END: create_batch

    // ANCHOR: export
    fn export(&self) -> UserStream {
        const SQL: Sql = Sql {
            text: "SELECT id, name, email, created_at FROM users ORDER BY id",
            types: &[],
        };
        // The stream outlives `&self` (axum polls it while writing the body), so it owns
        // a clone of the store, and in it the pooled connection and the transaction
        // that borrows it: `try_stream!` is an async block, which may hold a borrow
        // across its awaits and yields.
        let store = self.clone();
        Box::pin(try_stream! {
            let mut client = store.connection().await?;
            // A cursor lives only inside a transaction. One cursor is one statement,
            // hence one snapshot even at the default READ COMMITTED: REPEATABLE READ would
            // add nothing. READ ONLY says what this transaction is for.
            let tx = client
                .build_transaction()
                .read_only(true)
                .start()
                .await
                .map_err(db_error)?;
            // A portal of the prepared statement, or (unnamed) a DECLAREd cursor: the
            // query runs once, and each fetch below reads the next rows of its one
            // result. Each fetch is a statement of its own for `statement_timeout` (its
            // Sync ends the timer), so a slow reader never hits the limit.
            let cursor = store.statements.open_cursor(&tx, &SQL).await.map_err(db_error)?;
            loop {
                let batch = cursor
                    .fetch(&tx, EXPORT_BATCH_ROWS as i32)
                    .await
                    .map_err(db_error)?;
                let mut batch = pin!(batch);
                let mut read = 0;
                // Each row is yielded as it arrives. The driver's answer channel holds
                // one message batch (`mpsc::channel(1)`): while we are not polled its
                // connection task stops reading the socket, and TCP holds the server
                // back. A slow client costs no memory here.
                while let Some(row) = batch.next().await {
                    read += 1;
                    yield user_from_row(&row.map_err(db_error)?)?;
                }
                // Fewer rows than asked for: the portal ran to its end.
                if read < EXPORT_BATCH_ROWS {
                    break;
                }
            }
            tx.commit().await.map_err(db_error)?;
            client.release();
        })
        // Dropped (the client hung up), at whatever await or yield it was suspended,
        // the stream drops its locals in reverse order (tokio-postgres 0.7.18's source):
        // - the batch's `RowStream`: the connection task keeps reading the rest of that
        //   Execute's rows and discards them (at most EXPORT_BATCH_ROWS, well under 1 s);
        // - a `Portal`: its Drop queues a Close; the `Transaction`: a ROLLBACK (and
        //   during BEGIN, `RollbackIfNotDone` does). Both run right after that batch,
        //   on the connection's task, with nobody awaiting them;
        // - the lease (never released) hands the connection to `crate::abandon`, whose
        //   round trip queues behind the ROLLBACK: back to the pool idle, or closed.
        // Nothing is left `active` or `idle in transaction`: no Execute outlives a batch.
    }
    // ANCHOR_END: export

    // ANCHOR: create_post
    async fn create_post(&self, user_id: i64, post: &PostCreate) -> StoreResult<Option<PostRead>> {
        // No "does the user exist?" read first: the user could be deleted between that
        // read and this insert. The foreign key checks at the moment of the insert, and
        // its violation is the answer "no such user": one statement, and no race.
        const SQL: Sql = Sql {
            text: "INSERT INTO posts (user_id, title, body) VALUES ($1, $2, $3) \
                   RETURNING id, user_id, title, body, created_at",
            types: &[Type::INT8, Type::TEXT, Type::TEXT],
        };
        let client = self.connection().await?;
        let inserted = (self.statements)
            .rows(&**client, &SQL, &[&user_id, &post.title(), &post.body()])
            .await;
        client.release();
        match inserted {
            Ok(rows) => rows.first().map(post_from_row).transpose(),
            // The driver hands us the SQLSTATE and the constraint's name; which of
            // them means "no such user" is ours to say (see `is_missing_author`).
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
        // No join: the client named the author, and every post carries `user_id`. The
        // page is a range scan of the index on (user_id, id), however many posts the
        // table holds.
        const LIST_SQL: Sql = Sql {
            text: "SELECT id, user_id, title, body, created_at FROM posts \
                   WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            types: &[Type::INT8, Type::INT8, Type::INT8],
        };
        // Only an empty page is ambiguous: a user with no posts after `after_id` (200,
        // `[]`) or no user at all (404). A page with a post in it proves its author
        // exists, so the common case costs one statement, and this second one runs only
        // when the list came back empty.
        const USER_EXISTS_SQL: Sql = Sql {
            text: "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)",
            types: &[Type::INT8],
        };
        let client = self.connection().await?;
        let rows = (self.statements)
            .query(
                &**client,
                &LIST_SQL,
                &[&user_id, &page.after_id, &page.limit],
            )
            .await?;
        if rows.is_empty() {
            let row = (self.statements)
                .query_one(&**client, &USER_EXISTS_SQL, &[&user_id])
                .await?;
            let user_exists: bool = row.try_get(0).map_err(StoreError::internal)?;
            if !user_exists {
                client.release();
                return Ok(None);
            }
        }
        client.release();
        let posts = rows.iter().map(post_from_row).collect::<StoreResult<_>>()?;
        Ok(Some(posts))
    }
    // ANCHOR_END: list_user_posts

    // ANCHOR: list_posts
    async fn list_posts(&self, page: Page) -> StoreResult<Vec<PostWithAuthor>> {
        // Every post of the page with its author, in one statement: a join. The N+1
        // way (the page, then a `get` per post for its author) would cost 501
        // statements for a page of 500; this costs one, whatever the page size.
        // PostgreSQL walks the posts' primary key from `after_id` and finds each author
        // by the users' primary key. An inner join loses no post: `user_id` is NOT NULL
        // and the foreign key cascades deletes, so every post has its author.
        //
        // Both tables have `id` and `created_at`, and a row is read by column name, so
        // the author's columns get names of their own (`AS author_...`): the contract
        // between this SQL and `post_with_author_from_row`, checked by nothing but a
        // test.
        // ANCHOR: posts_join
        const SQL: Sql = Sql {
            text: "SELECT p.id, p.user_id, p.title, p.body, p.created_at, \
                   u.id AS author_id, u.name AS author_name, \
                   u.email AS author_email, u.created_at AS author_created_at \
                   FROM posts p JOIN users u ON u.id = p.user_id \
                   WHERE p.id > $1 ORDER BY p.id LIMIT $2",
            types: &[Type::INT8, Type::INT8],
        };
        // ANCHOR_END: posts_join
        let client = self.connection().await?;
        let rows = (self.statements)
            .query(&**client, &SQL, &[&page.after_id, &page.limit])
            .await?;
        client.release();
        rows.iter().map(post_with_author_from_row).collect()
    }
    // ANCHOR_END: list_posts

    // ANCHOR: get_post
    async fn get_post(&self, id: i64) -> StoreResult<Option<PostWithAuthor>> {
        // The same join as `list_posts`, for one post: one statement, not a read of
        // the post and then one of its author.
        const SQL: Sql = Sql {
            text: "SELECT p.id, p.user_id, p.title, p.body, p.created_at, \
                   u.id AS author_id, u.name AS author_name, \
                   u.email AS author_email, u.created_at AS author_created_at \
                   FROM posts p JOIN users u ON u.id = p.user_id \
                   WHERE p.id = $1",
            types: &[Type::INT8],
        };
        let client = self.connection().await?;
        let row = (self.statements).query_opt(&**client, &SQL, &[&id]).await?;
        client.release();
        row.as_ref().map(post_with_author_from_row).transpose()
    }
    // ANCHOR_END: get_post

    // ANCHOR: delete_post
    async fn delete_post(&self, id: i64) -> StoreResult<bool> {
        const SQL: Sql = Sql {
            text: "DELETE FROM posts WHERE id = $1",
            types: &[Type::INT8],
        };
        let client = self.connection().await?;
        let deleted = (self.statements).execute(&**client, &SQL, &[&id]).await?;
        client.release();
        Ok(deleted > 0)
    }
    // ANCHOR_END: delete_post

    // ANCHOR: ping
    async fn ping(&self) -> StoreResult<()> {
        const SQL: &str = "SELECT 1";
        self.statements.log(SQL);
        let client = self.connection().await?;
        client.simple_query(SQL).await.map_err(db_error)?;
        client.release();
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

// ANCHOR: post_row_mapping
/// Maps a row of `posts` by column name, as [`user_from_row`] maps a user.
pub(crate) fn post_from_row(row: &Row) -> StoreResult<PostRead> {
    let map = || -> Result<PostRead, tokio_postgres::Error> {
        Ok(PostRead {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            title: row.try_get("title")?,
            body: row.try_get("body")?,
            created_at: row.try_get("created_at")?,
        })
    };
    map().map_err(StoreError::internal)
}

/// Maps a row of the posts-join-users query: the post's columns under their own names,
/// the author's under the aliases the query gave them. Rename an alias in the SQL and
/// not here, and this compiles and fails at run time, on the first request.
pub(crate) fn post_with_author_from_row(row: &Row) -> StoreResult<PostWithAuthor> {
    let author = || -> Result<UserRead, tokio_postgres::Error> {
        Ok(UserRead {
            id: row.try_get("author_id")?,
            name: row.try_get("author_name")?,
            email: row.try_get("author_email")?,
            created_at: row.try_get("author_created_at")?,
        })
    };
    Ok(PostWithAuthor {
        post: post_from_row(row)?,
        author: author().map_err(StoreError::internal)?,
    })
}
// ANCHOR_END: post_row_mapping

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
        return StoreError::EmailTaken;
    }
    // The log gets the code and names, not the driver's text: its `DETAIL` line may
    // quote the row (see `DbErrorSummary`). A transient state is a 503, the rest a 500.
    sqlstate::DbErrorSummary::of(code, db.constraint(), db.table())
        .with_column(db.column())
        .into_store_error()
}

/// Whether a failed insert of a post means "no such author": the foreign key
/// `posts_user_id_fkey` refused it (SQLSTATE 23503), because the user does not exist
/// or was deleted meanwhile. Read out of the error like the taken email in
/// [`db_error`], but asked first, by `create_post`: the answer is not an error at all
/// but `None` (404), which a [`StoreError`] cannot say.
pub(crate) fn is_missing_author(err: &tokio_postgres::Error) -> bool {
    err.as_db_error()
        .is_some_and(|db| sqlstate::is_missing_author(db.code().code(), db.constraint()))
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
