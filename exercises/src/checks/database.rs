//! A database of its own for a check: testkit's [`TestDb`] (created from `template0`,
//! dropped when the check ends, a clear message when no PostgreSQL answers), with the
//! course's schema (`migrations/`) applied when the exercise uses `users` and `posts`.

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use testkit::TestDb;
use users_api::schema::MIGRATIONS;

/// An empty database for one check.
pub(super) async fn empty() -> TestDb {
    TestDb::create().await
}

/// A database for one check with the course's `users` and `posts` tables.
pub(super) async fn with_schema() -> anyhow::Result<TestDb> {
    let db = TestDb::create().await;
    let client = db.connect().await;
    for migration in MIGRATIONS {
        client
            .batch_execute(migration.sql)
            .await
            .with_context(|| format!("applying {}", migration.name))?;
    }
    Ok(db)
}

/// The database's URL, for the libraries under test to connect with.
pub(super) fn url(db: &TestDb) -> String {
    db.config().database.url().expose_secret().to_owned()
}

/// A small sqlx pool on the database: checks run in parallel, and PostgreSQL allows
/// 100 connections in all.
pub(super) async fn sqlx_pool(db: &TestDb) -> anyhow::Result<sqlx::PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&url(db))
        .await
        .context("connecting sqlx to the check's database")
}
