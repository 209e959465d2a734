//! # tier-raw: the `/users` API on a raw driver
//!
//! Tier I of the course (Python's analog: asyncpg). We talk to PostgreSQL through
//! `tokio-postgres`, write every SQL statement by hand, and map every row to a struct
//! by hand. `deadpool-postgres` lends each request a connection from a pool.
//!
//! * this file: start-up. [`connect`] creates the database if it is missing, builds the
//!   pool, and applies every file of `migrations/`, in order.
//! * [`store`]: the operations of the API as SQL (users, then their posts), and the
//!   mapping of driver errors.
//! * `statements`: how a statement is sent, prepared and kept or unnamed
//!   (`DB_PREPARED_STATEMENTS`), chosen in one place.
//! * [`pipelined`]: the same store with reads on shared, pipelined clients (`DB_PIPELINE`).
//! * `main.rs`: the binary: reads the configuration, picks the store, and hands its
//!   `connect` to `users_api::serve_tier`.
//!
//! Compare with `tier-sqlx` and `tier-orm`: the files are parallel, so
//! `diff crates/tier-raw/src/lib.rs crates/tier-sqlx/src/lib.rs` shows only what the
//! libraries make different.

pub mod pipelined;
mod statements;
pub mod store;

use std::time::Duration;

use anyhow::Context as _;
use deadpool_postgres::Object;
use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use secrecy::ExposeSecret;
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, SimpleQueryMessage};
use users_api::config::{Config, DatabaseConfig, TierInfo, quote_identifier};
use users_api::pool::{ACQUIRE_TIMEOUT, DEFAULT_POOL_SIZE, MAX_LIFETIME, STATEMENT_TIMEOUT};
use users_api::pooler;
use users_api::schema::MIGRATIONS;
use users_api::sqlstate::{MissingDatabase, PoolerCannotCreateDatabase, missing_database};

pub use pipelined::{PipelinedStore, connect_pipelined};
pub use store::RawStore;

/// This tier's name, default port and default pool size.
pub const TIER: TierInfo = TierInfo {
    name: "tier-raw",
    default_port: 3001,
    default_pool_size: DEFAULT_POOL_SIZE,
    has_pipeline: true,
    has_unnamed_statements: true,
};

