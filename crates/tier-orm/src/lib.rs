//! # tier-orm: the `/users` API on SeaORM
//!
//! Tier III of the course (Python's analog: the SQLAlchemy 2.0 async ORM). We write no
//! SQL for the operations: an entity describes each table and how the tables relate,
//! and SeaORM builds each statement from method calls (`find`, `filter`, `insert`,
//! `find_both_related`). Underneath, SeaORM runs on `sqlx`, whose pool lends each
//! request a connection.
//!
//! * this file: start-up. [`connect`] creates the database if it is missing, builds the
//!   pool, and applies every file of `migrations/`, in order.
//! * [`store`]: the operations of the API, on users and on their posts, as ORM calls,
//!   and the mapping of errors.
//! * `statements`: the connection the store's ORM calls run on, whose statements are
//!   prepared and kept, or unnamed, each in a transaction (`DB_PREPARED_STATEMENTS=false`).
//! * [`entity`]: the `users` and `posts` tables as SeaORM entities, related to each
//!   other, in `sea-orm-cli`'s format.
//! * `main.rs`: the binary, one call to `users_api::run_tier`.
//!
//! Compare with `tier-raw` and `tier-sqlx`: the files are parallel, so
//! `diff crates/tier-raw/src/lib.rs crates/tier-orm/src/lib.rs` shows only what the
//! libraries make different.

pub mod entity;
mod statements;
pub mod store;

use anyhow::Context as _;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, RuntimeErr, SqlxPostgresConnector,
    Statement, TransactionTrait,
};
use secrecy::ExposeSecret;
use users_api::config::{Config, DatabaseConfig, TierInfo, quote_identifier};
use users_api::pool::{
    ACQUIRE_TIMEOUT, DEFAULT_POOL_SIZE, MAX_LIFETIME, PING_IF_IDLE_FOR, STATEMENT_TIMEOUT,
};
use users_api::pooler;
use users_api::schema::MIGRATIONS;
use users_api::sqlstate::{MissingDatabase, PoolerCannotCreateDatabase, missing_database};

pub use store::OrmStore;

/// This tier's name, default port and default pool size.
pub const TIER: TierInfo = TierInfo {
    name: "tier-orm",
    default_port: 3003,
    default_pool_size: DEFAULT_POOL_SIZE,
    has_pipeline: false,
    has_unnamed_statements: true,
};

// ANCHOR: connect
/// Creates the database if missing, builds the pool, applies every migration.
///
/// SeaORM's own way is `Database::connect(ConnectOptions)`, but that function is
/// `#[instrument(level = "trace")]` over the `ConnectOptions`, whose `Debug` prints the
/// URL with the password: at `RUST_LOG=trace` the password would be in the log. So we
/// build sqlx's pool ourselves, as tier-sqlx does, and hand it to SeaORM
/// (`from_sqlx_postgres_pool`): the same pool SeaORM would build, and no value holding
/// the URL ever enters a span.
pub async fn connect(config: &Config) -> anyhow::Result<OrmStore> {
    let options = driver_config(config)?;
    ensure_database(&config.database).await?;

    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(config.pool_size).context("DB_POOL_SIZE is too large")?)
        // sqlx's default is 30 s: through an outage every request would hang for half a
        // minute before failing. This one deadline covers all of `acquire`: waiting for
        // a free connection, opening a new one, and the liveness check below; sqlx has
        // no separate connect timeout.
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // Behind one address, a failover leaves the pool talking to the old server
        // (read-only now, or about to go): a connection is replaced after this age, so
        // the pool follows the address to the new primary within minutes.
        .max_lifetime(MAX_LIFETIME)
        // Connection checks. sqlx pings every connection as it goes back to the pool,
        // so one idle for a moment was alive a moment ago; the default
        // `test_before_acquire(true)` pings it again on the way out, 3 round trips per
        // `get` instead of 1. This pings on acquire only a connection idle for at least
        // `PING_IF_IDLE_FOR`, what SeaORM's `test_before_acquire_if_idle_for` does.
        // Measured with `cargo run -p bench --release -- --workloads get`: 3 -> 2 round
        // trips per request; docs/benchmark.md's tuning table gives the requests/s. The release
        // ping stays (no sqlx 0.9 option skips it; it makes a connection whose future was
        // dropped mid-query safe to lend again): its round trip, CPU cost and why a bigger
        // pool does not help are measured in docs/performance-sqlx-ping.md.
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
    ensure_statement_timeout(&pool, &config.database).await?;
    let db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);

    // ANCHOR: schema
    // The analog of SQLAlchemy's `create_all`: run every file of `migrations/`, in
    // order, each in its own transaction (a file either applies whole or not at all,
    // and its advisory lock is released at its COMMIT). `execute_unprepared` sends the
    // text as it is (several statements in one simple query), the way `psql -f` would.
    // SeaORM's migrator is a separate crate (`sea-orm-migration`) whose migrations are
    // Rust code; `migrations/` stays the one plain-SQL source of the schema, so we run
    // it as it is. Every file is idempotent, so running them all at each start is safe.
    for migration in MIGRATIONS {
        let context = || format!("applying migrations/{}", migration.name);
        let transaction = db.begin().await.with_context(context)?;
        transaction
            .execute_unprepared(migration.sql)
            .await
            .with_context(context)?;
        transaction.commit().await.with_context(context)?;
    }
    // ANCHOR_END: schema

    Ok(OrmStore::new(db, config.prepared_statements))
}

