//! Store-level benches: `cargo bench -p bench` (criterion).
//!
//! Each store operation of each tier, called directly through the `UserStore` trait:
//! no HTTP, no JSON, no router, one call at a time. What is left is the tier's own
//! cost (pool checkout, statement cache, encoding parameters, decoding the row, and
//! the ORM's model building) plus one trip to PostgreSQL, so the differences between
//! tiers here are the libraries' overhead, without the HTTP layer that is the same
//! for all of them. The HTTP benchmark (`cargo run -p bench --release`) then shows
//! how much of it survives under concurrent load.
//!
//! Needs PostgreSQL where the tiers find it (`DATABASE_URL`, `.env`, or the default `postgres://postgres:postgres@localhost:5432/users_course`).
//! It creates the database `users_bench_store`, seeds 10,000 users with 10 posts each,
//! and drops it at the end. Select with criterion's filter: `cargo bench -p bench -- tier-raw/get`.
//! Not part of CI: `cargo test` does not build bench targets.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bench::loadgen::Rng;
use criterion::Criterion;
use serde_json::json;
use tokio::runtime::Runtime;
use users_api::{Config, DatabaseConfig, Page, TierInfo, UserCreate, UserStore, UserUpdate};

/// Users seeded before the benches.
const ROWS: u64 = 10_000;

/// What is seeded: `ROWS` users, 10 posts each.
const SEEDED: bench::seed::Seeded = bench::seed::Seeded {
    users: ROWS,
    posts_per_user: 10,
};

/// The database the benches use (dropped and recreated).
const DATABASE: &str = "users_bench_store";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stores bench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    // One thread: each call is awaited before the next, so the figure is one
    // operation's latency, and no time goes into waking other worker threads.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The same server the benchmark binary uses, decided in one place.
    let url = bench::cli::database_url::choose(None, bench::cli::database_url::from_environment());
    let server = DatabaseConfig::parse(&url).context("DATABASE_URL")?;
    let admin_db = server.with_database("postgres");
    let bench_db = server.with_database(DATABASE);

    let (admin, client) = runtime.block_on(async {
        let admin = bench::seed::connect(&admin_db).await?;
        bench::seed::recreate_database(&admin, &bench_db).await?;
        let client = bench::seed::connect(&bench_db).await?;
        bench::seed::seed(&client, SEEDED).await?;
        anyhow::Ok((admin, client))
    })?;
    // After each tier, the users it created go, so every tier reads the same table.
    let tidy = || runtime.block_on(bench::seed::tidy(&client, SEEDED));

    let mut criterion = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let result = (|| {
        let raw = runtime.block_on(tier_raw::connect(&config(tier_raw::TIER, &bench_db)?))?;
        bench_store(&mut criterion, &runtime, "tier-raw", &raw)?;
        tidy()?;
        let sqlx = runtime.block_on(tier_sqlx::connect(&config(tier_sqlx::TIER, &bench_db)?))?;
        bench_store(&mut criterion, &runtime, "tier-sqlx", &sqlx)?;
        tidy()?;
        let orm = runtime.block_on(tier_orm::connect(&config(tier_orm::TIER, &bench_db)?))?;
        bench_store(&mut criterion, &runtime, "tier-orm", &orm)?;
        runtime.block_on(async {
            raw.close().await;
            sqlx.close().await;
            orm.close().await;
        });
        anyhow::Ok(())
    })();
    criterion.final_summary();
    // Dropped even when a tier failed, so no bench database is left behind.
    drop(client);
    runtime.block_on(bench::seed::drop_database(&admin, &bench_db))?;
    result
}

/// A tier's configuration for the bench database; `DB_POOL_SIZE` and `LOG_SQL` still
/// come from the environment, so a pool size can be compared here too.
fn config(tier: TierInfo, db: &DatabaseConfig) -> anyhow::Result<Config> {
    use secrecy::ExposeSecret;
    let url = db.url().expose_secret().to_owned();
    Ok(Config::from_lookup(tier, |name| match name {
        "DATABASE_URL" => Some(url.clone()),
        "DB_POOL_SIZE" | "LOG_SQL" => std::env::var(name).ok(),
        _ => None,
    })?)
}

