//! The N+1 query problem, measured: 100 posts with their authors, listed three ways in
//! each tier's library, with every statement counted on the wire.
//!
//! ```text
//! cargo run --example n_plus_one
//! cargo run --example n_plus_one -- --quick    # 3 repetitions instead of 7
//! ```
//!
//! It finds the PostgreSQL server as the tier servers do (`DATABASE_URL`, or the `DB_*`
//! pieces, from the environment or `.env`) and (re)creates its own database there,
//! `n_plus_one_demo`: the schema of `migrations/`, 1,000 users with 10 posts each (made by
//! `generate_series` in a fraction of a second). Then it lists the first 100 posts, each
//! with its author:
//!
//! * **the naive loop**: one query for the posts, then one per post for its author. It
//!   reads naturally, and it is what an ORM's lazy `post.author` does behind your back:
//!   1 + N statements, 101 for 100 posts, 501 for a page of 500;
//! * **a join**: `posts JOIN users`, one statement whatever the page size;
//! * in SeaORM, its two ways out: `find_also_related` (the join, built from the relation
//!   declared in `tier_orm::entity::post`) and the loader `load_one` (the posts, then one
//!   `users WHERE id IN (...)`: two statements whatever the page size).
//!
//! The counts are measured, not predicted: every library connects through the bench's
//! counting proxy (`crates/bench/src/proxy.rs`), which relays the PostgreSQL protocol and
//! counts the messages. A statement is an `Execute` (extended protocol) or a `Query`
//! (simple); a round trip is a turn from the client sending to the server answering. Each
//! way runs once to warm up, then a few times; the time is the median. What you should
//! see (a debug build on a busy 2-core machine; times vary, counts do not):
//!
//! ```text
//! tier-raw   naive loop            101 statements   101 round trips    33.9 ms
//! tier-raw   join                    1 statements     1 round trips     1.9 ms
//! tier-sqlx  naive loop            101 statements   101 round trips    25.1 ms
//! tier-sqlx  join                    1 statements     1 round trips     2.4 ms
//! tier-orm   naive loop            101 statements   202 round trips    67.0 ms
//! tier-orm   find_also_related       1 statements     2 round trips     3.0 ms
//! tier-orm   load_one                2 statements     4 round trips     4.5 ms
//! ```
//!
//! Each extra statement waits for its round trip: over loopback here, across a network a
//! millisecond or more each. SeaORM's round trips are twice its statements because its
//! pool (sqlx's) pings a connection each time it goes back. The example checks that every
//! way lists the same posts with the same authors, and leaves the database for you to
//! explore (`psql -d n_plus_one_demo`); the next run recreates it.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use bench::proxy::Proxy;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, EntityTrait as _, LoaderTrait as _,
    ModelTrait as _, QueryOrder as _, QuerySelect as _,
};
use secrecy::ExposeSecret as _;
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{Connection as _, PgConnection};
use tier_orm::entity::prelude::{Post, User};
use tier_orm::entity::{post, user};
use tokio_postgres::NoTls;
use users_api::schema::MIGRATIONS;
use users_api::{DatabaseConfig, PostRead, PostWithAuthor, UserRead, quote_identifier};

/// The example's own database, recreated at every run.
const DEMO_DATABASE: &str = "n_plus_one_demo";
/// Users seeded.
const USERS: i64 = 1_000;
/// Posts per user.
const POSTS_PER_USER: i64 = 10;
/// Posts listed, each with its author: the N of N+1.
const PAGE: i64 = 100;

// The SQL of tiers I and II, word for word the same. The join names the author's
// columns `author_*`: both tables have an `id` and a `created_at`.
const POSTS_SQL: &str =
    "SELECT id, user_id, title, body, created_at FROM posts ORDER BY id LIMIT $1";
