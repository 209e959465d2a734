//! How tier-orm sends a statement: prepared and kept (the default), or unnamed, each
//! in a transaction (`DB_PREPARED_STATEMENTS=false`, for a pooler in transaction mode).
//!
//! SeaORM builds a statement (SQL text and values) from the ORM calls, then runs it
//! with `sqlx::query_with(sql, values)` on a connection of its pool, and no option of
//! SeaORM's reaches that query: sqlx names it (`sqlx_s_1`, ...) and caches it, fine
//! straight to PostgreSQL, broken behind PgBouncer before 1.21, which lends a server
//! connection per transaction (a name prepared on one is missing on the next).
//!
//! Every ORM call takes its connection as `&impl ConnectionTrait`, though, so the store
//! hands them [`Db`] (for the pool) and [`Txn`] (a transaction) instead of SeaORM's own
//! `DatabaseConnection` and `DatabaseTransaction`. Prepared, both pass everything to
//! SeaORM's. Unnamed, they run SeaORM's statement themselves, as SeaORM would, with
//! one difference: sqlx's `persistent(false)`. The ORM code of the store is the same
//! either way; only the executor under it changes (tier-sqlx's `statements.rs` does the
//! same for its macros).
//!
//! Unnamed is not enough on its own. sqlx sends an unnamed statement in two round
//! trips: Parse, Describe, **Sync**, then Bind, Execute, Close, Sync. At the first
//! Sync the connection is idle outside a transaction, so PgBouncer (transaction mode)
//! takes the server connection back, and the Bind may land on another one, where the
//! unnamed statement is some other client's: "bind message supplies 2 parameters, but
//! prepared statement \"\" requires 1" (SQLSTATE 08P01), or, when the counts match,
//! another client's statement run with our values. Inside a transaction PgBouncer
//! keeps the server connection ours until COMMIT, so [`Db`] runs each statement in a
//! transaction of its own: BEGIN, the two halves, COMMIT; and an operation of several
//! statements (`update`: read, then write) asks for [`Db::operation`], one transaction
//! for all of them.
//!
//! The other way considered: `statement_cache_capacity(0)` (sqlx still names every
//! statement, and never closes it) with a `DEALLOCATE ALL` at the start of each
//! transaction, so that no name left on the server connection by another client can
//! clash. Tried on the wire (a throwaway probe through testkit's capturing proxy):
//! BEGIN, DEALLOCATE ALL, a named Parse+Describe+Sync, Bind+Execute+Close+Sync, COMMIT,
//! the pool's ping: 6 round trips for one statement, where this way takes 5, and a
//! named statement under a setting that says "unnamed". So: unnamed, in a transaction.
//!
//! The cost, counted on the wire (`testkit::faults::unnamed`): a one-statement request
//! takes 5 round trips (BEGIN, Parse, Bind, COMMIT, and the ping sqlx sends when the
//! connection comes back), where a cached named statement takes 2; an update 7 (4
//! named), where a transaction per statement would take 10.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;

use futures::TryStreamExt as _;
use futures::stream::BoxStream;
use sea_orm::sea_query::Values;
use sea_orm::sqlx::query::Query;
use sea_orm::sqlx::{self, AssertSqlSafe, Postgres, Transaction};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, IsolationLevel, QueryResult, RuntimeErr, Statement, StreamTrait,
    TransactionTrait as _,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

/// SeaORM's pool, whose statements are prepared and kept, or, with `unnamed`, each
/// sent unnamed in a transaction of its own.
#[derive(Clone)]
pub struct Db {
    db: DatabaseConnection,
    /// `DB_PREPARED_STATEMENTS=false`.
    unnamed: bool,
}

/// A transaction: SeaORM's own (named statements), or a sqlx transaction whose
/// statements are unnamed. Dropped unfinished, either rolls back.
pub enum Txn {
    /// SeaORM's, prepared statements.
    Named(DatabaseTransaction),
    /// A lock, as in SeaORM's own transaction: `ConnectionTrait` lends `&self`.
    Unnamed(Mutex<Transaction<'static, Postgres>>),
}

impl Db {
    /// Wraps SeaORM's connection; with `prepared_statements` false, every statement
    /// is sent unnamed, in a transaction.
    pub fn new(db: DatabaseConnection, prepared_statements: bool) -> Self {
        Self {
            db,
            unnamed: !prepared_statements,
        }
    }

