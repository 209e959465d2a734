//! The N+1 query problem, measured: 100 posts with their authors, listed three ways in
//! each tier's library, with every statement counted on the wire.
//!
//! ```text
//! cargo run --example n_plus_one
//! cargo run --example n_plus_one -- --quick    # 3 repetitions instead of 7
//! ```
//!
//! It finds the PostgreSQL server as the tier servers do (`DATABASE_URL`, or `DB_USER`,
//! `DB_PASS`, `DB_HOST`, `DB_PORT`, `DB_NAME`, from the environment or a `.env` file),
//! and (re)creates a database of its own there, `n_plus_one_demo`: the schema of
//! `migrations/`, 1,000 users, 10 posts each (made by `generate_series`, in a fraction of
//! a second). Then it lists the first 100 posts, each with its author:
//!
//! * **the naive loop**: one query for the posts, then one query per post for its author.
//!   It reads naturally and it is what an ORM's lazy `post.author` does behind your back:
//!   1 + N statements, 101 for 100 posts, 501 for a page of 500;
//! * **a join**: `posts JOIN users`, one statement whatever the page size;
//! * in SeaORM, its two ways out: `find_also_related` (the join, built from the relation
//!   declared in `tier_orm::entity::post`) and the loader `load_one` (the posts, then one
//!   `users WHERE id IN (...)`: two statements whatever the page size).
//!
//! The counts are measured, not predicted: every library here connects through a small
//! proxy that relays the PostgreSQL wire protocol ([`testkit::wire::relay`]) and counts
//! what the client sends. A statement is an `Execute` (extended protocol) or a `Query`
//! (simple protocol); a round trip is a turn of the conversation from client to server.
//! Each way runs once to warm up (statements prepared, connections open), then a few
//! times; the time is the median. What you should see (a debug build on a busy 2-core
//! machine; times vary, counts do not):
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
//! The gap grows with the page and with the distance to the database: each of the 100
//! extra statements waits for its round trip, here over loopback, across a network a
//! millisecond or more each. SeaORM's round trips are twice its statements because its
//! pool (sqlx's) pings a connection each time it goes back. Every way returns the same 100
//! posts with the same authors, which the example checks before it prints anything. The
//! database is left for you to explore (`psql -d n_plus_one_demo`); the next run
//! recreates it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, EntityTrait as _, LoaderTrait as _,
    ModelTrait as _, QueryOrder as _, QuerySelect as _,
};
use secrecy::ExposeSecret as _;
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{Connection as _, PgConnection};
use testkit::wire::{ConnectionSplitter, Frame, RelayHooks, Side, relay};
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
     u.name AS author_name, u.email AS author_email, u.created_at AS author_created_at \
     FROM posts p JOIN users u ON u.id = p.user_id ORDER BY p.id LIMIT $1";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let repetitions = if std::env::args().any(|arg| arg == "--quick") {
        3
    } else {
        7
    };

    // 1. The server, found as the tiers find it, and a fresh database on it.
    let demo = users_api::config::database_from_env()?.with_database(DEMO_DATABASE);
    create_and_seed(&demo).await?;
    eprintln!(
        "n_plus_one: {USERS} users with {POSTS_PER_USER} posts each in {demo}; \
         {PAGE} posts with their authors, median of {repetitions} runs"
    );

    // 2. Every library below connects through the counting proxy.
    let proxy = CountingProxy::start(format!("{}:{}", demo.host(), demo.port())).await?;
    let url = proxy.url_for(&demo)?;
    let mut rows = Vec::new();

    // 3. Tier I: tokio-postgres, one connection, statements prepared once.
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
    let connection = tokio::spawn(connection);
    let raw = RawStatements::prepare(&client).await?;
    rows.push((
        "tier-raw",
        "naive loop",
        proxy
            .measure(repetitions, async || raw.naive(&client).await)
            .await?,
    ));
    rows.push((
        "tier-raw",
        "join",
        proxy
            .measure(repetitions, async || raw.join(&client).await)
            .await?,
    ));
    drop(client);
    connection.await??;

    // 4. Tier II: sqlx, one connection (sqlx prepares and caches each statement itself).
    let mut conn = PgConnection::connect(&url).await?;
    rows.push((
        "tier-sqlx",
        "naive loop",
        proxy
            .measure(repetitions, async || sqlx_naive(&mut conn).await)
            .await?,
    ));
    rows.push((
        "tier-sqlx",
        "join",
        proxy
            .measure(repetitions, async || sqlx_join(&mut conn).await)
            .await?,
    ));
    conn.close().await?;

    // 5. Tier III: SeaORM, whose pool here holds one connection.
    let db = orm_connect(&url).await?;
    rows.push((
        "tier-orm",
        "naive loop",
        proxy
            .measure(repetitions, async || orm_naive(&db).await)
            .await?,
    ));
    rows.push((
        "tier-orm",
        "find_also_related",
        proxy
            .measure(repetitions, async || orm_also_related(&db).await)
            .await?,
    ));
    rows.push((
        "tier-orm",
        "load_one",
        proxy
            .measure(repetitions, async || orm_load_one(&db).await)
            .await?,
    ));
    db.close().await?;

    // 6. Every way found the same posts and authors; then the table.
    let expected = &rows[0].2.posts;
    anyhow::ensure!(
        expected.len() == PAGE as usize,
        "{} posts, not {PAGE}",
        expected.len()
    );
    for (tier, way, measured) in &rows {
        anyhow::ensure!(
            &measured.posts == expected,
            "{tier} {way} listed other posts or authors"
        );
    }
    for (tier, way, m) in &rows {
        println!(
            "{tier:<10} {way:<20} {:>4} statements {:>5} round trips {:>7.1} ms",
            m.statements, m.round_trips, m.median_ms
        );
    }
    Ok(())
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
            let author = UserRead {
                id: author.try_get("id")?,
                name: author.try_get("name")?,
                email: author.try_get("email")?,
                created_at: author.try_get("created_at")?,
            };
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
                let post = raw_post(row)?;
                let author = UserRead {
                    id: post.user_id,
                    name: row.try_get("author_name")?,
                    email: row.try_get("author_email")?,
                    created_at: row.try_get("author_created_at")?,
                };
                Ok(PostWithAuthor { post, author })
            })
            .collect()
    }
    // ANCHOR_END: raw_join
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