// ANCHOR: connect
/// Creates the database if missing, builds the pool, applies every migration.
pub async fn connect(config: &Config) -> anyhow::Result<RawStore> {
    let pg_config = driver_config(&config.database)?;
    ensure_database(&config.database, &pg_config).await?;

    // `Fast` recycling trusts a returned connection unless the driver already saw it
    // close; `Verified` would run a query (one more round trip) on every checkout.
    // A connection that died meanwhile fails its query, and the store answers 503.
    let manager = Manager::from_config(
        pg_config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    // deadpool has no timeouts unless asked, and with none a request waits forever on
    // an exhausted pool. Timeouts need a runtime to be named, else `NoRuntimeSpecified`.
    let pool = Pool::builder(manager)
        .max_size(config.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(ACQUIRE_TIMEOUT))
        .create_timeout(Some(ACQUIRE_TIMEOUT))
        .recycle_timeout(Some(ACQUIRE_TIMEOUT))
        // deadpool has no maximum lifetime: this hook, run before a connection is lent
        // out again, refuses one older than `MAX_LIFETIME`, which closes it, and the
        // pool opens a new one. So a failover behind one address is followed within
        // minutes (see `MAX_LIFETIME`).
        .pre_recycle(Hook::sync_fn(|_, metrics| {
            if metrics.age() > MAX_LIFETIME {
                Err(HookError::message("older than MAX_LIFETIME"))
            } else {
                Ok(())
            }
        }))
        .build()
        .context("building the connection pool")?;

    // ANCHOR: schema
    // The analog of SQLAlchemy's `create_all`: run every file of `migrations/`, in
    // order, each in a transaction of its own (as `sqlx::migrate!` does in tier II).
    // A file's advisory lock is released at its COMMIT, and a file that fails leaves
    // the ones before it applied. The files are idempotent, so this runs at every
    // start-up. `batch_execute` sends a file's text as it is (several statements in one
    // simple query), the way `psql -f` would.
    let mut client = pool.get().await.context("connecting to the database")?;
    for migration in MIGRATIONS {
        let applying = || format!("applying migrations/{}", migration.name);
        let transaction = client.transaction().await.with_context(applying)?;
        transaction
            .batch_execute(migration.sql)
            .await
            .with_context(applying)?;
        transaction.commit().await.with_context(applying)?;
    }
    ensure_statement_timeout(&client, &config.database).await?;
    drop(client);
    // ANCHOR_END: schema

    Ok(RawStore::new(
        pool,
        config.log_sql,
        config.prepared_statements,
    ))
}

/// The driver's configuration: the URL, plus a statement timeout and an application
/// name (shown in `pg_stat_activity`) sent as connection parameters.
pub(crate) fn driver_config(database: &DatabaseConfig) -> anyhow::Result<tokio_postgres::Config> {
    let mut pg_config: tokio_postgres::Config = database
        .url()
        .expose_secret()
        .parse()
        // The driver's parse error could quote the URL; say only which variable.
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not a valid connection string"))?;
    pg_config
        .options(format!(
            "-c statement_timeout={}",
            STATEMENT_TIMEOUT.as_millis()
        ))
        .application_name(TIER.name)
        .connect_timeout(ACQUIRE_TIMEOUT);
    // A partition leaves a connection open and silent. The kernel finds it dead: by
    // keepalive probes when it is idle, by unacknowledged data when a query was sent.
    // It then fails, the driver marks it closed, and deadpool stops lending it out.
    // (Answering the request in time is the operation deadline's job, not these.)
    use users_api::pool as p;
    pg_config
        .keepalives(true)
        .keepalives_idle(p::TCP_KEEPALIVE_IDLE)
        .keepalives_interval(p::TCP_KEEPALIVE_INTERVAL)
        .keepalives_retries(p::TCP_KEEPALIVE_RETRIES)
        .tcp_user_timeout(p::TCP_USER_TIMEOUT);
    Ok(pg_config)
}

/// Makes the statement timeout hold behind a pooler that dropped the start-up option:
/// if this connection does not have it, it becomes the role's default in this database
/// (`users_api::pooler` says why there, and what it cannot cover). Simple queries only.
pub async fn ensure_statement_timeout(
    client: &tokio_postgres::Client,
    database: &DatabaseConfig,
) -> anyhow::Result<()> {
    let checking = "checking statement_timeout";
    let messages = client
        .simple_query(&pooler::check_sql())
        .await
        .context(checking)?;
    let answer = messages.iter().find_map(|message| match message {
        SimpleQueryMessage::Row(row) => row.get(0),
        _ => None,
    });
    if pooler::timeout_in_force(answer).context(checking)? {
        return Ok(());
    }
    client
        .batch_execute(&pooler::role_default_sql(database.name()))
        .await
        .context("setting statement_timeout as the role's default")?;
    pooler::log_role_default_set(database);
    Ok(())
}

/// How long a connection left by a cut-off operation gets to prove itself idle and
/// alive (one empty query, answered after whatever it still owes) before it is closed.
const ABANDONED_CHECK: Duration = Duration::from_secs(1);

/// What becomes of a pooled connection whose operation did not finish with it
/// (`users_api::deadline::Lease`): its deadline passed, its client hung up, or it
/// returned early with an error. A query of it may still be in flight, or lost in a
/// partition, so it goes back to the pool only once a round trip comes back within
/// [`ABANDONED_CHECK`]. Otherwise it is taken out of the pool (`Object::take`: the pool
/// may open another, and dropping the client closes this one) and its query cancelled,
/// with a cancel request on a connection of its own (bounded by `connect_timeout`).
pub(crate) fn abandon(client: Object) {
    // Without a runtime (the process is exiting) there is nothing to check with.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        drop(Object::take(client));
        return;
    };
    runtime.spawn(async move {
        let check = tokio::time::timeout(ABANDONED_CHECK, client.simple_query("")).await;
        if matches!(check, Ok(Ok(_))) {
            return; // `client` drops here, back to the pool: idle, and answering
        }
        let cancel = client.cancel_token();
        drop(Object::take(client));
        if let Err(err) = cancel.cancel_query(NoTls).await {
            tracing::debug!(error = %err, "cancelling an abandoned connection's query");
        }
    });
}
// ANCHOR_END: connect

/// Creates the database if it does not exist yet, like the course's set-up script.
async fn ensure_database(
    database: &DatabaseConfig,
    pg_config: &tokio_postgres::Config,
) -> anyhow::Result<()> {
    let err = match pg_config.connect(NoTls).await {
        Ok(_) => return Ok(()),
        Err(err) => err,
    };
    // Only PostgreSQL's own "no such database" (3D000) means "create it"; a pooler's
    // (PgBouncer's 08P01) means "exit, saying so": it cannot create one.
    let missing = err
        .as_db_error()
        .and_then(|db| missing_database(db.code().code(), db.message()));
    match missing {
        Some(MissingDatabase::OnServer) => {}
        Some(MissingDatabase::BehindPooler) => {
            return Err(PoolerCannotCreateDatabase::new(database).into());
        }
        None => return Err(err).context("connecting to the database"),
    }
    // Connect to the `postgres` maintenance database with the same credentials.
    let mut admin_config = pg_config.clone();
    admin_config.dbname("postgres");
    let (client, connection) = admin_config
        .connect(NoTls)
        .await
        .context("connecting to the `postgres` database")?;
    // The connection object does the actual I/O: it must be polled, so it gets a task.
    let connection = tokio::spawn(connection);
    let sql = format!("CREATE DATABASE {}", quote_identifier(database.name()));
    match client.batch_execute(&sql).await {
        Ok(()) => tracing::info!(database = database.name(), "created the database"),
        // Another server created it between our two steps: fine. PostgreSQL answers
        // 42P04 (duplicate_database) if that CREATE had already committed, and 23505 (a
        // unique violation on the catalog's name index) if both ran at the same time.
        Err(err)
            if err.code() == Some(&SqlState::DUPLICATE_DATABASE)
                || err.code() == Some(&SqlState::UNIQUE_VIOLATION) => {}
        Err(err) => return Err(err).context("creating the database"),
    }
    drop(client);
    let _ = connection.await;
    Ok(())
}
