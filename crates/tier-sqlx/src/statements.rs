//! How tier-sqlx sends a statement: prepared and kept (the default), or unnamed
//! (`DB_PREPARED_STATEMENTS=false`, for a pooler in transaction mode).
//!
//! sqlx decides per query, from `Execute::persistent()`: `true` parses the statement
//! under a name (`sqlx_s_1`, ...) and keeps it in the connection's statement cache;
//! `false` parses it into the unnamed statement, which the next Parse replaces. What
//! the setting needs is `false`, and sqlx 0.9 offers it only half way:
//!
//! * `Query::persistent(false)` exists, but `query_as!` builds a `Map`, which has no
//!   such method (and whose `persistent()` says `true` whenever it has arguments);
//! * `PgConnectOptions::statement_cache_capacity(0)` does not do it: sqlx still names
//!   every statement, only never caches it, and never closes it either. The fault
//!   suite saw it on the wire: a named Parse on every request, and the server keeping
//!   each statement for the connection's life (`connection/executor.rs`,
//!   `get_or_prepare`: the cache is skipped when disabled, the name is not).
//!
//! So the store hands its queries to sqlx through [`On`], an executor that wraps the
//! pool or a transaction's connection and passes each query on with `persistent()`
//! answered by the setting. Everything else goes to the wrapped executor unchanged.
//!
//! sqlx parses an unnamed statement in a round trip of its own (Parse, Describe,
//! Sync), then binds and runs it (Bind, Execute, Close, Sync). Between the two the
//! connection is idle outside a transaction, and PgBouncer in transaction mode handed
//! the second half to another server connection when clients competed (SQLSTATE 26000
//! and 08P01 in 7 of the 77 conformance cases through PgBouncer). So on the pool each
//! unnamed statement runs in a transaction of its own; an operation of several
//! statements (a user's posts when the page is empty: the posts, then does the user
//! exist?) asks for [`SqlxStore::operation`], one transaction for all of them; inside
//! the batch's or the export's transaction a statement needs none. tier-orm's
//! `statements.rs` does the same under SeaORM (`Db::operation`, `Op::finish`).
//!
//! The cost, counted on the wire by the fault case
//! `unnamed_statements_only_when_not_prepared`: 5 round trips per single-statement
//! request (BEGIN, Parse, Bind+Execute, COMMIT, the pool's ping) instead of 2, and 7
//! for a missing user's posts (4 prepared), where a transaction per statement took 10.

use futures::TryStreamExt as _;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{
    Database, Either, Error, Execute, Executor, PgConnection, PgPool, Postgres, SqlStr, Transaction,
};
use tracing::Instrument as _;

use crate::store::SqlxStore;

impl SqlxStore {
    /// Where a query runs: `executor` (the pool, or a transaction's connection), with
    /// its statements prepared and kept or unnamed, as configured.
    pub(crate) fn on<X>(&self, executor: X) -> On<X> {
        On {
            executor,
            persistent: self.prepared_statements,
        }
    }
}

/// An executor (the pool, or a connection) whose queries are prepared and kept only
/// when `persistent` is true (`DB_PREPARED_STATEMENTS`).
#[derive(Debug)]
pub(crate) struct On<X> {
    /// Where the queries run.
    pub executor: X,
    /// Whether sqlx may name and keep the statements.
    pub persistent: bool,
}

/// A query whose `persistent()` is also bounded by the setting.
struct Query<E> {
    query: E,
    persistent: bool,
}

impl<'q, E: Execute<'q, Postgres>> Execute<'q, Postgres> for Query<E> {
    fn sql(self) -> SqlStr {
        self.query.sql()
    }

    fn statement(&self) -> Option<&PgStatement> {
        self.query.statement()
    }

    fn take_arguments(&mut self) -> Result<Option<<Postgres as Database>::Arguments>, BoxDynError> {
        self.query.take_arguments()
    }

    fn persistent(&self) -> bool {
        self.persistent && self.query.persistent()
    }
}

/// A connection already in a transaction (the batch, the export): its statements stay
/// on one server connection behind any pooler, so they only need to be unnamed.
impl<'c> Executor<'c> for On<&'c mut PgConnection> {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let persistent = self.persistent;
        self.executor.fetch_many(Query { query, persistent })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let persistent = self.persistent;
        self.executor.fetch_optional(Query { query, persistent })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, Error>>
    where
        'c: 'e,
    {
        self.executor.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Postgres>, Error>>
    where
        'c: 'e,
    {
        self.executor.describe(sql)
    }
}

