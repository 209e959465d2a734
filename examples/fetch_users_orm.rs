//! Tier III, the smallest program: SeaORM with one connection, every user, as JSON.
//!
//! ```text
//! cargo run --example fetch_users_orm
//! ```
//!
//! It reads `DATABASE_URL` (or `DB_USER`, `DB_PASS`, `DB_HOST`, `DB_PORT`, `DB_NAME`)
//! from the environment or a `.env` file, exactly as the tier servers do. The table must
//! exist: start any tier server once (`cargo run -p tier-orm`), which applies the schema.
//! What you should see: one JSON object per user on standard output, then a summary
//! (which leaves out the password) on standard error:
//!
//! ```text
//! {"id":1,"name":"Ada Lovelace","email":"Ada@Example.com","created_at":"2026-11-26T05:14:52.123456Z"}
//! {"id":2,"name":"Alan Turing","email":"alan@example.com","created_at":"2026-11-26T05:15:03.004000Z"}
//! fetched 2 users from postgres://postgres@localhost:5432/users_course
//! ```
//!
//! `fetch_users_raw` and `fetch_users_sqlx` do the same with the other two tiers, in the
//! same four steps: `diff examples/fetch_users_sqlx.rs examples/fetch_users_orm.rs`.
//! Here there is no SQL at all: the entity (`tier_orm::entity::user`) describes the
//! table, SeaORM builds the `SELECT` from method calls and decodes each row into the
//! entity's `Model`, which we copy into the API's `UserRead`.

use anyhow::Context as _;
use sea_orm::{ConnectOptions, Database, EntityTrait as _, QueryOrder as _};
use secrecy::ExposeSecret as _;
use tier_orm::entity::user;
use users_api::{Config, UserRead};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // 1. Configuration, read like the servers read it.
    let _ = dotenvy::dotenv();
    let config = Config::from_env(tier_orm::TIER)?;
    let url = config.database.url().expose_secret();

    // ANCHOR: connect
    // 2. One connection. SeaORM always talks through a pool (it wraps sqlx's), so the
    //    nearest thing to "no pool" is a pool that may open a single connection.
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .with_context(|| format!("connecting to {}", config.database))?;
    // ANCHOR_END: connect

    // ANCHOR: fetch
    // 3. Every user: no SQL, the entity builds the query and decodes each row.
    let users: Vec<UserRead> = user::Entity::find()
        .order_by_asc(user::Column::Id)
        .all(&db)
        .await
        .context("reading users (has a tier server created the table?)")?
        .into_iter()
        .map(|model| UserRead {
            id: model.id,
            name: model.name,
            email: model.email,
            created_at: model.created_at,
        })
        .collect();
    // ANCHOR_END: fetch

    // 4. One JSON object per line, then close the connection.
    for user in &users {
        println!("{}", serde_json::to_string(user)?);
    }
    eprintln!("fetched {} users from {}", users.len(), config.database);
    db.close().await?;
    Ok(())
}
