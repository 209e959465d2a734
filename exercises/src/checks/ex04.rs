//! Checks of exercise 04: the statements your code sends, counted on the wire by the
//! bench's counting proxy, as `examples/n_plus_one.rs` counts them. A statement is an
//! `Execute` message (extended protocol) or a `Query` (simple protocol).

use std::time::Duration;

use anyhow::{Context as _, ensure};
use bench::proxy::Proxy;
use secrecy::ExposeSecret as _;
use testkit::TestDb;

use super::database;
use super::ex04_n_plus_one::{PostWithAuthor, posts_with_authors};

checks!(
    twenty_posts_take_at_most_2_statements,
    statements_do_not_grow_with_the_page,
);

/// Users seeded; post `g` is written by user `g`, so a page has as many authors as posts.
const USERS: i64 = 30;

/// The seeded database, a client that connects through the counting proxy, and the proxy.
struct Counted {
    _db: TestDb,
    direct: tokio_postgres::Client,
    client: tokio_postgres::Client,
    proxy: Proxy,
}

async fn seeded() -> anyhow::Result<Counted> {
    let db = database::with_schema().await?;
    let direct = db.connect().await;
    direct
        .batch_execute(&format!(
            "INSERT INTO users (name, email) SELECT 'User ' || g, 'user' || g || '@example.com' \
             FROM generate_series(1, {USERS}) AS g; \
             INSERT INTO posts (user_id, title, body) SELECT g, 'Post ' || g, 'Body ' || g \
             FROM generate_series(1, {USERS}) AS g"
        ))
        .await
        .context("seeding users and posts")?;
    let server = &db.config().database;
    let proxy = Proxy::start(format!("{}:{}", server.host(), server.port())).await?;
    let url = proxy.url_through(server)?;
    let (client, connection) =
        tokio_postgres::connect(url.expose_secret(), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(Counted {
        _db: db,
        direct,
        client,
        proxy,
    })
}

impl Counted {
    /// Runs `posts_with_authors(limit)` and counts the statements it sent; checks the
    /// page against what the database says it must be.
    async fn statements_for(&self, limit: i64) -> anyhow::Result<u64> {
        let before = self.proxy.snapshot();
        let page = posts_with_authors(&self.client, limit).await?;
        // The proxy has relayed every request by the time the answers came back; a
        // moment more lets its counters settle.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let sent = self.proxy.snapshot().since(&before);
        let count = |kind: u8| sent.client.get(&kind).copied().unwrap_or(0);
        let expected = self.expected(limit).await?;
        ensure!(
            page == expected,
            "posts_with_authors({limit}) listed {} posts; the first ones: {:?}; expected {:?}",
            page.len(),
            page.iter().take(2).collect::<Vec<_>>(),
            expected.iter().take(2).collect::<Vec<_>>()
        );
        Ok(count(b'E') + count(b'Q'))
    }

    /// The page, straight from the database.
    async fn expected(&self, limit: i64) -> anyhow::Result<Vec<PostWithAuthor>> {
        let rows = self
            .direct
            .query(
                "SELECT p.id, p.title, u.id, u.name FROM posts p JOIN users u ON u.id = p.user_id \
                 ORDER BY p.id LIMIT $1",
                &[&limit],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(PostWithAuthor {
                    post_id: row.try_get(0)?,
                    title: row.try_get(1)?,
                    author_id: row.try_get(2)?,
                    author_name: row.try_get(3)?,
                })
            })
            .collect()
    }
}

async fn twenty_posts_take_at_most_2_statements() -> anyhow::Result<()> {
    let counted = seeded().await?;
    let statements = counted.statements_for(20).await?;
    ensure!(
        statements <= 2,
        "20 posts with their authors took {statements} statements: one for the posts, then \
         one per post for its author (1 + N)"
    );
    Ok(())
}

async fn statements_do_not_grow_with_the_page() -> anyhow::Result<()> {
    let counted = seeded().await?;
    let small = counted.statements_for(5).await?;
    let large = counted.statements_for(25).await?;
    ensure!(
        small == large,
        "a page of 5 took {small} statements and a page of 25 took {large}: the count grows \
         with the page"
    );
    Ok(())
}