/// Makes the statement timeout hold behind a pooler that dropped the start-up option:
/// if a connection of `pool` does not have it, it becomes the role's default in this
/// database (`users_api::pooler` says why there, and what it cannot cover). Simple
/// queries only (`raw_sql`), nothing prepared.
pub async fn ensure_statement_timeout(
    pool: &sea_orm::sqlx::PgPool,
    database: &DatabaseConfig,
) -> anyhow::Result<()> {
    let checking = "checking statement_timeout";
    let mut connection = pool.acquire().await.context(checking)?;
    let row = sea_orm::sqlx::raw_sql(sea_orm::sqlx::AssertSqlSafe(pooler::check_sql()))
        .fetch_one(&mut *connection)
        .await
        .context(checking)?;
    let answer: Option<String> = sea_orm::sqlx::Row::try_get(&row, 0).ok();
    if pooler::timeout_in_force(answer.as_deref()).context(checking)? {
        return Ok(());
    }
    sea_orm::sqlx::raw_sql(sea_orm::sqlx::AssertSqlSafe(pooler::role_default_sql(
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
    let options = parse_url(&config.database)?
        // Sent as the connection parameter `-c statement_timeout=4000`: no extra
        // statement per connection, unlike a `SET` in an `after_connect` hook.
        .options([("statement_timeout", STATEMENT_TIMEOUT.as_millis())])
        .application_name(TIER.name);
    // sqlx logs every statement (SQL text, never the values) at DEBUG by default, under
    // the target `sqlx::query`, the same as tier-sqlx's; SeaORM's own default would be
    // INFO. `LOG_SQL=true` logs them at INFO; otherwise statement logging is off.
    Ok(if config.log_sql {
        options.log_statements(log::LevelFilter::Info)
    } else {
        options.disable_statement_logging()
    })
}

/// `database`'s URL as sqlx's options.
fn parse_url(database: &DatabaseConfig) -> anyhow::Result<PgConnectOptions> {
    database
        .url()
        .expose_secret()
        .parse()
        // The driver's parse error could quote the URL; say only which variable.
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not a valid connection string"))
}
// ANCHOR_END: connect

/// Creates the database if it does not exist yet, like the course's set-up script.
///
/// SeaORM has no helper for this: we connect to the `postgres` maintenance database
/// with the same credentials and ask the catalog ourselves.
async fn ensure_database(database: &DatabaseConfig) -> anyhow::Result<()> {
    // First the database itself: only PostgreSQL's own "no such database" (3D000)
    // means "create it"; a pooler's (PgBouncer's 08P01) means "exit, saying so".
    let probe = tokio::time::timeout(
        ACQUIRE_TIMEOUT,
        PgConnection::connect_with(&parse_url(database)?.disable_statement_logging()),
    )
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
    let options = parse_url(&database.with_database("postgres"))?.disable_statement_logging();
    // A pool of one, built the way `connect` builds the real one (see there why not
    // SeaORM's `Database::connect`).
    let admin: DatabaseConnection = SqlxPostgresConnector::from_sqlx_postgres_pool(
        PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .context("connecting to the `postgres` database")?,
    );
    // The name is a bound parameter here; only `CREATE DATABASE` below needs it spliced.
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [database.name().into()],
        ))
        .await
        .context("looking for the database")?
        .is_some();
    if !exists {
        let sql = format!("CREATE DATABASE {}", quote_identifier(database.name()));
        match admin.execute_unprepared(&sql).await {
            Ok(_) => tracing::info!(database = database.name(), "created the database"),
            // Another server created it between our two steps: fine.
            Err(err) if is_duplicate_database(&err) => {}
            Err(err) => return Err(err).context("creating the database"),
        }
    }
    admin
        .close()
        .await
        .context("closing the `postgres` connection")?;
    Ok(())
}

/// Whether `CREATE DATABASE` failed because another server created the database
/// first: PostgreSQL answers 42P04 (duplicate_database) if that CREATE had already
/// committed, and 23505 (a unique violation on the catalog's name index) if both ran
/// at the same time. The SQLSTATE sits under SeaORM's wrapper, in sqlx's error.
fn is_duplicate_database(err: &DbErr) -> bool {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(source)) => source
            .as_database_error()
            .and_then(|db| db.code())
            .is_some_and(|code| code == "42P04" || code == "23505"),
        _ => false,
    }
}