// ANCHOR: sqlx_naive
/// One query for the page, then one per post: 1 + N statements.
async fn sqlx_naive(conn: &mut PgConnection) -> anyhow::Result<Vec<PostWithAuthor>> {
    let posts: Vec<PostRow> = sqlx::query_as(POSTS_SQL)
        .bind(PAGE)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::new();
    for post in posts {
        let (id, name, email, created_at) = sqlx::query_as(AUTHOR_SQL)
            .bind(post.user_id)
            .fetch_one(&mut *conn)
            .await?;
        let author = UserRead {
            id,
            name,
            email,
            created_at,
        };
        out.push(PostWithAuthor {
            post: post.into(),
            author,
        });
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
            author: UserRead {
                id: row.post.user_id,
                name: row.author_name,
                email: row.author_email,
                created_at: row.author_created_at,
            },
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
        let author = post
            .find_related(User)
            .one(db)
            .await?
            .context("a post without its author")?;
        out.push(from_models(post, author));
    }
    Ok(out)
}
// ANCHOR_END: orm_naive

// ANCHOR: orm_also_related
/// `find_also_related`: a LEFT JOIN built from the relation, 1 statement. (tier-orm uses
/// `find_both_related`, the INNER JOIN, whose author is not an `Option`.)
async fn orm_also_related(db: &DatabaseConnection) -> anyhow::Result<Vec<PostWithAuthor>> {
    let pairs = Post::find()
        .find_also_related(User)
        .order_by_asc(post::Column::Id)
        .limit(PAGE as u64)
        .all(db)
        .await?;
    pairs
        .into_iter()
        .map(|(post, author)| {
            Ok(from_models(
                post,
                author.context("a post without its author")?,
            ))
        })
        .collect()
}
// ANCHOR_END: orm_also_related

// ANCHOR: orm_load_one
/// The loader: the page, then `users WHERE id IN (...)` for all of its authors at once,
/// matched up in Rust: 2 statements.
async fn orm_load_one(db: &DatabaseConnection) -> anyhow::Result<Vec<PostWithAuthor>> {
    let posts = orm_page(db).await?;
    let authors = posts.load_one(User, db).await?;
    posts
        .into_iter()
        .zip(authors)
        .map(|(post, author)| {
            Ok(from_models(
                post,
                author.context("a post without its author")?,
            ))
        })
        .collect()
}
// ANCHOR_END: orm_load_one

fn from_models(post: post::Model, author: user::Model) -> PostWithAuthor {
    PostWithAuthor {
        post: PostRead {
            id: post.id,
            user_id: post.user_id,
            title: post.title,
            body: post.body,
            created_at: post.created_at,
        },
        author: UserRead {
            id: author.id,
            name: author.name,
            email: author.email,
            created_at: author.created_at,
        },
    }
}