const AUTHOR_SQL: &str = "SELECT id, name, email, created_at FROM users WHERE id = $1";
const JOIN_SQL: &str = "SELECT p.id, p.user_id, p.title, p.body, p.created_at, \
     u.id AS author_id, u.name AS author_name, u.email AS author_email, u.created_at AS author_created_at \
     FROM posts p JOIN users u ON u.id = p.user_id ORDER BY p.id LIMIT $1";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let repetitions = if quick { 3 } else { 7 };

    // 1. The server, found as the tiers find it, and a fresh database on it.
    let demo = users_api::config::database_from_env()?.with_database(DEMO_DATABASE);
    create_and_seed(&demo).await?;
    eprintln!(
        "n_plus_one: {USERS} users with {POSTS_PER_USER} posts each in {demo}; \
         {PAGE} posts with their authors, median of {repetitions} runs"
    );

    // 2. Every library below connects through the counting proxy.
    let proxy = Proxy::start(format!("{}:{}", demo.host(), demo.port())).await?;
    let url = proxy.url_through(&demo)?.expose_secret().to_owned();
    let mut lesson = Lesson {
        proxy,
        repetitions,
        rows: Vec::new(),
    };

    // 3. Tier I: tokio-postgres, one connection, statements prepared once.
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
    let connection = tokio::spawn(connection);
    let raw = RawStatements::prepare(&client).await?;
    let naive = async || raw.naive(&client).await;
    lesson.way("tier-raw", "naive loop", naive).await?;
    let join = async || raw.join(&client).await;
    lesson.way("tier-raw", "join", join).await?;
    drop(client);
    connection.await??;

    // 4. Tier II: sqlx, one connection (sqlx prepares and caches each statement itself).
    let mut conn = PgConnection::connect(&url).await?;
    let naive = async || sqlx_naive(&mut conn).await;
    lesson.way("tier-sqlx", "naive loop", naive).await?;
    let join = async || sqlx_join(&mut conn).await;
    lesson.way("tier-sqlx", "join", join).await?;
    conn.close().await?;

    // 5. Tier III: SeaORM, whose pool here holds one connection.
    let db = orm_connect(&url).await?;
    let naive = async || orm_naive(&db).await;
    lesson.way("tier-orm", "naive loop", naive).await?;
    let join = async || orm_join(&db).await;
    lesson.way("tier-orm", "find_also_related", join).await?;
    let loader = async || orm_load_one(&db).await;
    lesson.way("tier-orm", "load_one", loader).await?;
    db.close().await?;

    // 6. Every way found the same posts and authors; then the table.
    lesson.print()
}

/// The ways measured so far, and how: the proxy that counts, the repetitions.
struct Lesson {
    proxy: Proxy,
    repetitions: usize,
    rows: Vec<Row>,
}

/// One way: what one run sent, the median time, and the posts it listed.
struct Row {
    tier: &'static str,
    way: &'static str,
    statements: u64,
    round_trips: u64,
    median_ms: f64,
    posts: Vec<PostWithAuthor>,
}

impl Lesson {
    /// Runs `list` once to warm up, then `repetitions` times, and keeps the median time
    /// and the statements and round trips of one run (every run must send as many).
    async fn way(
        &mut self,
        tier: &'static str,
        way: &'static str,
        mut list: impl AsyncFnMut() -> anyhow::Result<Vec<PostWithAuthor>>,
    ) -> anyhow::Result<()> {
        let posts = list().await?;
        // Lets what a library does after answering (a pool's ping as a connection goes
        // back) land before a snapshot, so each run is charged its own traffic.
        let settle = Duration::from_millis(20);
        let (mut times, mut counts) = (Vec::new(), Vec::new());
        for _ in 0..self.repetitions {
            tokio::time::sleep(settle).await;
            let before = self.proxy.snapshot();
            let started = Instant::now();
            list().await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            tokio::time::sleep(settle).await;
            let run = self.proxy.snapshot().since(&before);
            // A statement is an `Execute` (extended protocol) or a `Query` (simple).
            let sent = |kind: u8| run.client.get(&kind).copied().unwrap_or(0);
            counts.push((sent(b'E') + sent(b'Q'), run.round_trips));
        }
        times.sort_by(f64::total_cmp);
        let (statements, round_trips) = counts.iter().copied().max().unwrap_or_default();
        anyhow::ensure!(
            counts.iter().all(|c| c.0 == statements),
            "{tier} {way}: runs sent different numbers of statements: {counts:?}"
        );
        let median_ms = times.get(times.len() / 2).copied().unwrap_or_default();
        let row = Row {
            tier,
            way,
            statements,
            round_trips,
            median_ms,
            posts,
        };
        self.rows.push(row);
        Ok(())
    }

