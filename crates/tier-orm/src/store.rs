//! The store of tier III: no SQL, SeaORM builds it from the entities in `entity/`.
//!
//! Each operation is a chain of method calls on an entity (`User::find()`,
//! `.filter(...)`, `ActiveModel::insert`) that SeaORM turns into a statement with bound
//! parameters and runs on its `sqlx` pool, so statements are prepared once per
//! connection and cached, as in tier II (or sent unnamed, each in a transaction, with
//! `DB_PREPARED_STATEMENTS=false`: see `statements.rs`, which the calls run on). Rows
//! come back as the entity's `Model`, which we map onto the API's `UserRead` and
//! `PostRead`. Column names and types are checked by the compiler against the entity,
//! and the entity against the schema by a test: the query text is SeaORM's business.
//!
//! Posts show the ORM's relations: a post's author comes with it through the relation
//! declared in `entity/post.rs` (`find_both_related(User)`, one join), never through
//! one more query per post (the N+1 problem an ORM makes easy to write by accident).

use async_stream::try_stream;
use futures::TryStreamExt;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    AccessMode, ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, IsolationLevel, QueryFilter, QueryOrder, QuerySelect, RuntimeErr, SelectExt,
    Set, SqlErr,
};
use users_api::sqlstate;
use users_api::store::EXPORT_BATCH_ROWS;
use users_api::{
    Page, PostCreate, PostRead, PostWithAuthor, StoreError, StoreResult, UserBatch, UserCreate,
    UserRead, UserStore, UserStream, UserUpdate,
};

use crate::entity::prelude::{Post, User};
use crate::entity::{post, user};
use crate::statements::{Db, Txn};

/// The users table, through SeaORM's connection (a `sqlx` pool underneath).
#[derive(Clone)]
pub struct OrmStore {
    db: Db,
}

impl OrmStore {
    /// Wraps a connection. Statement logging (`LOG_SQL`) is part of its connect options;
    /// with `prepared_statements` false, every statement is sent unnamed.
    pub fn new(db: DatabaseConnection, prepared_statements: bool) -> Self {
        let db = Db::new(db, prepared_statements);
        Self { db }
    }
}