/// A valid, unique `UserCreate` (only the contract's validation can build one).
fn new_user(tag: &str, n: u64) -> anyhow::Result<UserCreate> {
    users_api::validate::user_create(&json!({
        "name": "Bench User",
        "email": format!("s{tag}.{n}@bench.example"),
    }))
    .map_err(|err| anyhow::anyhow!("invalid bench user: {err:?}"))
}

fn rename(name: &str) -> anyhow::Result<UserUpdate> {
    users_api::validate::user_update(&json!({ "name": name }))
        .map_err(|err| anyhow::anyhow!("invalid bench update: {err:?}"))
}

/// Every operation of one store. Each is tried once first, so a broken tier stops
/// the bench with its error instead of timing failures.
fn bench_store<S: UserStore>(
    criterion: &mut Criterion,
    runtime: &Runtime,
    tier: &str,
    store: &S,
) -> anyhow::Result<()> {
    let renames = [rename("Renamed A")?, rename("Renamed B")?];
    let page = |after_id: u64| Page {
        after_id: after_id as i64,
        limit: 50,
    };
    runtime.block_on(async {
        store.ping().await?;
        store.get(1).await?.context("user 1 is missing")?;
        store.list(page(0)).await?;
        store.update(1, &renames[0]).await?;
        store.list_posts(page(0)).await?;
        store
            .list_user_posts(1, page(0))
            .await?
            .context("user 1 is missing")?;
        anyhow::Ok(())
    })?;

    let mut group = criterion.benchmark_group(tier);
    group.bench_function("get", |b| {
        let mut rng = Rng::new(1);
        b.to_async(runtime).iter(|| {
            let id = rng.range(1, ROWS) as i64;
            async move { store.get(id).await }
        });
    });
    group.bench_function("list", |b| {
        let mut rng = Rng::new(2);
        b.to_async(runtime).iter(|| {
            let after_id = rng.range(0, ROWS - 50);
            async move { store.list(page(after_id)).await }
        });
    });
    // A page of 50 posts, each with its author: one joined statement in every tier.
    group.bench_function("list_posts", |b| {
        let mut rng = Rng::new(4);
        b.to_async(runtime).iter(|| {
            let after_id = rng.range(0, SEEDED.posts() - 50);
            async move { store.list_posts(page(after_id)).await }
        });
    });
    group.bench_function("list_user_posts", |b| {
        let mut rng = Rng::new(5);
        b.to_async(runtime).iter(|| {
            let user_id = rng.range(1, ROWS) as i64;
            async move { store.list_user_posts(user_id, page(0)).await }
        });
    });
    group.bench_function("update", |b| {
        let mut rng = Rng::new(3);
        let mut n = 0;
        b.to_async(runtime).iter(|| {
            let id = rng.range(1, ROWS) as i64;
            n += 1;
            let changes = &renames[n % 2];
            async move { store.update(id, changes).await }
        });
    });
    group.bench_function("ping", |b| {
        b.to_async(runtime).iter(|| store.ping());
    });
    // Creating needs a fresh email each time and deleting needs a row to delete: the
    // inputs are made before the clock starts (`iter_custom` times only what we say).
    let tag = bench::loadgen::unique_tag();
    let mut next = 0u64;
    group.bench_function("create", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let users: Vec<UserCreate> = (0..iters)
                .filter_map(|_| {
                    next += 1;
                    new_user(&tag, next).ok()
                })
                .collect();
            async move {
                let start = Instant::now();
                for user in &users {
                    let _ = store.create(user).await;
                }
                start.elapsed()
            }
        });
    });
    group.bench_function("delete", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let mut users = Vec::new();
            for _ in 0..iters {
                next += 1;
                users.extend(new_user(&tag, next).ok());
            }
            async move {
                let mut ids = Vec::with_capacity(users.len());
                for user in &users {
                    if let Ok(user) = store.create(user).await {
                        ids.push(user.id);
                    }
                }
                let start = Instant::now();
                for id in ids {
                    let _ = store.delete(id).await;
                }
                start.elapsed()
            }
        });
    });
    group.finish();
    Ok(())
}
