//! Several instances of every tier serve one database at once, through one PgBouncer:
//! two processes of each tier (six), each with a pool of its own, all behind a
//! PgBouncer of `POOLER_SIZE` server connections, get the cross-tier script round robin
//! (step 1 to the first, step 2 to the second, ...) under a stream of concurrent reads.
//!
//! * The answers are identical to those of one tier-raw on a database of its own: an
//!   instance sees what another wrote (it keeps no state of its own), and none answers
//!   an error the script does not ask for.
//! * PostgreSQL's connections to the database, sampled all along, stay within
//!   PgBouncer's pool, while the six pools together ask for more (PgBouncer's own count
//!   of client connections is sampled too): that is what the pooler is for. PgBouncer
//!   needs no connection of its own to the database beyond its pool (its console is
//!   served by PgBouncer itself), so the bound is the pool size exactly.
//!
//! `cargo test -p testkit --test several_instances` (needs PostgreSQL and `pgbouncer`).
//! It runs the tiers' debug binaries, which it first brings up to date with
//! `cargo build -p tier-raw -p tier-sqlx -p tier-orm` (Cargo builds only a package's
//! own binaries for its tests).

// Test code: a panic with a message is how a failed expectation is reported, in the
// helpers too (clippy.toml allows expect only inside #[test] functions).
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use secrecy::ExposeSecret;
use testkit::pgbouncer::PgBouncer;
use testkit::process::{TierBinary, TierProcess};
use testkit::script::run_round_robin;
use testkit::{TestApp, TestDb, admin_database};

/// PgBouncer's server connections for the database.
const POOLER_SIZE: usize = 4;
/// Each instance's own pool: six of them ask for 18 connections, over four times more.
const INSTANCE_POOL_SIZE: usize = 3;
const TIERS: [&str; 3] = ["tier-raw", "tier-sqlx", "tier-orm"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_instances_behind_one_pgbouncer_answer_as_one() {
    let binaries = tier_binaries();
    let pgbouncer = PgBouncer::start(POOLER_SIZE);
    let db = TestDb::create().await;
    let url = pgbouncer
        .database_through(&db.config().database)
        .url()
        .expose_secret()
        .to_owned();
    let pool_size = INSTANCE_POOL_SIZE.to_string();

    // Sampling starts before the instances do: their start-ups (six at once, each
    // applying the schema) count too.
    let sampler = Sampler::start(db.name(), pgbouncer.port()).await;
    let mut instances: Vec<TierProcess> = binaries
        .iter()
        .chain(binaries.iter())
        .map(|path| {
            let binary = TierBinary {
                path: Box::leak(path.display().to_string().into_boxed_str()),
                env: &[],
            };
            TierProcess::spawn(
                binary,
                &[
                    ("DATABASE_URL", url.as_str()),
                    ("DB_PREPARED_STATEMENTS", "false"),
                    ("DB_POOL_SIZE", pool_size.as_str()),
                ],
            )
        })
        .collect();
    let mut bases = Vec::new();
    for instance in &mut instances {
        bases.push(instance.wait_listening(Duration::from_secs(30)).await);
    }

    // Concurrent reads all along, so that every pool opens all its connections.
    let reading = Arc::new(AtomicBool::new(true));
    let reads = tokio::spawn(read_all_along(bases.clone(), reading.clone()));
    let client = reqwest::Client::new();
    let round_robin = run_round_robin(&client, &bases).await;
    reading.store(false, Ordering::Relaxed);
    let (reads_done, read_errors) = reads.await.expect("the reads ran");
    let seen = sampler.stop().await;

    let mut logs = String::new();
    for instance in &mut instances {
        instance.sigterm();
        let status = instance.wait_exit(Duration::from_secs(15)).await;
        assert!(status.success(), "{status}:\n{}", instance.output());
        logs.push_str(&instance.output());
    }
    drop(pgbouncer);

    let error_lines: Vec<&str> = logs.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(
        error_lines.is_empty(),
        "errors logged:\n{}",
        error_lines.join("\n")
    );

    assert_eq!(read_errors, 0, "reads that did not answer 200");

    // One tier-raw, alone on a database of its own, directly on PostgreSQL.
    let alone = TestApp::spawn(tier_raw::connect).await;
    let reference = run_round_robin(&alone.client, std::slice::from_ref(&alone.base_url)).await;
    let statuses: std::collections::BTreeSet<u64> = reference
        .iter()
        .filter_map(|t| t["status"].as_u64())
        .collect();
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        [200, 201, 204, 400, 404, 405, 409, 413, 415, 422]
    );
    assert_eq!(round_robin.len(), reference.len());
    for (i, (one, six)) in reference.iter().zip(&round_robin).enumerate() {
        let to = TIERS[i % bases.len() % TIERS.len()];
        assert_eq!(
            one, six,
            "\nstep {i}, served by a {to}, differs from one tier-raw alone:\n alone: {one:#}\n six: {six:#}"
        );
    }
    let asked = 2 * TIERS.len() * INSTANCE_POOL_SIZE;
    println!(
        "FIGURE {} instances ({}, two each) behind PgBouncer: at most {} server connections \
         to the database (PgBouncer pool {POOLER_SIZE}), at most {} PgBouncer clients, the \
         pools' sizes sum to {asked}; {} script steps round robin and {reads_done} \
         concurrent reads, 0 errors",
        bases.len(),
        TIERS.join(", "),
        seen.server,
        seen.clients,
        reference.len()
    );
    assert!(
        seen.server >= 1 && seen.server <= POOLER_SIZE,
        "PostgreSQL saw {} connections to the database; PgBouncer's pool is {POOLER_SIZE}",
        seen.server
    );
    assert!(
        seen.clients > POOLER_SIZE,
        "the six pools held only {} connections to PgBouncer: the test did not make them \
         ask for more than its pool of {POOLER_SIZE}",
        seen.clients
    );
}

