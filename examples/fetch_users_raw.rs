//! Tier I, the smallest program: one `tokio-postgres` connection, every user, as JSON.
//!
//! ```text
//! cargo run --example fetch_users_raw
//! ```
//!
//! It reads `DATABASE_URL` (or `DB_USER`, `DB_PASS`, `DB_HOST`, `DB_PORT`, `DB_NAME`)
//! from the environment or a `.env` file, exactly as the tier servers do. The table must
//! exist: start any tier server once (`cargo run -p tier-raw`), which applies the schema.
//! What you should see: one JSON object per user on standard output, then a summary
//! (which leaves out the password) on standard error:
//!
//! ```text
//! {"id":1,"name":"Ada Lovelace","email":"Ada@Example.com","created_at":"2026-11-26T05:14:52.123456Z"}
//! {"id":2,"name":"Alan Turing","email":"alan@example.com","created_at":"2026-11-26T05:15:03.004000Z"}
//! fetched 2 users from postgres://postgres@localhost:5432/users_course
//! ```
//!
//! `fetch_users_sqlx` and `fetch_users_orm` do the same with the other two tiers, in the
//! same four steps: `diff examples/fetch_users_raw.rs examples/fetch_users_sqlx.rs`.
//! Here the SQL is a string the compiler never looks at, and each column is mapped by
//! hand, by name: a typo in either compiles and fails at run time.

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use tokio_postgres::NoTls;
use users_api::{Config, UserRead};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // 1. Configuration, read like the servers read it.
    let _ = dotenvy::dotenv();
    let config = Config::from_env(tier_raw::TIER)?;
    let url = config.database.url().expose_secret();

    // ANCHOR: connect
    // 2. One connection, no pool. The `connection` half does the socket I/O and must be
    //    polled, so it runs as a task of its own; `client` sends it the queries.
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to {}", config.database))?;
    let connection = tokio::spawn(connection);
    // ANCHOR_END: connect

    // ANCHOR: fetch
    // ANCHOR: query
    // 3. Every user: plain SQL, each column mapped by hand.
    let rows = client
        .query(
            "SELECT id, name, email, created_at FROM users ORDER BY id",
            &[],
        )
        .await
        .context("reading users (has a tier server created the table?)")?;
    // ANCHOR_END: query
    // ANCHOR: map_rows
    let users = rows
        .iter()
        .map(|row| {
            Ok(UserRead {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                email: row.try_get("email")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect::<Result<Vec<UserRead>, tokio_postgres::Error>>()?;
    // ANCHOR_END: map_rows
    // ANCHOR_END: fetch

    // 4. One JSON object per line, then close the connection.
    for user in &users {
        println!("{}", serde_json::to_string(user)?);
    }
    eprintln!("fetched {} users from {}", users.len(), config.database);
    drop(client);
    connection.await??;
    Ok(())
}