    /// Begins a transaction, SeaORM's `begin_with_config`. Unnamed, the isolation
    /// level and access mode go into the BEGIN itself (SeaORM sends a `SET
    /// TRANSACTION` after it: a round trip more).
    pub async fn begin_with_config(
        &self,
        isolation: Option<IsolationLevel>,
        access: Option<AccessMode>,
    ) -> Result<Txn, DbErr> {
        if !self.unnamed {
            let txn = self.db.begin_with_config(isolation, access).await?;
            return Ok(Txn::Named(txn));
        }
        let mut begin = String::from("BEGIN");
        if let Some(isolation) = isolation {
            let _ = write!(begin, " ISOLATION LEVEL {isolation}");
        }
        if let Some(access) = access {
            let _ = write!(begin, " {access}");
        }
        let pool = self.db.get_postgres_connection_pool();
        let txn = pool
            .begin_with(AssertSqlSafe(begin))
            .await
            .map_err(conn_err)?;
        Ok(Txn::Unnamed(Mutex::new(txn)))
    }

    /// A transaction for one statement: begun in a task of its own, as the store's
    /// `begin_cancel_safe` does (sqlx#4393: a BEGIN dropped half way leaves the
    /// connection in a transaction sqlx does not know of).
    async fn alone(&self) -> Result<Txn, DbErr> {
        let db = self.clone();
        tokio::spawn(async move { db.begin_with_config(None, None).await })
            .await
            .map_err(|_| conn_err(sqlx::Error::WorkerCrashed))?
    }

    /// sqlx's ping on a pooled connection (a Sync, no statement).
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }

    /// Closes the pool (see the store's `close`).
    pub async fn close_by_ref(&self) -> Result<(), DbErr> {
        self.db.close_by_ref().await
    }
}

// Unnamed, each method below begins a transaction, runs the statement in it and
// commits: a statement that fails is rolled back when `txn` drops, and the pool's ping
// sends that ROLLBACK before the connection is lent again.
#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        if !self.unnamed {
            return self.db.execute_raw(stmt).await;
        }
        let txn = self.alone().await?;
        let result = txn.execute_raw(stmt).await?;
        txn.commit().await?;
        Ok(result)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        // A simple query: no statement, named or not, whatever the setting.
        self.db.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if !self.unnamed {
            return self.db.query_one_raw(stmt).await;
        }
        let txn = self.alone().await?;
        let row = txn.query_one_raw(stmt).await?;
        txn.commit().await?;
        Ok(row)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if !self.unnamed {
            return self.db.query_all_raw(stmt).await;
        }
        let txn = self.alone().await?;
        let rows = txn.query_all_raw(stmt).await?;
        txn.commit().await?;
        Ok(rows)
    }
}

/// Where one operation of several statements runs (`update` reads, then writes): the
/// pool, prepared, or, unnamed, one transaction for all of them, so that they pay for
/// one BEGIN and COMMIT, not one each (an update: 7 round trips instead of 10).
pub enum Op<'a> {
    /// Prepared: each statement on a pooled connection, as without `Op`.
    Pool(&'a Db),
    /// Unnamed: a transaction, committed by [`Op::finish`], rolled back if dropped.
    Txn(Txn),
}

impl Db {
    /// The pool, or (unnamed) a transaction of the operation's own.
    pub async fn operation(&self) -> Result<Op<'_>, DbErr> {
        if self.unnamed {
            return Ok(Op::Txn(self.alone().await?));
        }
        Ok(Op::Pool(self))
    }
}

