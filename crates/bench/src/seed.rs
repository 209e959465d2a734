//! The bench database: dropped, recreated, and filled with N users at every run.
//!
//! A dedicated database (`users_bench` by default) means a run never touches the
//! course's data, and every run starts from the same state. The rows are made by the
//! server itself with `INSERT ... SELECT ... FROM generate_series(1, N)`: one
//! statement, no data crosses the network, a million rows in seconds. (COPY would
//! be the tool for data that comes from outside.)
//!
//! The ids of a fresh identity column are exactly 1..=N, which is what lets the load
//! generator pick a random existing id without asking the database.

use anyhow::Context as _;
use secrecy::ExposeSecret;
use tokio_postgres::{Client, NoTls};
use users_api::schema::SCHEMA_SQL;
use users_api::{DatabaseConfig, quote_identifier};

/// Connects with `tokio-postgres` and drives the connection on a task of its own.
pub async fn connect(db: &DatabaseConfig) -> anyhow::Result<Client> {
    let config: tokio_postgres::Config = db
        .url()
        .expose_secret()
        .parse()
        // The driver's message could quote the URL, password included: say less.
        .map_err(|_| anyhow::anyhow!("the database URL does not parse"))?;
    let (client, connection) = config.connect(NoTls).await.with_context(|| {
        format!(
            "connecting to {db} (is PostgreSQL running? `pg_ctlcluster 15 main start` \
             or `docker compose up -d`)"
        )
    })?;
    // The `Connection` half does the I/O; it must be polled for the client to work.
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            eprintln!("bench: database connection ended: {err}");
        }
    });
    Ok(client)
}

/// Drops `db` if it exists (disconnecting anyone still on it) and creates it empty.
pub async fn recreate_database(admin: &Client, db: &DatabaseConfig) -> anyhow::Result<()> {
    let name = quote_identifier(db.name());
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .with_context(|| format!("dropping {name}"))?;
    // template0, not template1: a concurrent session on template1 (a test suite
    // creating its own databases) would make CREATE DATABASE fail.
    admin
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
        .await
        .with_context(|| format!("creating {name}"))?;
    Ok(())
}

/// Drops `db` at the end of a run.
pub async fn drop_database(admin: &Client, db: &DatabaseConfig) -> anyhow::Result<()> {
    let name = quote_identifier(db.name());
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .with_context(|| format!("dropping {name}"))
}

/// Applies the schema of `migrations/` and inserts `rows` users with ids 1..=rows,
/// then VACUUM ANALYZE so the planner knows the table's size from the first query.
pub async fn seed(client: &Client, rows: u64) -> anyhow::Result<()> {
    client
        .batch_execute(&format!("BEGIN; {SCHEMA_SQL}; COMMIT;"))
        .await
        .context("applying the schema")?;
    let rows = i64::try_from(rows).context("too many rows")?;
    client
        .execute(
            "INSERT INTO users (name, email) \
             SELECT 'User ' || g, 'user' || g || '@example.com' \
             FROM generate_series(1, $1::bigint) AS g",
            &[&rows],
        )
        .await
        .context("inserting the users")?;
    client
        .batch_execute("VACUUM ANALYZE users")
        .await
        .context("VACUUM ANALYZE users")?;
    Ok(())
}

/// Puts the table back to its seeded size after a workload that creates users, so
/// every run of every tier reads the same table. Updated names are left as they are:
/// they change no size.
pub async fn tidy(client: &Client, rows: u64) -> anyhow::Result<()> {
    let rows = i64::try_from(rows).context("too many rows")?;
    client
        .execute("DELETE FROM users WHERE id > $1", &[&rows])
        .await
        .context("deleting the created users")?;
    // Reclaims the dead rows the writes left, so the next run does not pay for them.
    client
        .batch_execute("VACUUM users")
        .await
        .context("VACUUM users")?;
    Ok(())
}

/// The server's `SELECT version()`.
pub async fn server_version(client: &Client) -> anyhow::Result<String> {
    let row = client.query_one("SELECT version()", &[]).await?;
    Ok(row.try_get(0)?)
}
