//! The bench database: dropped, recreated, and filled with N users and their posts at
//! every run.
//!
//! A dedicated database (`users_bench` by default) means a run never touches the
//! course's data, and every run starts from the same state. The rows are made by the
//! server itself with `INSERT ... SELECT ... FROM generate_series(1, N)`: one
//! statement per table, no data crosses the network, a million rows in seconds. (COPY
//! would be the tool for data that comes from outside.)
//!
//! The ids of a fresh identity column are exactly 1..=N, which is what lets the load
//! generator pick a random existing id without asking the database ([`Seeded`] is all
//! it needs to know). Posts are dealt out to the users in turn, like cards: post `g`
//! belongs to user `(g - 1) % users + 1`, so consecutive posts have different authors,
//! as on a site where many people write, and a page of 50 posts embeds 50 different
//! authors: the honest case for a join, and the worst one for an N+1 loop.

use anyhow::Context as _;
use secrecy::ExposeSecret;
use tokio_postgres::{Client, NoTls};
use users_api::schema::MIGRATIONS;
use users_api::{DatabaseConfig, quote_identifier};

/// What the bench database holds once seeded: users with ids `1..=users`, and
/// `posts_per_user` posts each, with ids `1..=posts()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    /// Users, ids 1..=users.
    pub users: u64,
    /// Posts per user.
    pub posts_per_user: u64,
}

impl Seeded {
    /// Posts in all, ids 1..=posts.
    pub fn posts(self) -> u64 {
        self.users.saturating_mul(self.posts_per_user)
    }
}

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

/// Applies every file of `migrations/` in order (each in a transaction, as tier-raw
/// does at start-up), inserts `seeded.users` users and `seeded.posts()` posts, then
/// VACUUM ANALYZE so the planner knows the tables' sizes from the first query.
pub async fn seed(client: &Client, seeded: Seeded) -> anyhow::Result<()> {
    for migration in MIGRATIONS {
        client
            .batch_execute(&format!("BEGIN; {}; COMMIT;", migration.sql))
            .await
            .with_context(|| format!("applying {}", migration.name))?;
    }
    let users = i64::try_from(seeded.users).context("too many users")?;
    let posts = i64::try_from(seeded.posts()).context("too many posts")?;
    client
        .execute(
            "INSERT INTO users (name, email) \
             SELECT 'User ' || g, 'user' || g || '@example.com' \
             FROM generate_series(1, $1::bigint) AS g",
            &[&users],
        )
        .await
        .context("inserting the users")?;
    // One series over all posts, authors dealt out in turn (see the module docs). The
    // body is about 200 characters, a short post; the title names the post and author.
    client
        .execute(
            "INSERT INTO posts (user_id, title, body) \
             SELECT (g - 1) % $1::bigint + 1, \
                    'Post ' || g || ' by user ' || ((g - 1) % $1::bigint + 1), \
                    'Notes ' || g || E':\\n' || repeat('lorem ipsum dolor sit amet ', 7) \
             FROM generate_series(1, $2::bigint) AS g",
            &[&users, &posts],
        )
        .await
        .context("inserting the posts")?;
    client
        .batch_execute("VACUUM ANALYZE users, posts")
        .await
        .context("VACUUM ANALYZE users, posts")?;
    Ok(())
}

/// Puts the tables back to their seeded size after a workload that writes, so every
/// run of every tier reads the same tables. Deleting the created users deletes their
/// posts too (the foreign key cascades). Updated names are left as they are: they
/// change no size.
pub async fn tidy(client: &Client, seeded: Seeded) -> anyhow::Result<()> {
    let users = i64::try_from(seeded.users).context("too many users")?;
    let posts = i64::try_from(seeded.posts()).context("too many posts")?;
    client
        .execute("DELETE FROM users WHERE id > $1", &[&users])
        .await
        .context("deleting the created users")?;
    client
        .execute("DELETE FROM posts WHERE id > $1", &[&posts])
        .await
        .context("deleting the created posts")?;
    // Reclaims the dead rows the writes left, so the next run does not pay for them.
    client
        .batch_execute("VACUUM users, posts")
        .await
        .context("VACUUM users, posts")?;
    Ok(())
}

/// The server's `SELECT version()`.
pub async fn server_version(client: &Client) -> anyhow::Result<String> {
    let row = client.query_one("SELECT version()", &[]).await?;
    Ok(row.try_get(0)?)
}
