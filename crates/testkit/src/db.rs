//! The database side of a test: the PostgreSQL server the tests run against, and a
//! database of its own for each test.
//!
//! Every case gets a [`TestDb`], created empty from `template0` under a unique name and
//! dropped when the value is dropped, even when the case panicked. Tests therefore run
//! in parallel without seeing each other's rows, and leave nothing behind. The server
//! and its credentials come from `DATABASE_URL` (see [`admin_database`]); a server that
//! does not answer fails the test with instructions to start one, never a silent skip.

use secrecy::ExposeSecret;
use users_api::config::{Config, DatabaseConfig, quote_identifier};

/// Where the tests' PostgreSQL server is when neither `DATABASE_URL` nor `.env` says:
/// the one default of every program here (the tests use its server and credentials,
/// and databases of their own on it).
pub use users_api::config::DEFAULT_DATABASE_URL;

/// Pool size of a tier under test. PostgreSQL allows 100 connections by default and
/// `cargo test` runs tests in parallel: a production-sized pool of 8 per test would
/// run out of connections as the suite grows.
pub const TEST_POOL_SIZE: usize = 3;

/// The `postgres` maintenance database of the test server: the server that
/// `DATABASE_URL` (or `.env`, or the pieces) names, found as the tiers find theirs.
pub fn admin_database() -> DatabaseConfig {
    let database = users_api::config::database_from_env()
        .unwrap_or_else(|err| panic!("DATABASE_URL for the tests is unusable: {err}"));
    database.with_database("postgres")
}

/// Connects to the maintenance database, or fails the test with instructions.
pub(crate) async fn admin_client() -> tokio_postgres::Client {
    let admin = admin_database();
    let connected =
        tokio_postgres::connect(admin.url().expose_secret(), tokio_postgres::NoTls).await;
    match connected {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            client
        }
        Err(err) => panic!(
            "\n\nThe tests need PostgreSQL, and none answered at {admin}: {err}\n\
             Start one, then run the tests again:\n  \
             docker compose up -d db            (from the workspace root), or\n  \
             pg_ctlcluster 15 main start        (a Debian/Ubuntu server), or\n  \
             point DATABASE_URL at any PostgreSQL 13+ server you can create databases on,\n  \
             e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test --workspace\n"
        ),
    }
}

/// A database of its own for one test, dropped when this value is dropped.
pub struct TestDb {
    config: Config,
}

impl TestDb {
    /// Creates an empty database with a unique name. The tier under test applies the
    /// schema itself when it connects, as it does in production.
    pub async fn create() -> Self {
        let name = format!("users_test_{}", uuid::Uuid::new_v4().simple());
        let client = admin_client().await;
        // From template0: CREATE DATABASE from the default template1 fails while any
        // other session (a parallel test creating its own database) is connected to it.
        let sql = format!(
            "CREATE DATABASE {} TEMPLATE template0",
            quote_identifier(&name)
        );
        client
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|err| panic!("could not create test database {name}: {err}"));
        Self::not_yet_created(&name)
    }

    /// A database this kit does not create: the tier under test must (the check that a
    /// tier quotes the name it splices into `CREATE DATABASE`). It is dropped at the
    /// end like any other, if it exists by then.
    pub(crate) fn not_yet_created(name: &str) -> Self {
        let config = Config {
            bind_addr: "127.0.0.1:0".into(),
            database: admin_database().with_database(name),
            pool_size: TEST_POOL_SIZE,
            log_sql: false,
            prepared_statements: true,
            pipeline: users_api::PipelineConfig::default(),
            serve: users_api::config::ServeConfig::default(),
        };
        Self { config }
    }

    /// A tier configuration that points at this database.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        self.config.database.name()
    }

    /// A fresh connection to this database (not through any tier), for tests that look
    /// at the tables directly.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let url = self.config.database.url().expose_secret().to_owned();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|err| panic!("could not connect to {}: {err}", self.name()));
        tokio::spawn(connection);
        client
    }
}

impl Drop for TestDb {
    /// Drops the database, even when the test panicked. `Drop` cannot be async, so the
    /// work runs on a short-lived thread with a runtime of its own. `WITH (FORCE)`
    /// (PostgreSQL 13+) ends connections the tier's pool still holds.
    fn drop(&mut self) {
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_identifier(self.name())
        );
        let name = self.name().to_owned();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let admin = admin_database();
                let (client, connection) =
                    tokio_postgres::connect(admin.url().expose_secret(), tokio_postgres::NoTls)
                        .await
                        .map_err(std::io::Error::other)?;
                tokio::spawn(connection);
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(std::io::Error::other)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {name}: {dropped:?}");
        }
    }
}
