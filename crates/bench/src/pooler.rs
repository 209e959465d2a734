//! Where a tier row connects: straight to the bench database, or through a PgBouncer
//! of its own ([`Upstream`]), for `--pooler`'s rows ([`crate::cli::Route`]).
//!
//! The PgBouncer is `testkit::pgbouncer::PgBouncer`, the one the conformance suite
//! runs through: Debian's 1.18 in transaction mode, configured by the committed
//! template `deploy/pgbouncer/pgbouncer.ini` (the file `docker compose --profile
//! scale` runs), on a free port. It is started with the tier and stopped after it, so
//! each row and round starts from the same cold pooler, and its processes are ours
//! alone to measure ([`crate::server_cpu`]).
//!
//! The counting proxy ([`crate::wire_cost`]) sits between the tier and PgBouncer,
//! where it sits between the tier and PostgreSQL for a direct row: it counts the round
//! trips a request waits for, in the same place for all three rows. (Between PgBouncer
//! and PostgreSQL it would see the same statements, which PgBouncer forwards as they
//! come, but not the hop the tier waits through; and `testkit`'s PgBouncer takes its
//! upstream from `DATABASE_URL`, so it has no place for a proxy there.)
//!
//! Its pool (`default_pool_size`) is the tier's own pool size: PostgreSQL then sees as
//! many server connections as it does from the tier directly, and what the row
//! measures is the pooler in the path, not a smaller pool behind it.

use anyhow::Context as _;
use testkit::pgbouncer::PgBouncer;
use users_api::DatabaseConfig;

use crate::cli::{Route, TierSpec};

/// The database a tier row connects to, and the PgBouncer in between if it has one.
pub struct Upstream {
    database: DatabaseConfig,
    pgbouncer: Option<PgBouncer>,
}

impl Upstream {
    /// The bench database `bench_db` as `spec` reaches it; `env` is the environment
    /// every tier gets (`--env`), for the pool size.
    pub async fn start(
        spec: &TierSpec,
        bench_db: &DatabaseConfig,
        env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        if spec.route == Route::Direct {
            return Ok(Self {
                database: bench_db.clone(),
                pgbouncer: None,
            });
        }
        let pool_size = pool_size(spec, env)?;
        let server = (bench_db.host().to_owned(), bench_db.port());
        // PgBouncer::start blocks (it polls the port) and panics when it cannot start
        // (saying how to install pgbouncer): both stay on a blocking thread, and a
        // panic becomes an error, so the run goes on with the other rows.
        let pgbouncer = tokio::task::spawn_blocking(move || {
            let upstream = testkit::admin_database();
            anyhow::ensure!(
                (upstream.host(), upstream.port()) == (server.0.as_str(), server.1),
                "--pooler starts PgBouncer in front of the server of DATABASE_URL \
                 ({}:{}), but the bench database is on {}:{}: give DATABASE_URL rather \
                 than --database-url",
                upstream.host(),
                upstream.port(),
                server.0,
                server.1
            );
            Ok(PgBouncer::start(pool_size))
        })
        .await
        .map_err(|err| match err.try_into_panic() {
            Ok(panic) => anyhow::anyhow!("PgBouncer did not start: {}", panic_text(&*panic)),
            Err(err) => anyhow::anyhow!("PgBouncer did not start: {err}"),
        })??;
        Ok(Self {
            database: pgbouncer.database_through(bench_db),
            pgbouncer: Some(pgbouncer),
        })
    }

    /// The database as the tier should reach it.
    pub fn database(&self) -> &DatabaseConfig {
        &self.database
    }

    /// `host:port` of what the tier connects to (PostgreSQL or PgBouncer), for the
    /// counting proxy to sit in front of.
    pub fn address(&self) -> String {
        format!("{}:{}", self.database.host(), self.database.port())
    }

    /// Whether there is a PgBouncer in the path.
    pub fn pooled(&self) -> bool {
        self.pgbouncer.is_some()
    }