/// The pool. Unnamed, each statement runs in a transaction of its own: sqlx parses an
/// unnamed statement in one round trip and binds it in the next, and between the two
/// a pooler in transaction mode may move us to another server connection (seen through
/// PgBouncer: SQLSTATE 26000, "unnamed prepared statement does not exist", and 08P01).
/// A transaction keeps both halves on one, for two round trips more (BEGIN, COMMIT).
impl<'c> Executor<'c> for On<&'c PgPool> {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if self.persistent {
            return self.executor.fetch_many(query);
        }
        let pool = self.executor.clone();
        Box::pin(async_stream::try_stream! {
            let mut tx = alone(&pool).await?;
            {
                let query = Query { query, persistent: false };
                let mut results = (&mut *tx).fetch_many(query);
                while let Some(result) = results.try_next().await? {
                    yield result;
                }
            }
            // Dropped before here (the request was cut off), `tx` queues a ROLLBACK.
            tx.commit().await?;
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        // Read to the end, whatever comes after the first row: the transaction commits
        // only when the stream ends (an INSERT's row must not be rolled back).
        let results = self.fetch_many(query);
        Box::pin(async move {
            let results: Vec<_> = results.try_collect().await?;
            Ok(results.into_iter().find_map(Either::right))
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, Error>>
    where
        'c: 'e,
    {
        self.executor.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Postgres>, Error>>
    where
        'c: 'e,
    {
        self.executor.describe(sql)
    }
}

/// A transaction for unnamed statements, begun in a task of its own, like the store's
/// `begin_cancel_safe`: a BEGIN dropped half way would leave the connection in a
/// transaction sqlx does not know of (sqlx#4393).
async fn alone(pool: &PgPool) -> Result<Transaction<'static, Postgres>, Error> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin().await }.in_current_span())
        .await
        .map_err(|_| Error::WorkerCrashed)?
}

/// Where one operation of several statements runs (a user's posts, then whether the
/// user exists): the pool, prepared, or, unnamed, one transaction for all of them, so
/// that they pay for one BEGIN and COMMIT, not one each (a missing user's posts: 7
/// round trips instead of 10). The store passes `&mut op` where it would pass
/// `self.on(&self.pool)`.
#[derive(Debug)]
pub(crate) enum Op<'a> {
    /// Prepared: each statement on a pooled connection, as without `Op`.
    Pool(&'a PgPool),
    /// Unnamed: a transaction, committed by [`Op::finish`], rolled back if dropped.
    Txn(Transaction<'static, Postgres>),
}

impl SqlxStore {
    /// The pool, or (unnamed) a transaction of the operation's own.
    pub(crate) async fn operation(&self) -> Result<Op<'_>, Error> {
        if self.prepared_statements {
            return Ok(Op::Pool(&self.pool));
        }
        Ok(Op::Txn(alone(&self.pool).await?))
    }
}

impl Op<'_> {
    /// The operation succeeded: COMMIT, if it has a transaction. (Dropped instead, the
    /// transaction queues a ROLLBACK, which the pool's ping sends: as many round trips.)
    pub(crate) async fn finish(self) -> Result<(), Error> {
        match self {
            Self::Pool(_) => Ok(()),
            Self::Txn(tx) => tx.commit().await,
        }
    }
}

/// Each query of the operation on the pool (prepared, as sqlx does by default), or
/// unnamed on the operation's transaction.
impl<'c> Executor<'c> for &'c mut Op<'_> {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        match self {
            Op::Pool(pool) => pool.fetch_many(query),
            Op::Txn(tx) => unnamed(tx).fetch_many(query),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        match self {
            Op::Pool(pool) => pool.fetch_optional(query),
            Op::Txn(tx) => unnamed(tx).fetch_optional(query),
        }
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, Error>>
    where
        'c: 'e,
    {
        match self {
            Op::Pool(pool) => pool.prepare_with(sql, parameters),
            Op::Txn(tx) => (&mut **tx).prepare_with(sql, parameters),
        }
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Postgres>, Error>>
    where
        'c: 'e,
    {
        match self {
            Op::Pool(pool) => pool.describe(sql),
            Op::Txn(tx) => (&mut **tx).describe(sql),
        }
    }
}

/// The transaction's connection, its statements unnamed.
fn unnamed<'c>(tx: &'c mut Transaction<'static, Postgres>) -> On<&'c mut PgConnection> {
    On {
        executor: &mut **tx,
        persistent: false,
    }
}
