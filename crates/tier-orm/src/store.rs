//! The store of tier III: no SQL, SeaORM builds it from the entity in `entity/user.rs`.
//!
//! Each operation is a chain of method calls on the entity (`User::find()`,
//! `.filter(...)`, `ActiveModel::insert`) that SeaORM turns into a statement with bound
//! parameters and runs on its `sqlx` pool, so statements are prepared once per
//! connection and cached, as in tier II. Rows come back as the entity's `Model`, which
//! we map onto the API's `UserRead`. Column names and types are checked by the compiler
//! against the entity, and the entity against the schema by a test: the query text
//! itself is SeaORM's business, which is this tier's convenience and its cost.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, RuntimeErr, Set, SqlErr,
};
use users_api::sqlstate;
use users_api::{Page, StoreError, StoreResult, UserCreate, UserRead, UserStore, UserUpdate};

use crate::entity::prelude::User;
use crate::entity::user::{ActiveModel, Column, Model};

/// The users table, through SeaORM's connection (a `sqlx` pool underneath).
#[derive(Clone)]
pub struct OrmStore {
    db: DatabaseConnection,
}

impl OrmStore {
    /// Wraps a connection. Statement logging (`LOG_SQL`) is part of its connect options.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

impl UserStore for OrmStore {
    // ANCHOR: create
    async fn create(&self, user: &UserCreate) -> StoreResult<UserRead> {
        // `id` and `created_at` stay `NotSet`, so the INSERT leaves them to the
        // database, and on PostgreSQL SeaORM reads the stored row back with `RETURNING`.
        let model = ActiveModel {
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
            .filter(Column::Id.gt(page.after_id))
            .order_by_asc(Column::Id)
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
        // `commit()`: load the row, change the fields, save. That is two round trips
        // where the raw tier's single `UPDATE ... RETURNING` does both. The UPDATE
        // sets only the fields marked `Set`, so two requests changing different
        // fields of one user do not overwrite each other.
        let Some(model) = User::find_by_id(id).one(&self.db).await.map_err(db_error)? else {
            return Ok(None);
        };
        let mut active = model.into_active_model();
        if let Some(name) = changes.name() {
            active.name = Set(name.to_owned());
        }
        if let Some(email) = changes.email() {
            active.email = Set(email.to_owned());
        }
        match active.update(&self.db).await {
            Ok(model) => Ok(Some(user_from_model(model))),
            // Another request deleted the row between our SELECT and our UPDATE.
            Err(DbErr::RecordNotUpdated) => Ok(None),
            Err(err) => Err(db_error(err)),
        }
    }
    // ANCHOR_END: update

    // ANCHOR: delete
    async fn delete(&self, id: i64) -> StoreResult<bool> {
        let deleted = User::delete_by_id(id)
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(deleted.rows_affected > 0)
    }
    // ANCHOR_END: delete

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

// ANCHOR: row_mapping
/// Maps the entity's `Model` onto the API's `UserRead`, field by field. SeaORM has
/// already decoded the row into `Model` (a column of the wrong type fails the query
/// with `DbErr::Type`), so nothing can fail here. The two structs stay apart on
/// purpose: `Model` is the table, `UserRead` is the API, and either may change alone.
fn user_from_model(model: Model) -> UserRead {
    UserRead {
        id: model.id,
        name: model.name,
        email: model.email,
        created_at: model.created_at,
    }
}
// ANCHOR_END: row_mapping

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
    let source = match &err {
        DbErr::Conn(RuntimeErr::SqlxError(source))
        | DbErr::Exec(RuntimeErr::SqlxError(source))
        | DbErr::Query(RuntimeErr::SqlxError(source)) => Some(source.as_ref()),
        _ => None,
    };
    if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err()
        && let Some(sea_orm::sqlx::Error::Database(db)) = source
        && sqlstate::is_email_taken(sqlstate::UNIQUE_VIOLATION, db.constraint())
    {
        return StoreError::EmailTaken;
    }
    match (&err, source) {
        // No pooled connection within `ACQUIRE_TIMEOUT`, or the pool is shutting down.
        (DbErr::ConnectionAcquire(_), _) => StoreError::unavailable(err),
        (_, Some(source)) if is_unavailable(source) => StoreError::unavailable(err),
        _ => StoreError::internal(err),
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
