//! # tier-sqlx: the `/users` API on sqlx's checked queries
//!
//! Tier II of the course (Python's analog: the `databases` package). We still write
//! every SQL statement by hand, but `sqlx`'s query macros check each one against the
//! schema at compile time and write the row mapping for us. `sqlx`'s own pool lends
//! each request a connection.
//!
//! * this file: start-up. [`connect`] creates the database if it is missing, builds the
//!   pool, and applies the schema of `migrations/`.
//! * [`store`]: the operations of the API (users, then their posts) as SQL, and the
//!   mapping of driver errors.
//! * `main.rs`: the binary, one call to `users_api::run_tier`.
//! * `.sqlx/` (next to `Cargo.toml`): what the macros learned from the database, one
//!   JSON file per query, committed so that the build needs no database
//!   (`SQLX_OFFLINE=true` in `.cargo/config.toml`). `scripts/sqlx-prepare.sh`
//!   regenerates it after a query changes, and `--check` fails when it is stale.
//!
//! Compare with `tier-raw` and `tier-orm`: the files are parallel, so
//! `diff crates/tier-raw/src/lib.rs crates/tier-sqlx/src/lib.rs` shows only what the
//! libraries make different.

mod statements;
pub mod store;

use anyhow::Context as _;
use secrecy::ExposeSecret;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection as _, PgConnection, Postgres};
use users_api::config::{Config, DatabaseConfig, TierInfo};
use users_api::pool::{
    ACQUIRE_TIMEOUT, DEFAULT_POOL_SIZE, MAX_LIFETIME, PING_IF_IDLE_FOR, STATEMENT_TIMEOUT,
};
use users_api::pooler;
use users_api::schema::MIGRATIONS;
use users_api::sqlstate::{MissingDatabase, PoolerCannotCreateDatabase, missing_database};

pub use store::SqlxStore;

/// This tier's name, default port and default pool size.
pub const TIER: TierInfo = TierInfo {
    name: "tier-sqlx",
    default_port: 3002,
    default_pool_size: DEFAULT_POOL_SIZE,
    has_pipeline: false,
    has_unnamed_statements: true,
};

// ANCHOR: connect
/// Creates the database if missing, builds the pool, applies the schema.
pub async fn connect(config: &Config) -> anyhow::Result<SqlxStore> {
    let options = driver_config(config)?;
    ensure_database(&config.database).await?;

    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(config.pool_size).context("DB_POOL_SIZE is too large")?)
        // sqlx's default is 30 s: through an outage every request would hang for half a
        // minute before failing. This one deadline covers all of `acquire`: waiting for
        // a free connection, opening a new one (sqlx keeps retrying a refused connection
        // until the deadline), and the liveness check below.
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // Replace connections by age, so a failover behind one address is followed
        // within minutes (see `MAX_LIFETIME`; sqlx's default is 30 minutes).
        .max_lifetime(MAX_LIFETIME)
        // Connection checks. sqlx already pings every connection as it goes back to the
        // pool (a Sync on release, which it does not let us turn off), so a connection
        // that was idle for a moment was alive a moment ago. Its default
        // `test_before_acquire(true)` pings it a second time on the way out: 3 round
        // trips per `get` instead of 1. We ping on acquire only a connection that sat
        // idle for at least `PING_IF_IDLE_FOR`, which is what SeaORM's
        // `test_before_acquire_if_idle_for` does for tier-orm. Measured with
        // `cargo run -p bench --release -- --workloads get`: 3 -> 2 round trips per
        // request; docs/benchmark.md's tuning table gives the requests/s. The release ping stays:
        // no sqlx 0.9 option skips it, and it makes a connection whose future our deadline
        // dropped mid-query safe to lend again. It costs the second round trip of a `get`,
        // a quarter to a third of this tier's and PostgreSQL's CPU per request; a bigger pool
        // does not help (docs/performance-sqlx-ping.md has the measurements).
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    // An error closes this connection; `acquire` takes or opens another.
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
        // Opens one connection now, so a wrong address or password fails at start-up.
        .connect_with(options)
        .await
        .context("connecting to the database")?;

    // ANCHOR: schema
    // The analog of SQLAlchemy's `create_all`: `migrate!` embeds `migrations/` in the
    // binary at compile time, and `run` applies every migration this database has not
    // seen yet, each in a transaction, under an advisory lock. sqlx records each one
    // with a checksum in `_sqlx_migrations`: editing a migration that already ran makes
    // the next start-up fail, so a schema change is a new file.
    if config.prepared_statements {
        // ANCHOR: migrate
        sqlx::migrate!("../../migrations")
            .run(&pool)
            .await
            .context("applying the schema")?;
        // ANCHOR_END: migrate
    } else {
        // Behind a pooler in transaction mode (`DB_PREPARED_STATEMENTS=false`) the
        // migrator cannot work: it names its statements and holds a session-level
        // advisory lock, and the pooler may run its next statement on another server
        // connection. Every file is idempotent and takes its own transaction-level lock
        // (`users_api::schema`), so it runs as tier-raw runs it: each file in a
        // transaction, as one simple query, nothing named (sqlx records it next time it
        // starts without a pooler).
        for migration in MIGRATIONS {
            let applying = || format!("applying migrations/{}", migration.name);
            let mut tx = pool.begin().await.with_context(applying)?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(migration.sql))
                .execute(&mut *tx)
                .await
                .with_context(applying)?;
            tx.commit().await.with_context(applying)?;
        }
    }
    ensure_statement_timeout(&pool, &config.database).await?;
    // ANCHOR_END: schema

    Ok(SqlxStore::new(pool, config.prepared_statements))
}