impl Op<'_> {
    /// The operation succeeded: COMMIT, if it has a transaction.
    pub async fn finish(self) -> Result<(), DbErr> {
        match self {
            Self::Pool(_) => Ok(()),
            Self::Txn(txn) => txn.commit().await,
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Op<'_> {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Self::Pool(db) => db.execute_raw(stmt).await,
            Self::Txn(txn) => txn.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Self::Pool(db) => db.execute_unprepared(sql).await,
            Self::Txn(txn) => txn.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Self::Pool(db) => db.query_one_raw(stmt).await,
            Self::Txn(txn) => txn.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Self::Pool(db) => db.query_all_raw(stmt).await,
            Self::Txn(txn) => txn.query_all_raw(stmt).await,
        }
    }
}

impl Txn {
    /// COMMIT.
    pub async fn commit(self) -> Result<(), DbErr> {
        match self {
            Self::Named(txn) => txn.commit().await,
            Self::Unnamed(txn) => txn.into_inner().commit().await.map_err(exec_err),
        }
    }

    /// ROLLBACK, now (a drop would only queue it).
    pub async fn rollback(self) -> Result<(), DbErr> {
        match self {
            Self::Named(txn) => txn.rollback().await,
            Self::Unnamed(txn) => txn.into_inner().rollback().await.map_err(exec_err),
        }
    }
}

/// SeaORM's statement as sqlx's query, the way SeaORM's own driver builds it
/// (`sqlx_query` in its `driver/sqlx_postgres.rs`), but unnamed.
fn unnamed(stmt: &Statement) -> Query<'_, Postgres, SqlxValues> {
    let values = stmt.values.clone().unwrap_or(Values(Vec::new()));
    sqlx::query_with(AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values)).persistent(false)
}

#[async_trait::async_trait]
impl ConnectionTrait for Txn {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let txn = match self {
            Self::Named(txn) => return txn.execute_raw(stmt).await,
            Self::Unnamed(txn) => txn,
        };
        let mut txn = txn.lock().await;
        let result = unnamed(&stmt).execute(&mut **txn).await;
        result.map(ExecResult::from).map_err(exec_err)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let txn = match self {
            Self::Named(txn) => return txn.execute_unprepared(sql).await,
            Self::Unnamed(txn) => txn,
        };
        let mut txn = txn.lock().await;
        let result = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut **txn)
            .await;
        result.map(ExecResult::from).map_err(exec_err)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let txn = match self {
            Self::Named(txn) => return txn.query_one_raw(stmt).await,
            Self::Unnamed(txn) => txn,
        };
        let mut txn = txn.lock().await;
        let row = unnamed(&stmt).fetch_optional(&mut **txn).await;
        row.map(|row| row.map(QueryResult::from)).map_err(query_err)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let txn = match self {
            Self::Named(txn) => return txn.query_all_raw(stmt).await,
            Self::Unnamed(txn) => txn,
        };
        let mut txn = txn.lock().await;
        let rows = unnamed(&stmt).fetch_all(&mut **txn).await;
        rows.map(|rows| rows.into_iter().map(QueryResult::from).collect())
            .map_err(query_err)
    }
}

/// Rows decoded one by one as sqlx reads them (`Select::stream`, for the export).
impl StreamTrait for Txn {
    type Stream<'a> = BoxStream<'a, Result<QueryResult, DbErr>>;

    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    fn stream_raw<'a>(
        &'a self,
        stmt: Statement,
    ) -> Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
        Box::pin(async move {
            let txn = match self {
                Self::Named(txn) => {
                    let rows = txn.stream_raw(stmt).await?;
                    return Ok(Box::pin(rows) as Self::Stream<'a>);
                }
                Self::Unnamed(txn) => txn,
            };
            // The lock is held as long as the stream lives, as in SeaORM's own.
            let rows = async_stream::try_stream! {
                let mut txn = txn.lock().await;
                let mut rows = unnamed(&stmt).fetch(&mut **txn);
                while let Some(row) = rows.try_next().await.map_err(query_err)? {
                    yield QueryResult::from(row);
                }
            };
            Ok(Box::pin(rows) as Self::Stream<'a>)
        })
    }
}

/// sqlx's error under SeaORM's, as SeaORM's driver wraps it (the store's `db_error`
/// looks under it for the SQLSTATE).
fn exec_err(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(err.into()))
}

fn query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(err.into()))
}

fn conn_err(err: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(err.into()))
}