    /// Checks that every way listed the same posts with the same authors, then prints
    /// one line per way.
    fn print(&self) -> anyhow::Result<()> {
        let first = self.rows.first().context("nothing measured")?;
        let count = first.posts.len();
        anyhow::ensure!(count == PAGE as usize, "{count} posts, not {PAGE}");
        for Row {
            tier,
            way,
            statements,
            round_trips,
            median_ms,
            posts,
        } in &self.rows
        {
            anyhow::ensure!(
                posts == &first.posts,
                "{tier} {way} listed other posts or authors"
            );
            println!(
                "{tier:<10} {way:<20} {statements:>4} statements {round_trips:>5} round trips \
                 {median_ms:>7.1} ms"
            );
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Tier I: tokio-postgres. Each row is mapped by hand, by column name.

/// The three statements, prepared once on the connection (a server-side plan each).
struct RawStatements {
    posts: tokio_postgres::Statement,
    author: tokio_postgres::Statement,
    join: tokio_postgres::Statement,
}

impl RawStatements {
    async fn prepare(client: &tokio_postgres::Client) -> anyhow::Result<Self> {
        Ok(Self {
            posts: client.prepare(POSTS_SQL).await?,
            author: client.prepare(AUTHOR_SQL).await?,
            join: client.prepare(JOIN_SQL).await?,
        })
    }

    // ANCHOR: raw_naive
    /// One query for the page, then one per post: 1 + N statements.
    async fn naive(&self, client: &tokio_postgres::Client) -> anyhow::Result<Vec<PostWithAuthor>> {
        let mut out = Vec::new();
        for row in client.query(&self.posts, &[&PAGE]).await? {
            let post = raw_post(&row)?;
            let author = client.query_one(&self.author, &[&post.user_id]).await?;
            let author = raw_user(&author, "")?;
            out.push(PostWithAuthor { post, author });
        }
        Ok(out)
    }
    // ANCHOR_END: raw_naive

    // ANCHOR: raw_join
    /// One query, the author's columns beside the post's: 1 statement.
    async fn join(&self, client: &tokio_postgres::Client) -> anyhow::Result<Vec<PostWithAuthor>> {
        let rows = client.query(&self.join, &[&PAGE]).await?;
        rows.iter()
            .map(|row| {
                let (post, author) = (raw_post(row)?, raw_user(row, "author_")?);
                Ok(PostWithAuthor { post, author })
            })
            .collect()
    }
    // ANCHOR_END: raw_join
}

/// The user in `row`'s columns whose names start with `prefix`.
fn raw_user(row: &tokio_postgres::Row, prefix: &str) -> Result<UserRead, tokio_postgres::Error> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(UserRead {
        id: row.try_get(column("id").as_str())?,
        name: row.try_get(column("name").as_str())?,
        email: row.try_get(column("email").as_str())?,
        created_at: row.try_get(column("created_at").as_str())?,
    })
}

fn raw_post(row: &tokio_postgres::Row) -> Result<PostRead, tokio_postgres::Error> {
    Ok(PostRead {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
    })
}

// ---------------------------------------------------------------------------------------
// Tier II: sqlx. `query_as` checked at run time (the tier itself uses the compile-time
// `query_as!`); `FromRow` writes the mapping from the column names.

#[derive(sqlx::FromRow)]
struct PostRow {
    id: i64,
    user_id: i64,
    title: String,
    body: String,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct JoinedRow {
    #[sqlx(flatten)]
    post: PostRow,
    author_name: String,
    author_email: String,
    author_created_at: DateTime<Utc>,
}

impl From<PostRow> for PostRead {
    fn from(row: PostRow) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            title: row.title,
            body: row.body,
            created_at: row.created_at,
        }
    }
}

/// A user from its columns, in `users`' order.
fn user((id, name, email, created_at): (i64, String, String, DateTime<Utc>)) -> UserRead {
    UserRead {
        id,
        name,
        email,
        created_at,
    }
}

// ANCHOR: sqlx_naive
/// One query for the page, then one per post: 1 + N statements.
async fn sqlx_naive(conn: &mut PgConnection) -> anyhow::Result<Vec<PostWithAuthor>> {
    let posts: Vec<PostRow> = sqlx::query_as(POSTS_SQL)
        .bind(PAGE)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::new();
    for post in posts {
        let author = sqlx::query_as(AUTHOR_SQL)
            .bind(post.user_id)
            .fetch_one(&mut *conn)
            .await?;
        let (post, author) = (post.into(), user(author));
        out.push(PostWithAuthor { post, author });
    }
    Ok(out)
}
// ANCHOR_END: sqlx_naive

// ANCHOR: sqlx_join
/// One query, the author's columns beside the post's: 1 statement.
async fn sqlx_join(conn: &mut PgConnection) -> anyhow::Result<Vec<PostWithAuthor>> {
    let rows: Vec<JoinedRow> = sqlx::query_as(JOIN_SQL)
        .bind(PAGE)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| PostWithAuthor {
            author: user((
                row.post.user_id,
                row.author_name,
                row.author_email,
                row.author_created_at,
            )),
            post: row.post.into(),
        })
        .collect())
}
// ANCHOR_END: sqlx_join

