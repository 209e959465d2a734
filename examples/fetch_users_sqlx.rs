//! Tier II, the smallest program: one `sqlx` connection, every user, as JSON.
//!
//! ```text
//! cargo run --example fetch_users_sqlx
//! ```
//!
//! It reads `DATABASE_URL` (or `DB_USER`, `DB_PASS`, `DB_HOST`, `DB_PORT`, `DB_NAME`)
//! from the environment or a `.env` file, exactly as the tier servers do. The table must
//! exist: start any tier server once (`cargo run -p tier-sqlx`), which applies the schema.
//! What you should see: one JSON object per user on standard output, then a summary
//! (which leaves out the password) on standard error:
//!
//! ```text
//! {"id":1,"name":"Ada Lovelace","email":"Ada@Example.com","created_at":"2026-11-26T05:14:52.123456Z"}
//! {"id":2,"name":"Alan Turing","email":"alan@example.com","created_at":"2026-11-26T05:15:03.004000Z"}
//! fetched 2 users from postgres://postgres@localhost:5432/users_course
//! ```
//!
//! `fetch_users_raw` and `fetch_users_orm` do the same with the other two tiers, in the
//! same four steps: `diff examples/fetch_users_raw.rs examples/fetch_users_sqlx.rs`.
//! Here the SQL is still written by hand, but `query_as!` checks it at compile time
//! against the schema (recorded in `.sqlx/` at the workspace root, so the build needs no
//! database) and writes the mapping into `UserRead` itself.

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use sqlx::{Connection as _, PgConnection};
use users_api::{Config, UserRead};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // 1. Configuration, read like the servers read it.
    let _ = dotenvy::dotenv();
    let config = Config::from_env(tier_sqlx::TIER)?;
    let url = config.database.url().expose_secret();

    // ANCHOR: connect
    // 2. One connection, no pool. sqlx drives the socket inside each call, so there is
    //    no separate connection task to spawn.
    let mut connection = PgConnection::connect(url)
        .await
        .with_context(|| format!("connecting to {}", config.database))?;
    // ANCHOR_END: connect

    // ANCHOR: fetch
    // 3. Every user: SQL checked at compile time, rows mapped by the macro.
    let users = sqlx::query_as!(
        UserRead,
        "SELECT id, name, email, created_at FROM users ORDER BY id"
    )
    .fetch_all(&mut connection)
    .await
    .context("reading users (has a tier server created the table?)")?;
    // ANCHOR_END: fetch

    // 4. One JSON object per line, then close the connection.
    for user in &users {
        println!("{}", serde_json::to_string(user)?);
    }
    eprintln!("fetched {} users from {}", users.len(), config.database);
    connection.close().await?;
    Ok(())
}