// ---------------------------------------------------------------------------------------
// The database, and the counting proxy.

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
    client
        .execute(
            "INSERT INTO users (name, email) \
             SELECT 'User ' || g, 'user' || g || '@example.com' FROM generate_series(1, $1::bigint) AS g",
            &[&USERS],
        )
        .await?;
    client
        .execute(
            "INSERT INTO posts (user_id, title, body) \
             SELECT (g - 1) % $1::bigint + 1, 'Post ' || g, 'The body of post ' || g \
             FROM generate_series(1, $1::bigint * $2::bigint) AS g",
            &[&USERS, &POSTS_PER_USER],
        )
        .await?;
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

/// What crossed the proxy so far, summed over its connections.
#[derive(Debug, Default)]
struct Totals {
    /// `Execute` and `Query` messages from the client.
    statements: AtomicU64,
    /// Turns from the client sending to the server answering.
    round_trips: AtomicU64,
}

/// A TCP proxy in front of PostgreSQL that counts statements and round trips.
struct CountingProxy {
    addr: SocketAddr,
    totals: Arc<Totals>,
}

/// One way's figures: the median time, and what one run sent.
struct Measured {
    statements: u64,
    round_trips: u64,
    median_ms: f64,
    posts: Vec<PostWithAuthor>,
}

impl CountingProxy {
    /// Listens on a free port of 127.0.0.1 and relays every connection to `upstream`.
    async fn start(upstream: String) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let totals = Arc::new(Totals::default());
        let shared = Arc::clone(&totals);
        // The task ends with the program.
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let hooks = Counting {
                    totals: Arc::clone(&shared),
                    state: Mutex::default(),
                };
                let upstream = upstream.clone();
                tokio::spawn(async move { relay(client, &upstream, &hooks).await });
            }
        });
        Ok(Self { addr, totals })
    }

    /// `db`'s URL with this proxy as host and port, and `sslmode=disable`: TLS would
    /// make the messages unreadable (sqlx asks for it when the server offers it).
    fn url_for(&self, db: &DatabaseConfig) -> anyhow::Result<String> {
        let mut url = url::Url::parse(db.url().expose_secret()).context("the database URL")?;
        url.set_host(Some(&self.addr.ip().to_string()))
            .context("the proxy's host")?;
        url.set_port(Some(self.addr.port()))
            .map_err(|()| anyhow::anyhow!("the proxy's port"))?;
        let others: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(key, _)| key != "sslmode")
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(others)
            .append_pair("sslmode", "disable");
        Ok(url.to_string())
    }

    fn snapshot(&self) -> (u64, u64) {
        (
            self.totals.statements.load(Ordering::SeqCst),
            self.totals.round_trips.load(Ordering::SeqCst),
        )
    }

    /// Runs `way` once to warm up, then `repetitions` times: the median time, and the
    /// statements and round trips of one run (every run must send the same statements).
    async fn measure(
        &self,
        repetitions: usize,
        mut way: impl AsyncFnMut() -> anyhow::Result<Vec<PostWithAuthor>>,
    ) -> anyhow::Result<Measured> {
        let posts = way().await?;
        // Lets what a library does after answering (a pool's ping as a connection goes
        // back) land before a snapshot, so each run is charged its own traffic.
        let settle = Duration::from_millis(20);
        let mut times = Vec::new();
        let mut counts = Vec::new();
        for _ in 0..repetitions {
            tokio::time::sleep(settle).await;
            let before = self.snapshot();
            let started = Instant::now();
            way().await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            tokio::time::sleep(settle).await;
            let after = self.snapshot();
            counts.push((after.0 - before.0, after.1 - before.1));
        }
        times.sort_by(f64::total_cmp);
        let (statements, round_trips) = counts.iter().copied().max().unwrap_or_default();
        anyhow::ensure!(
            counts.iter().all(|c| c.0 == statements),
            "runs sent different numbers of statements: {counts:?}"
        );
        Ok(Measured {
            statements,
            round_trips,
            median_ms: times[times.len() / 2],
            posts,
        })
    }
}

/// The relay's hooks for one connection: its framing state, and the proxy's totals.
struct Counting {
    totals: Arc<Totals>,
    state: Mutex<(ConnectionSplitter, Option<Side>)>,
}

impl RelayHooks for Counting {
    /// Called with every chunk before it is forwarded, so a reply is always seen after
    /// its request.
    fn observe(&self, from: Side, chunk: &[u8]) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (frames, last) = &mut *state;
        if from == Side::Server && *last == Some(Side::Client) {
            self.totals.round_trips.fetch_add(1, Ordering::SeqCst);
        }
        frames.feed(from, chunk, |frame| {
            if from == Side::Client && matches!(frame, Frame::Message(b'E' | b'Q')) {
                self.totals.statements.fetch_add(1, Ordering::SeqCst);
            }
        });
        *last = Some(from);
    }
}