// ---------------------------------------------------------------------------------------
// Tier III: SeaORM. No SQL: the relation declared in `tier_orm::entity::post` is what
// `find_related`, `find_also_related` and `load_one` follow.

/// A pool of one connection, configured as tier-orm configures its own (no ping before
/// each checkout; sqlx still pings each connection on its way back).
async fn orm_connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(1)
        .test_before_acquire(false)
        .sqlx_logging(false);
    Ok(Database::connect(options).await?)
}

/// The page of posts, as models.
async fn orm_page(db: &DatabaseConnection) -> anyhow::Result<Vec<post::Model>> {
    Ok(Post::find()
        .order_by_asc(post::Column::Id)
        .limit(PAGE as u64)
        .all(db)
        .await?)
}

// ANCHOR: orm_naive
/// The page, then `find_related` per post: 1 + N statements, the lazy-loading trap.
async fn orm_naive(db: &DatabaseConnection) -> anyhow::Result<Vec<PostWithAuthor>> {
    let mut out = Vec::new();
    for post in orm_page(db).await? {
        let author = post.find_related(User).one(db).await?;
        out.push(from_models((post, author))?);
    }
    Ok(out)
}
// ANCHOR_END: orm_naive

// ANCHOR: orm_join
/// `find_also_related`: a LEFT JOIN built from the relation, 1 statement. (tier-orm uses
/// `find_both_related`, the INNER JOIN, whose author is not an `Option`.)
async fn orm_join(db: &DatabaseConnection) -> anyhow::Result<Vec<PostWithAuthor>> {
    let pairs = Post::find()
        .find_also_related(User)
        .order_by_asc(post::Column::Id)
        .limit(PAGE as u64)
        .all(db)
        .await?;
    pairs.into_iter().map(from_models).collect()
}
// ANCHOR_END: orm_join

// ANCHOR: orm_load_one
/// The loader: the page, then `users WHERE id IN (...)` for all of its authors at once,
/// matched up in Rust: 2 statements.
async fn orm_load_one(db: &DatabaseConnection) -> anyhow::Result<Vec<PostWithAuthor>> {
    let posts = orm_page(db).await?;
    let authors = posts.load_one(User, db).await?;
    posts.into_iter().zip(authors).map(from_models).collect()
}
// ANCHOR_END: orm_load_one

/// The API's view of a post model and its author's (which the foreign key guarantees).
fn from_models(
    (post, author): (post::Model, Option<user::Model>),
) -> anyhow::Result<PostWithAuthor> {
    let author = author.context("a post without its author")?;
    Ok(PostWithAuthor {
        post: PostRead {
            id: post.id,
            user_id: post.user_id,
            title: post.title,
            body: post.body,
            created_at: post.created_at,
        },
        author: user((author.id, author.name, author.email, author.created_at)),
    })
}

// ---------------------------------------------------------------------------------------
// The database.

/// Drops and recreates `demo`, applies every migration, and seeds it on the server: users
/// 1..=USERS, and posts dealt out to them in turn (post `g` by user `(g - 1) % USERS + 1`),
/// so the 100 posts listed have 100 different authors.
async fn create_and_seed(demo: &DatabaseConfig) -> anyhow::Result<()> {
    let admin = connect(&demo.with_database("postgres")).await?;
    let name = quote_identifier(demo.name());
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    // template0: a session connected to template1 would make CREATE DATABASE fail.
    admin
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
        .await?;
    let client = connect(demo).await?;
    for migration in MIGRATIONS {
        client
            .batch_execute(&format!("BEGIN; {}; COMMIT;", migration.sql))
            .await
            .with_context(|| format!("applying {}", migration.name))?;
    }
    // Constants of this file, so splicing them into the SQL is safe.
    let seed = format!(
        "INSERT INTO users (name, email) SELECT 'User ' || g, 'user' || g || '@example.com' \
         FROM generate_series(1, {USERS}) AS g; \
         INSERT INTO posts (user_id, title, body) \
         SELECT (g - 1) % {USERS} + 1, 'Post ' || g, 'The body of post ' || g \
         FROM generate_series(1, {USERS} * {POSTS_PER_USER}) AS g"
    );
    client.batch_execute(&seed).await?;
    client.batch_execute("VACUUM ANALYZE users, posts").await?;
    Ok(())
}

/// One tokio-postgres connection straight to the server (not through the proxy).
async fn connect(db: &DatabaseConfig) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(db.url().expose_secret(), NoTls)
        .await
        .with_context(|| format!("connecting to {db} (is PostgreSQL running?)"))?;
    tokio::spawn(connection);
    Ok(client)
}