    /// The last lines PgBouncer logged (empty without one), to explain a failure.
    pub fn log_tail(&self) -> String {
        let Some(pgbouncer) = &self.pgbouncer else {
            return String::new();
        };
        let log = pgbouncer.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Stops the PgBouncer, if any (its drop waits for it on a blocking thread).
    pub async fn stop(self) {
        if let Some(pgbouncer) = self.pgbouncer {
            let _ = tokio::task::spawn_blocking(move || drop(pgbouncer)).await;
        }
    }
}

/// The tier's pool size: `DB_POOL_SIZE` as the tier will read it (the bench's `--env`
/// is set after the row's own, so it wins), else the tiers' shared default.
pub fn pool_size(spec: &TierSpec, env: &[(String, String)]) -> anyhow::Result<usize> {
    let given = spec
        .env
        .iter()
        .chain(env)
        .rev()
        .find(|(key, _)| key == "DB_POOL_SIZE");
    match given {
        None => Ok(users_api::pool::DEFAULT_POOL_SIZE),
        Some((_, value)) => value
            .trim()
            .parse()
            .ok()
            .filter(|size| *size > 0)
            .with_context(|| format!("DB_POOL_SIZE={value:?} is not a pool size")),
    }
}

/// The message of a panic's payload.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".to_owned())
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::TierKind;

    #[test]
    fn pgbouncer_pools_as_many_connections_as_the_tier() {
        let [_, _, pooled] = TierKind::Sqlx.pooler_rows();
        assert_eq!(
            pool_size(&pooled, &[]).unwrap(),
            users_api::pool::DEFAULT_POOL_SIZE
        );
        let env = [("DB_POOL_SIZE".to_owned(), "12".to_owned())];
        assert_eq!(pool_size(&pooled, &env).unwrap(), 12);
        let mut own = pooled.clone();
        own.env.push(("DB_POOL_SIZE".into(), "4".into()));
        assert_eq!(pool_size(&own, &[]).unwrap(), 4);
        // --env wins over the row's own, as in the tier's environment.
        assert_eq!(pool_size(&own, &env).unwrap(), 12);
        let bad = [("DB_POOL_SIZE".to_owned(), "0".to_owned())];
        assert!(pool_size(&pooled, &bad).is_err());
    }

    #[test]
    fn a_panic_becomes_its_message() {
        let owned: Box<dyn std::any::Any + Send> = Box::new(String::from("\n\nno pgbouncer\n"));
        assert_eq!(panic_text(&*owned), "no pgbouncer");
        let fixed: Box<dyn std::any::Any + Send> = Box::new("fixed");
        assert_eq!(panic_text(&*fixed), "fixed");
    }

    #[tokio::test]
    async fn a_direct_row_connects_straight_to_the_database() {
        let [named, unnamed, _] = TierKind::Raw.pooler_rows();
        let db = DatabaseConfig::parse("postgres://postgres@127.0.0.1:5432/users_bench").unwrap();
        for spec in [named, unnamed] {
            let upstream = Upstream::start(&spec, &db, &[]).await.unwrap();
            assert!(!upstream.pooled());
            assert_eq!(upstream.address(), "127.0.0.1:5432");
            assert_eq!(upstream.database().name(), "users_bench");
            assert_eq!(upstream.log_tail(), "");
            upstream.stop().await;
        }
    }

    /// A real PgBouncer: started for the pooled row, reachable, its process counted as
    /// ours, and gone once stopped. Needs PostgreSQL and pgbouncer, like the suites.
    #[tokio::test]
    async fn a_pooled_row_gets_a_pgbouncer_of_its_own() {
        let [_, _, pooled] = TierKind::Raw.pooler_rows();
        let server = testkit::admin_database();
        let upstream = Upstream::start(&pooled, &server, &[]).await.unwrap();
        assert!(upstream.pooled());
        assert_ne!(upstream.database().port(), server.port());
        let url = upstream.database().url().clone();
        let (client, connection) = tokio_postgres::connect(
            secrecy::ExposeSecret::expose_secret(&url),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap_or_else(|err| panic!("through PgBouncer: {err}\n{}", upstream.log_tail()));
        let task = tokio::spawn(connection);
        let rows = client.simple_query("SELECT 1").await.unwrap();
        assert!(!rows.is_empty());
        let cpu = crate::server_cpu::ServerCpu::now().unwrap();
        assert_eq!(cpu.pgbouncer.len(), 1, "our PgBouncer, and only ours");
        assert!(!cpu.postgres.is_empty(), "PostgreSQL runs on this machine");
        drop(client);
        let _ = task.await;
        upstream.stop().await;
        let after = crate::server_cpu::ServerCpu::now().unwrap();
        assert!(after.pgbouncer.is_empty(), "PgBouncer stopped with its row");
    }
}
