//! How tier-raw sends a statement: prepared and kept (the default), or unnamed
//! (`DB_PREPARED_STATEMENTS=false`, for a pooler in transaction mode).
//!
//! * prepared ([`Statements::prepared`]): `prepare_typed_cached` parses each statement once per
//!   connection under a name (`s0`, `s1`, ...) and keeps it; every later run is one
//!   round trip of Bind, Execute, Sync. The server holds the statement for as long as
//!   the connection lives.
//! * unnamed: `query_typed_raw` (tokio-postgres 0.7.11+) sends Parse
//!   into the *unnamed* statement, Bind, Describe, Execute and Sync in one burst: still
//!   one round trip, and nothing outlives the Sync. That is what PgBouncer before 1.21
//!   needs in transaction mode, where the next statement may run on another server
//!   connection, which never saw a named one. The server parses and plans every run.
//!
//! Without a Prepare the driver cannot ask the server for the parameter types, so every
//! statement states them ([`Sql::types`]); the prepared path hands the same types to
//! its Prepare, so both paths run the same typed statement and a wrong type fails in
//! either.
//!
//! The export reads in batches from a cursor ([`Cursor`]): a portal bound to a prepared
//! statement, or, unnamed, a `DECLARE ... CURSOR` read with `FETCH`. Both live inside the
//! export's transaction, which a pooler in transaction mode keeps on one connection.

use deadpool_postgres::{ClientWrapper, StatementCache, Transaction};
use futures::TryStreamExt as _;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Error, Portal, Row, RowStream};
use users_api::{StoreError, StoreResult};

use crate::store::db_error;

/// One SQL statement and the types of its parameters (`$1`, `$2`, ... in order).
pub(crate) struct Sql {
    /// The statement's text.
    pub text: &'static str,
    /// The type of each parameter.
    pub types: &'static [Type],
}

/// How the store runs its statements: prepared and kept, or unnamed (see the module
/// docs), and whether each is logged first (`LOG_SQL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Statements {
    /// Named, prepared once per connection and kept by the server; else unnamed.
    pub prepared: bool,
    /// Log each statement's SQL (never its parameters) before it runs.
    pub log_sql: bool,
}

/// Where a statement runs: a pooled connection, or a transaction on one. Either way
/// the driver's client and the pooled connection's statement cache.
pub(crate) trait Connection: Sync {
    /// The client to send on, and the cache of prepared statements.
    fn parts(&self) -> (&Client, &StatementCache);
}

impl Connection for ClientWrapper {
    fn parts(&self) -> (&Client, &StatementCache) {
        (self, &self.statement_cache)
    }
}

impl Connection for Transaction<'_> {
    fn parts(&self) -> (&Client, &StatementCache) {
        (self.client(), &self.statement_cache)
    }
}

impl Statements {
    /// From `DB_PREPARED_STATEMENTS` and `LOG_SQL`.
    pub(crate) fn new(prepared: bool, log_sql: bool) -> Self {
        Self { prepared, log_sql }
    }

    /// Logs `sql` when `LOG_SQL=true`; the parameters are never logged.
    pub(crate) fn log(self, sql: &str) {
        if self.log_sql {
            tracing::info!(target: "sql", "{sql}");
        }
    }

    /// Runs `sql` with `params`, prepared or unnamed: the one place that chooses.
    /// One round trip either way, once a prepared statement is cached.
    pub(crate) async fn query_raw(
        self,
        on: &impl Connection,
        sql: &Sql,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<RowStream, Error> {
        self.log(sql.text);
        let (client, cache) = on.parts();
        let params = params.iter().map(|param| *param as &dyn ToSql);
        if self.prepared {
            let statement = cache.prepare_typed(client, sql.text, sql.types).await?;
            client.query_raw(&statement, params).await
        } else {
            let typed = params.zip(sql.types.iter().cloned());
            client.query_typed_raw(sql.text, typed).await
        }
    }

    /// Every row of `sql`, or the driver's own error (for a caller that reads it).
    pub(crate) async fn rows(
        self,
        on: &impl Connection,
        sql: &Sql,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.query_raw(on, sql, params).await?.try_collect().await
    }

    /// Every row of `sql`.
    pub(crate) async fn query(
        self,
        on: &impl Connection,
        sql: &Sql,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        self.rows(on, sql, params).await.map_err(db_error)
    }

    /// The first row of `sql`, if any: for statements that find a row by its key.
    pub(crate) async fn query_opt(
        self,
        on: &impl Connection,
        sql: &Sql,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        Ok(self.query(on, sql, params).await?.into_iter().next())
    }

    /// The row of `sql`, which always returns one (an `INSERT ... RETURNING`).
    pub(crate) async fn query_one(
        self,
        on: &impl Connection,
        sql: &Sql,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Row> {
        let row = self.query_opt(on, sql, params).await?;
        row.ok_or_else(|| StoreError::internal("the statement returned no row"))
    }

    /// How many rows `sql` changed (a DELETE's count).
    pub(crate) async fn execute(
        self,
        on: &impl Connection,
        sql: &Sql,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<u64> {
        let rows = self.query_raw(on, sql, params).await.map_err(db_error)?;
        let mut rows = std::pin::pin!(rows);
        while rows.try_next().await.map_err(db_error)?.is_some() {}
        Ok(rows.rows_affected().unwrap_or(0))
    }

    /// Opens a cursor over `sql` (no parameters) in `tx`: a portal bound to the
    /// prepared statement, or an SQL cursor declared by an unnamed statement. One round
    /// trip either way (Bind, or the DECLARE).
    pub(crate) async fn open_cursor(
        self,
        tx: &Transaction<'_>,
        sql: &Sql,
    ) -> Result<Cursor, Error> {
        self.log(sql.text);
        if self.prepared {
            let statement = tx.prepare_typed_cached(sql.text, sql.types).await?;
            Ok(Cursor::Portal(tx.bind(&statement, &[]).await?))
        } else {
            let declare = format!("DECLARE export NO SCROLL CURSOR FOR {}", sql.text);
            tx.client().query_typed(&declare, &[]).await?;
            Ok(Cursor::Declared)
        }
    }
}

/// A cursor over one query's rows inside a transaction, read in batches: each batch is
/// a statement of its own for `statement_timeout`, so a slow reader is never cut off.
pub(crate) enum Cursor {
    /// A portal of the prepared statement, read with Execute and a row limit.
    Portal(Portal),
    /// The SQL cursor `export`, read with `FETCH n FROM export`.
    Declared,
}

impl Cursor {
    /// The next `rows` rows (fewer at the end).
    pub(crate) async fn fetch(&self, tx: &Transaction<'_>, rows: i32) -> Result<RowStream, Error> {
        match self {
            Self::Portal(portal) => tx.query_portal_raw(portal, rows).await,
            Self::Declared => {
                let fetch = format!("FETCH {rows} FROM export");
                let none: [(&(dyn ToSql + Sync), Type); 0] = [];
                tx.client().query_typed_raw(&fetch, none).await
            }
        }
    }
}