impl UserStore for OrmStore {
    // ANCHOR: create
    async fn create(&self, user: &UserCreate) -> StoreResult<UserRead> {
        // `id` and `created_at` stay `NotSet`, so the INSERT leaves them to the
        // database, and on PostgreSQL SeaORM reads the stored row back with `RETURNING`.
        let model = user::ActiveModel {
            name: Set(user.name().to_owned()),
            email: Set(user.email().to_owned()),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(db_error)?;
        Ok(user_from_model(model))
    }
    // ANCHOR_END: create

    // ANCHOR: list
    async fn list(&self, page: Page) -> StoreResult<Vec<UserRead>> {
        let limit = u64::try_from(page.limit).map_err(StoreError::internal)?;
        let models = User::find()
            .filter(user::Column::Id.gt(page.after_id))
            .order_by_asc(user::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(models.into_iter().map(user_from_model).collect())
    }
    // ANCHOR_END: list

    // ANCHOR: get
    async fn get(&self, id: i64) -> StoreResult<Option<UserRead>> {
        let model = User::find_by_id(id).one(&self.db).await.map_err(db_error)?;
        Ok(model.map(user_from_model))
    }
    // ANCHOR_END: get

    // ANCHOR: update
    async fn update(&self, id: i64, changes: &UserUpdate) -> StoreResult<Option<UserRead>> {
        // The ORM way, as with SQLAlchemy's `session.get(User, id)`, set attributes,
        // `commit()`: load the row, change the fields, save: two statements where the raw
        // tier's `UPDATE ... RETURNING` is one (unnamed, in one transaction: `operation`).
        // The UPDATE sets only the fields marked `Set`: no lost update of other fields.
        let db = self.db.operation().await.map_err(db_error)?;
        let Some(model) = User::find_by_id(id).one(&db).await.map_err(db_error)? else {
            return Ok(None);
        };
        let mut active = model.into_active_model();
        if let Some(name) = changes.name() {
            active.name = Set(name.to_owned());
        }
        if let Some(email) = changes.email() {
            active.email = Set(email.to_owned());
        }
        match active.update(&db).await {
            Ok(model) => {
                db.finish().await.map_err(db_error)?;
                Ok(Some(user_from_model(model)))
            }
            // Another request deleted the row between our SELECT and our UPDATE.
            Err(DbErr::RecordNotUpdated) => Ok(None),
            Err(err) => Err(db_error(err)),
        }
    }
    // ANCHOR_END: update

    // ANCHOR: delete
    async fn delete(&self, id: i64) -> StoreResult<bool> {
        // One DELETE: the user's posts go with it through the foreign key's ON DELETE
        // CASCADE, in the database (the entity's `on_delete` only describes that).
        let deleted = User::delete_by_id(id)
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(deleted.rows_affected > 0)
    }
    // ANCHOR_END: delete

    // ANCHOR: create_batch
    async fn create_batch(&self, batch: &UserBatch) -> StoreResult<Vec<UserRead>> {
        let models = batch.users().iter().map(|user| user::ActiveModel {
            name: Set(user.name().to_owned()),
            email: Set(user.email().to_owned()),
            ..Default::default()
        });
        let txn = begin_cancel_safe(&self.db, None, None).await?;
        // One statement for the batch, in the ORM's idiom, a multi-row VALUES:
        // `INSERT INTO users (name, email) VALUES ($1, $2), ($3, $4), ... ON CONFLICT
        // DO NOTHING RETURNING ...`. Its price next to the other tiers' `UNNEST` of two
        // arrays: 2 bind parameters per row, and one SQL text per batch size, so up to
        // 100 prepared statements per connection, in sqlx's statement cache (100 by
        // default) beside every other query of the tier.
        //
        // `OnConflict::new()` has no target: `ON CONFLICT DO NOTHING` skips a row on
        // any unique violation, and the index on `lower(email)` is the only one an
        // insert can hit (an in-batch repeat is skipped too). SeaORM's shortcut
        // `.on_conflict_do_nothing()` would not do: it renders `ON CONFLICT ("id") DO
        // NOTHING`, and a taken email would fail the statement with a 23505.
        // `exec_with_returning` gives the `Model`s of the rows inserted, maybe none.
        let inserted = User::insert_many(models)
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .exec_with_returning(&txn)
            .await
            .map_err(db_error)?;
        // On an error, `?` drops `txn`, which rolls back (see `begin_cancel_safe`).
        match batch.check_inserted(inserted.into_iter().map(user_from_model).collect()) {
            Ok(users) => {
                txn.commit().await.map_err(db_error)?;
                Ok(users)
            }
            // An entry was skipped: keep none of the batch.
            Err(taken) => {
                txn.rollback().await.map_err(db_error)?;
                Err(taken)
            }
        }
    }
    // ANCHOR_END: create_batch

    // ANCHOR: export
    fn export(&self) -> UserStream {
        let db = self.db.clone();
        // `try_stream!` turns the block into a state machine that owns `txn` (and
        // through it the pooled connection) and the row stream borrowing it, so the
        // stream is `'static`, as axum needs. An `Err` from `?` is the last item.
        //
        // What a drop (the client hung up) does at each await:
        // * in `begin_cancel_safe`: the task goes on alone; see there.
        // * in `.stream(&txn)`: it only takes the transaction's lock; nothing sent.
        // * in `rows.try_next()`, or parked at `yield`: `rows` goes first (the lock
        //   released, sqlx's read of the batch abandoned), then `txn`, whose `Drop`
        //   queues a ROLLBACK. The connection goes back, and sqlx's `return_to_pool`
        //   ping sends the ROLLBACK and reads the rest of the batch (at most
        //   `EXPORT_BATCH_ROWS` rows) and its answer: idle within one batch.
        // * in `commit`: a ROLLBACK is queued after the COMMIT (a warning, if any).
        Box::pin(try_stream! {
            let batch_rows = u64::try_from(EXPORT_BATCH_ROWS).map_err(StoreError::internal)?;
            // REPEATABLE READ: every statement sees the snapshot of the first, so the
            // batches make one consistent export (SeaORM: `SET TRANSACTION` after BEGIN).
            let txn = begin_cancel_safe(
                &db,
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?;
            // Keyset batches, as `list` pages: `WHERE id > $1 ORDER BY id LIMIT $2`.
            // Each statement is short (the 4 s statement timeout never sees a slow
            // reader), and a dropped export leaves at most one batch in flight.
            let mut after_id = 0;
            loop {
                // `stream` decodes each row as sqlx reads it off the socket (`all`
                // would collect the batch in a `Vec`), as fast as the client reads.
                let mut rows = User::find()
                    .filter(user::Column::Id.gt(after_id))
                    .order_by_asc(user::Column::Id)
                    .limit(batch_rows)
                    .stream(&txn)
                    .await
                    .map_err(db_error)?;
                let mut read = 0;
                while let Some(model) = rows.try_next().await.map_err(db_error)? {
                    after_id = model.id;
                    read += 1;
                    yield user_from_model(model);
                }
                // A short batch is the last: no statement to find an empty one.
                if read < batch_rows {
                    break;
                }
            }
            txn.commit().await.map_err(db_error)?;
        })
    }
    // ANCHOR_END: export

    // ANCHOR: create_post
    async fn create_post(&self, user_id: i64, post: &PostCreate) -> StoreResult<Option<PostRead>> {
        // One INSERT ... RETURNING, as for a user. No look-up of the author first: a
        // second statement, and racy (the user may be deleted in between). The foreign
        // key decides, at the insert, and its violation is our "no such user".
        let inserted = post::ActiveModel {
            user_id: Set(user_id),
            title: Set(post.title().to_owned()),
            body: Set(post.body().to_owned()),
            ..Default::default()
        }
        .insert(&self.db)
        .await;
        match inserted {
            Ok(model) => Ok(Some(post_from_model(model))),
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
        let limit = u64::try_from(page.limit).map_err(StoreError::internal)?;
        // `WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3`: a range scan of the
        // index on (user_id, id). We could reach the posts through the user
        // (`user.find_related(Post)`), but that needs the user's `Model` first: a query
        // to load it, on every request. The foreign key column is one statement.
        let db = self.db.operation().await.map_err(db_error)?;
        let models = Post::find()
            .filter(post::Column::UserId.eq(user_id))
            .filter(post::Column::Id.gt(page.after_id))
            .order_by_asc(post::Column::Id)
            .limit(limit)
            .all(&db)
            .await
            .map_err(db_error)?;
        // An empty page: no user, or no posts after `after_id`? Only then a second
        // statement: `SelectExt::exists` sends `SELECT 1 FROM users WHERE id = $1`.
        if models.is_empty() {
            let user_exists = User::find_by_id(user_id)
                .exists(&db)
                .await
                .map_err(db_error)?;
            if !user_exists {
                return Ok(None);
            }
        }
        db.finish().await.map_err(db_error)?;
        Ok(Some(models.into_iter().map(post_from_model).collect()))
    }
    // ANCHOR_END: list_user_posts

    // ANCHOR: list_posts
    async fn list_posts(&self, page: Page) -> StoreResult<Vec<PostWithAuthor>> {
        let limit = u64::try_from(page.limit).map_err(StoreError::internal)?;
        // The N+1 trap: load the page of posts, then each post's author with
        // `post.find_related(User)`: 1 + N queries, 501 for a page of 500. SeaORM
        // offers two ways out, both following the relation declared in `entity/post.rs`:
        //
        // * `find_also_related(User)` / `find_both_related(User)`: one statement,
        //   `posts JOIN users`, each row decoded into a pair of models. `also` is a LEFT
        //   JOIN and gives `Option<user::Model>`; `both` is an INNER JOIN and gives the
        //   `user::Model` itself. `posts.user_id` is NOT NULL with a foreign key, so
        //   every post has its author, and `both` says so in the type: no `None` to
        //   handle that cannot happen.
        // * the loader (`posts.load_one(User, db)`, `LoaderTrait`): two statements,
        //   the posts, then `users WHERE id IN (...)`, matched up in Rust. The join
        //   repeats an author's columns on each of their posts; the loader sends each
        //   author once. That pays off for one-to-many (a user with their posts, where
        //   a join would repeat the user per post) or wide related rows; an author is
        //   four small columns.
        //
        // We take the join: one statement whatever the page size, like tiers I and II.
        // SeaORM selects both entities' columns under prefixed aliases (`A_id`,
        // `B_id`, ...), since `posts.id` and `users.id` would otherwise clash.
        // ANCHOR: posts_join
        let rows = Post::find()
            .find_both_related(User)
            .filter(post::Column::Id.gt(page.after_id))
            .order_by_asc(post::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        // ANCHOR_END: posts_join
        Ok(rows.into_iter().map(post_with_author).collect())
    }
    // ANCHOR_END: list_posts

    // ANCHOR: get_post
    async fn get_post(&self, id: i64) -> StoreResult<Option<PostWithAuthor>> {
        // The same join as `list_posts`, for one primary key: one statement.
        let row = Post::find_by_id(id)
            .find_both_related(User)
            .one(&self.db)
            .await
            .map_err(db_error)?;
        Ok(row.map(post_with_author))
    }
    // ANCHOR_END: get_post

    // ANCHOR: delete_post
    async fn delete_post(&self, id: i64) -> StoreResult<bool> {
        // `DELETE FROM posts WHERE id = $1`, no read first: `rows_affected` tells us
        // whether there was such a post.
        let deleted = Post::delete_by_id(id)
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(deleted.rows_affected > 0)
    }
    // ANCHOR_END: delete_post

    // ANCHOR: ping
    async fn ping(&self) -> StoreResult<()> {
        // Borrows a connection and sends sqlx's ping (a protocol round trip, no SQL).
        self.db.ping().await.map_err(db_error)
    }
    // ANCHOR_END: ping

    // ANCHOR: close
    async fn close(&self) {
        // Refuses new checkouts and closes idle connections, then waits for busy ones to
        // come back (the statement timeout bounds that wait) and closes them too.
        if let Err(err) = self.db.close_by_ref().await {
            tracing::warn!(error = %err, "closing the connection pool failed");
        }
    }
    // ANCHOR_END: close
}

// ANCHOR: begin_cancel_safe
/// Begins a transaction (`db.begin_with_config`: SeaORM's, or an unnamed one) in a
/// task of its own, so that dropping the caller's future cannot leave a connection in
/// a transaction nobody rolls back.
///
/// The trap, in sqlx-postgres 0.9.0's `transaction.rs` (SeaORM calls its `begin`):
/// the transaction depth is raised only once BEGIN's answer is back, and the rollback
/// on drop (sqlx's guard, and SeaORM's `Drop for DatabaseTransaction`, via
/// `start_rollback`) is queued only when that depth is above 0. A future dropped while
/// BEGIN is in flight leaves the server in a transaction sqlx does not know of, and the
/// pool lends the connection out like that (transact-rs/sqlx#4393, fixed after 0.9.0).
///
/// A spawned task is not dropped with our future: it runs `begin` to the end, then its
/// output, the transaction, is dropped if nobody awaits it, which queues a ROLLBACK
/// that the pool's ping sends. The cost: a task per transaction.
async fn begin_cancel_safe(
    db: &Db,
    isolation: Option<IsolationLevel>,
    access: Option<AccessMode>,
) -> StoreResult<Txn> {
    let db = db.clone();
    tokio::spawn(async move { db.begin_with_config(isolation, access).await })
        .await
        // The task panicked or the runtime is shutting down.
        .map_err(StoreError::internal)?
        .map_err(db_error)
}
// ANCHOR_END: begin_cancel_safe

// ANCHOR: row_mapping
/// Maps the entity's `Model` onto the API's `UserRead`, field by field. SeaORM has
/// already decoded the row into `Model` (a column of the wrong type fails the query
/// with `DbErr::Type`), so nothing can fail here. The two structs stay apart on
/// purpose: `Model` is the table, `UserRead` is the API, and either may change alone.
fn user_from_model(model: user::Model) -> UserRead {
    UserRead {
        id: model.id,
        name: model.name,
        email: model.email,
        created_at: model.created_at,
    }
}

// ANCHOR_END: row_mapping

// ANCHOR: post_row_mapping
/// Maps a post's `Model` onto the API's `PostRead`, as `user_from_model` does.
fn post_from_model(model: post::Model) -> PostRead {
    PostRead {
        id: model.id,
        user_id: model.user_id,
        title: model.title,
        body: model.body,
        created_at: model.created_at,
    }
}

/// Maps one row of the join (`find_both_related`: a post's and its author's models)
/// onto the API's `PostWithAuthor`.
fn post_with_author((post, author): (post::Model, user::Model)) -> PostWithAuthor {
    PostWithAuthor {
        post: post_from_model(post),
        author: user_from_model(author),
    }
}
// ANCHOR_END: post_row_mapping

// ANCHOR: errors
/// Maps an ORM error onto the store's vocabulary.
///
/// SeaORM classifies a unique violation portably (`SqlErr::UniqueConstraintViolation`),
/// but keeps only the message, not which constraint: for that we look under SeaORM's
/// wrapper at the `sqlx::Error` it carries, as tier-sqlx does. A unique violation on
/// the email index is "email taken" (any other unique constraint is not). No pooled
/// connection in time is `DbErr::ConnectionAcquire`; a lost connection or a server
/// shutting down is "unavailable" (503, retry); everything else is a bug or a surprise
/// (500). The meanings are shared by all tiers (`users_api::sqlstate`).
fn db_error(err: DbErr) -> StoreError {
    let source = sqlx_error(&err);
    if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err()
        && let Some(sea_orm::sqlx::Error::Database(db)) = source
        && sqlstate::is_email_taken(sqlstate::UNIQUE_VIOLATION, db.constraint())
    {
        return StoreError::EmailTaken;
    }
    // The log gets the code and names, not the database's message, which may quote
    // the row (see `DbErrorSummary`). A transient state is a 503, the rest a 500.
    if let Some(sea_orm::sqlx::Error::Database(db)) = source {
        let code = db.code().unwrap_or_default();
        return sqlstate::DbErrorSummary::of(&code, db.constraint(), db.table()).into_store_error();
    }
    match (&err, source) {
        // No pooled connection within `ACQUIRE_TIMEOUT`, or the pool is shutting down.
        (DbErr::ConnectionAcquire(_), _) => StoreError::unavailable(err),
        (_, Some(source)) if is_unavailable(source) => StoreError::unavailable(err),
        _ => StoreError::internal(err),
    }
}

/// Whether inserting a post failed because its author does not exist: a foreign-key
/// violation on `posts_user_id_fkey` (see `users_api::sqlstate`). Found the way
/// `db_error` finds the email index: SeaORM's `SqlErr::ForeignKeyConstraintViolation`
/// says "a foreign key", sqlx's error under it says which one. Any other foreign key
/// stays a 500 through `db_error`.
fn is_missing_author(err: &DbErr) -> bool {
    if let Some(SqlErr::ForeignKeyConstraintViolation(_)) = err.sql_err()
        && let Some(sea_orm::sqlx::Error::Database(db)) = sqlx_error(err)
    {
        return sqlstate::is_missing_author(sqlstate::FOREIGN_KEY_VIOLATION, db.constraint());
    }
    false
}

/// The `sqlx::Error` under SeaORM's wrapper, if the failure came from the driver.
fn sqlx_error(err: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    match err {
        DbErr::Conn(RuntimeErr::SqlxError(source))
        | DbErr::Exec(RuntimeErr::SqlxError(source))
        | DbErr::Query(RuntimeErr::SqlxError(source)) => Some(source.as_ref()),
        _ => None,
    }
}

/// The `sqlx::Error`s that say "try again later": the connection itself broke
/// (closed, reset, cut off mid-message), or the server answered with a transient state.
fn is_unavailable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Database(db) => db.code().is_some_and(|code| sqlstate::is_transient(&code)),
        Error::PoolTimedOut
        | Error::PoolClosed
        | Error::Io(_)
        | Error::Tls(_)
        | Error::Protocol(_)
        | Error::WorkerCrashed => true,
        _ => false,
    }
}
// ANCHOR_END: errors