/// Makes the statement timeout hold behind a pooler that dropped the start-up option:
/// if a connection of `pool` does not have it, it becomes the role's default in this
/// database (`users_api::pooler` says why there, and what it cannot cover). Simple
/// queries only (`raw_sql`), nothing prepared.
pub async fn ensure_statement_timeout(
    pool: &sqlx::PgPool,
    database: &DatabaseConfig,
) -> anyhow::Result<()> {
    let checking = "checking statement_timeout";
    let mut connection = pool.acquire().await.context(checking)?;
    let row = sqlx::raw_sql(sqlx::AssertSqlSafe(pooler::check_sql()))
        .fetch_one(&mut *connection)
        .await
        .context(checking)?;
    let answer: Option<String> = sqlx::Row::try_get(&row, 0).ok();
    if pooler::timeout_in_force(answer.as_deref()).context(checking)? {
        return Ok(());
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(pooler::role_default_sql(
        database.name(),
    )))
    .execute(&mut *connection)
    .await
    .context("setting statement_timeout as the role's default")?;
    pooler::log_role_default_set(database);
    Ok(())
}

/// The driver's configuration: the URL, plus a statement timeout and an application
/// name (shown in `pg_stat_activity`) sent as connection parameters, and statement
/// logging. Its `Debug` output shows the password: never log it.
fn driver_config(config: &Config) -> anyhow::Result<PgConnectOptions> {
    let options: PgConnectOptions = config
        .database
        .url()
        .expose_secret()
        .parse()
        // The driver's parse error could quote the URL; say only which variable.
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not a valid connection string"))?;
    let options = options
        // sqlx escapes the value and sends it as `-c statement_timeout=4000`.
        .options([("statement_timeout", STATEMENT_TIMEOUT.as_millis())])
        .application_name(TIER.name);
    // sqlx logs every statement at DEBUG by default (and a slow one at WARN), through
    // `tracing` under the target `sqlx::query`. `LOG_SQL=true` raises it to INFO, so the
    // default `RUST_LOG=info` shows it; otherwise all statement logging is off.
    Ok(if config.log_sql {
        options.log_statements(log::LevelFilter::Info)
    } else {
        options.disable_statement_logging()
    })
}
// ANCHOR_END: connect

/// Creates the database if it does not exist yet, like the course's set-up script.
///
/// `MigrateDatabase` is sqlx's own helper for this (what `sqlx database create` runs):
/// it connects to the `postgres` maintenance database with the same credentials.
async fn ensure_database(database: &DatabaseConfig) -> anyhow::Result<()> {
    let url = database.url().expose_secret();
    // First the database itself: only PostgreSQL's own "no such database" (3D000)
    // means "create it"; a pooler's (PgBouncer's 08P01) means "exit, saying so".
    // These helpers open a plain connection, outside any pool: bound the wait ourselves.
    let probe = tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect(url))
        .await
        .context("connecting to the database")?;
    let err = match probe {
        Ok(connection) => {
            let _ = connection.close().await;
            return Ok(());
        }
        Err(err) => err,
    };
    let missing = err
        .as_database_error()
        .and_then(|db| missing_database(&db.code()?, db.message()));
    match missing {
        Some(MissingDatabase::OnServer) => {}
        Some(MissingDatabase::BehindPooler) => {
            return Err(PoolerCannotCreateDatabase::new(database).into());
        }
        None => return Err(err).context("connecting to the database"),
    }
    let exists = tokio::time::timeout(ACQUIRE_TIMEOUT, Postgres::database_exists(url))
        .await
        .context("connecting to the `postgres` database")?
        .context("connecting to the `postgres` database")?;
    if exists {
        return Ok(());
    }
    match Postgres::create_database(url).await {
        Ok(()) => tracing::info!(database = database.name(), "created the database"),
        // Another server created it between our two steps: fine. PostgreSQL answers
        // 42P04 (duplicate_database) if that CREATE had already committed, and 23505 (a
        // unique violation on the catalog's name index) if both ran at the same time.
        Err(sqlx::Error::Database(err))
            if matches!(err.code().as_deref(), Some("42P04" | "23505")) => {}
        Err(err) => return Err(err).context("creating the database"),
    }
    Ok(())
}