/// `GET /health` and `GET /users?limit=5` to every instance, 4 at a time per instance,
/// until `go_on` is cleared; returns the requests made and those not answered 200.
async fn read_all_along(bases: Vec<String>, go_on: Arc<AtomicBool>) -> (usize, usize) {
    let client = reqwest::Client::new();
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let readers = bases.iter().flat_map(|base| {
        (0..4).map(|n| {
            let (client, base, go_on) = (client.clone(), base.clone(), go_on.clone());
            let (done, failed) = (done.clone(), failed.clone());
            async move {
                let path = if n % 2 == 0 {
                    "/health"
                } else {
                    "/users?limit=5"
                };
                while go_on.load(Ordering::Relaxed) {
                    let answered = client.get(format!("{base}{path}")).send().await;
                    if !matches!(&answered, Ok(r) if r.status() == 200) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    });
    futures::future::join_all(readers).await;
    (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
}

/// The most connections seen at once.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// PostgreSQL's sessions on the database (`pg_stat_activity`).
    server: usize,
    /// PgBouncer's client connections for the database (`SHOW CLIENTS`).
    clients: usize,
}

/// Samples both counts every 10 ms until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Seen>,
}

impl Sampler {
    async fn start(database: &str, pgbouncer_port: u16) -> Self {
        let admin = connect(admin_database().url().expose_secret()).await;
        // PgBouncer's console: the `pgbouncer` database, for its admin_users.
        let console_url = format!(
            "postgres://{}@127.0.0.1:{pgbouncer_port}/pgbouncer",
            admin_database().user()
        );
        let console = connect(&console_url).await;
        let stop = Arc::new(AtomicBool::new(false));
        let database = database.to_owned();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut seen = Seen::default();
            while !stopped.load(Ordering::Relaxed) {
                let row = admin
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                        &[&database],
                    )
                    .await
                    .expect("count the sessions");
                let server = usize::try_from(row.get::<_, i64>(0)).unwrap_or(usize::MAX);
                seen.server = seen.server.max(server);
                seen.clients = seen
                    .clients
                    .max(pgbouncer_clients(&console, &database).await);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            seen
        });
        Self { stop, task }
    }

    async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("the sampler ran")
    }
}

/// The rows of PgBouncer's `SHOW CLIENTS` for `database` (the console speaks only the
/// simple query protocol).
async fn pgbouncer_clients(console: &tokio_postgres::Client, database: &str) -> usize {
    let messages = console
        .simple_query("SHOW CLIENTS")
        .await
        .expect("SHOW CLIENTS on PgBouncer's console");
    messages
        .iter()
        .filter(|message| {
            matches!(message, tokio_postgres::SimpleQueryMessage::Row(row)
                if row.get("database") == Some(database))
        })
        .count()
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("connect for the sampler: {err}"));
    tokio::spawn(connection);
    client
}

/// The three tiers' binaries, brought up to date by `cargo build` (the same profile as
/// this test), in the directory this test binary was built into.
fn tier_binaries() -> Vec<PathBuf> {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/several_instances-HASH
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>")
        .to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--quiet"]);
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    for tier in TIERS {
        build.args(["-p", tier]);
    }
    let status = build.status().expect("run cargo build");
    assert!(
        status.success(),
        "cargo build of the tiers failed: {status}"
    );
    TIERS.iter().map(|tier| profile_dir.join(tier)).collect()
}
