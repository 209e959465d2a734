//! The soak: `cargo run -p bench --release -- --soak SECONDS`.
//!
//! Each tier in turn (`--tiers`) is started as the timed rounds start it, and driven
//! for SECONDS by a steady mixed load: `--soak-connections` keep-alive connections
//! (16 by default, well under the tiers' `MAX_IN_FLIGHT`, so nothing is shed) drawing
//! reads, lists, writes, deletes and batches from `soak/mix.rs`, plus one more that
//! streams a whole export every [`EXPORT_EVERY`]. Every minute (every 10 s when the
//! soak lasts a minute or less, so a short run still has a trend) and at the end, it
//! samples what the tier holds:
//!
//! * resident memory: `VmRSS` of `/proc/PID/status`;
//! * open file descriptors: the entries of `/proc/PID/fd` (sockets to clients and to
//!   the database, the listener, the runtime's own);
//! * database sessions: the rows of `pg_stat_activity` in the bench database whose
//!   `application_name` is the tier's package name (every tier sets it to its name);
//! * requests and errors so far.
//!
//! The report (`soak.md`, `soak.json` in `--out`) is `report/soak.rs`: a table per
//! tier, and whether memory after the last sample stayed within 5 % of after the
//! first, with no errors. Between tiers the tables are put back to their seeded size.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cli::{Plan, TierSpec};
use crate::loadgen::{self, REQUEST_TIMEOUT, Rng};
use crate::machine::Machine;
use crate::report::{SoakReport, SoakSample, SoakTier};
use crate::seed::{self, Seeded};
use crate::tiers::{self, TierProcess};
use crate::{export, run};

pub mod mix;

/// How often the export connection streams a whole export.
pub const EXPORT_EVERY: Duration = Duration::from_secs(20);

/// How long the load goes on after the last sample, so that sample sees the tier
/// under load like every other one (not its connections closing as the load stops).
const LOAD_AFTER_LAST_SAMPLE: Duration = Duration::from_secs(1);

/// Failures kept as text per tier, for the report.
const ERROR_SAMPLES: usize = 5;

/// The seconds between samples: 10 for a soak of a minute or less, else 60.
pub fn sample_every(total: Duration) -> Duration {
    if total <= Duration::from_secs(60) {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(60)
    }
}

/// When to sample, counted from the start of the load: every [`sample_every`], and at
/// the end (which is the last of them when the soak is a whole number of steps).
pub fn schedule(total: Duration) -> Vec<Duration> {
    let step = sample_every(total);
    let mut times = Vec::new();
    let mut at = step;
    while at < total {
        times.push(at);
        at += step;
    }
    times.push(total);
    times
}

/// The whole soak, from a plan with `soak` set to the written report. `Ok(false)` when
/// a tier did not build or start (missed targets are said in the report only).
pub async fn run(plan: &Plan, total: Duration) -> anyhow::Result<bool> {
    let command_line = run::command_line(plan);
    let mut machine = Machine::detect();
    let mut notes = Vec::new();
    let mut ok = true;
    let mut specs = plan.tiers.clone();
    if plan.build {
        let failed = run::build(&specs).await;
        for package in &failed {
            notes.push(format!("{package} did not build: left out"));
            ok = false;
        }
        specs.retain(|spec| spec.package().is_none_or(|p| !failed.contains(&p)));
    }
    let admin = seed::connect(&plan.admin).await?;
    machine.postgres = seed::server_version(&admin).await?;
    seed::recreate_database(&admin, &plan.bench_db).await?;
    let db = seed::connect(&plan.bench_db).await?;
    seed::seed(&db, plan.seeded()).await?;
    std::fs::create_dir_all(&plan.out)
        .with_context(|| format!("creating {}", plan.out.display()))?;
    eprintln!(
        "bench: soak of {} s per tier, {} connections, sampled every {} s",
        total.as_secs(),
        plan.soak_connections,
        sample_every(total).as_secs()
    );

    let mut soaked = Vec::new();
    for spec in &specs {
        match soak_tier(plan, spec, &db, total).await {
            Ok(tier) => soaked.push(tier),
            Err(err) => {
                eprintln!("bench: {err:#}");
                notes.push(format!("{} did not start: {err:#}", spec.label));
                ok = false;
            }
        }
        seed::tidy(&db, plan.seeded()).await?;
    }

    let mut report = SoakReport {
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        command_line,
        machine,
        seconds: total.as_secs(),
        sample_every_s: sample_every(total).as_secs(),
        connections: plan.soak_connections,
        rows: plan.rows,
        posts_per_user: plan.posts_per_user,
        tiers: soaked,
        targets: Vec::new(),
        notes,
    };
    report.check_targets();
    if plan.drop_database {
        drop(db);
        seed::drop_database(&admin, &plan.bench_db).await?;
    }
    let markdown = report.markdown();
    println!("{markdown}");
    for (name, contents) in [
        ("soak.md", markdown),
        ("soak.json", serde_json::to_string_pretty(&report)?),
    ] {
        let path = plan.out.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(ok)
}

/// Requests and errors so far, shared by the connections and read by the sampler.
#[derive(Debug, Default)]
struct Tally {
    requests: AtomicU64,
    errors: AtomicU64,
    exports: AtomicU64,
    error_samples: Mutex<Vec<String>>,
}

impl Tally {
    fn ok(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn fail(&self, what: String) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.errors.fetch_add(1, Ordering::Relaxed);
        // A poisoned lock only loses an error's text; its count is already kept.
        if let Ok(mut samples) = self.error_samples.lock()
            && samples.len() < ERROR_SAMPLES
        {
            samples.push(what);
        }
    }
}

/// One tier's soak: start it, load it for `total`, sample it on [`schedule`], stop it.
async fn soak_tier(
    plan: &Plan,
    spec: &TierSpec,
    db: &tokio_postgres::Client,
    total: Duration,
) -> anyhow::Result<SoakTier> {
    // `--soak` refuses `--fastapi`: every row is a tier's binary.
    let package = spec
        .package()
        .context("the soak runs the tiers' binaries only")?;
    let tier = TierProcess::start(spec, plan.bench_db.url(), &plan.env).await?;
    let tally = Arc::new(Tally::default());
    let probe = |elapsed: Duration| {
        let tally = Arc::clone(&tally);
        let pid = tier.pid();
        async move {
            SoakSample {
                elapsed_s: elapsed.as_secs_f64(),
                rss_bytes: tiers::rss_bytes(pid).ok(),
                fds: open_fds(pid).ok(),
                db_connections: db_sessions(db, plan.bench_db.name(), package).await.ok(),
                requests: tally.requests.load(Ordering::Relaxed),
                errors: tally.errors.load(Ordering::Relaxed),
            }
        }
    };
    let mut samples = vec![probe(Duration::ZERO).await];
    let start = Instant::now();
    let end = start + total;
    let load_end = end + LOAD_AFTER_LAST_SAMPLE;
    let tag: Arc<str> = loadgen::unique_tag().into();
    let mut tasks = tokio::task::JoinSet::new();
    for conn in 0..plan.soak_connections {
        tasks.spawn(mixed_loop(
            tier.addr(),
            plan.seeded(),
            Arc::clone(&tag),
            conn,
            load_end,
            Arc::clone(&tally),
        ));
    }
    tasks.spawn(export_loop(
        tier.addr(),
        plan.rows,
        load_end,
        Arc::clone(&tally),
    ));
    for at in schedule(total) {
        tokio::time::sleep_until((start + at).into()).await;
        let sample = probe(start.elapsed()).await;
        eprintln!(
            "bench: soak {:<22} {:>5.0} s  RSS {:.1} MB  fds {}  sessions {}  requests {}  errors {}",
            spec.label.as_str(),
            sample.elapsed_s,
            sample.rss_bytes.unwrap_or_default() as f64 / 1e6,
            sample.fds.map_or("?".into(), |n| n.to_string()),
            sample.db_connections.map_or("?".into(), |n| n.to_string()),
            sample.requests,
            sample.errors
        );
        samples.push(sample);
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a soak connection panicked")?;
    }
    tier.stop().await?;
    let error_samples = tally
        .error_samples
        .lock()
        .map(|samples| samples.clone())
        .unwrap_or_default();
    Ok(SoakTier {
        label: spec.label.clone(),
        samples,
        requests: tally.requests.load(Ordering::Relaxed),
        errors: tally.errors.load(Ordering::Relaxed),
        error_samples,
        exports: tally.exports.load(Ordering::Relaxed),
    })
}

/// One connection's closed loop of mixed requests until `end`: like the timed
/// rounds' loop, but every answer counts, and what it creates it deletes again.
async fn mixed_loop(
    addr: SocketAddr,
    seeded: Seeded,
    tag: Arc<str>,
    conn: usize,
    end: Instant,
    tally: Arc<Tally>,
) {
    let mut rng = Rng::new(0x50A4_0000 ^ (conn as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut pending = mix::Pending::default();
    let mut sender: Option<loadgen::Connection> = None;
    let mut seq = 0;
    while Instant::now() < end {
        let connection = match sender.as_mut() {
            Some(connection) => connection,
            None => match loadgen::connect(addr).await {
                Ok(connection) => sender.insert(connection),
                Err(err) => {
                    tally.fail(format!("connect: {err}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        seq += 1;
        let (spec, follow) = mix::next(&mut rng, seeded, &tag, conn, seq, &mut pending);
        let sent = loadgen::send_answer(connection, addr, &spec);
        match tokio::time::timeout(REQUEST_TIMEOUT, sent).await {
            Ok(Ok(answer)) if answer.status == spec.expected => {
                tally.ok();
                mix::remember(
                    follow,
                    answer.location.as_deref(),
                    &answer.body,
                    &mut pending,
                );
            }
            Ok(Ok(answer)) => {
                tally.fail(format!(
                    "{} {} answered {}",
                    spec.method, spec.path, answer.status
                ));
            }
            Ok(Err(err)) => {
                sender = None;
                tally.fail(format!("{} {}: {err}", spec.method, spec.path));
            }
            Err(_) => {
                sender = None;
                tally.fail(format!(
                    "{} {}: no answer within {REQUEST_TIMEOUT:?}",
                    spec.method, spec.path
                ));
            }
        }
    }
}

/// A whole export every [`EXPORT_EVERY`] until `end`, on a connection of its own. It
/// must hold every seeded user (the soak's own creates come and go, so it may hold
/// more).
async fn export_loop(addr: SocketAddr, rows: u64, end: Instant, tally: Arc<Tally>) {
    let mut next = Instant::now() + EXPORT_EVERY / 2;
    while next < end {
        tokio::time::sleep_until(next.into()).await;
        next += EXPORT_EVERY;
        match tokio::time::timeout(export::EXPORT_TIMEOUT, export::read_export(addr)).await {
            Ok(Ok(read)) if read.lines >= rows => {
                tally.ok();
                tally.exports.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Ok(read)) => tally.fail(format!(
                "GET /users/export: {} lines, expected at least {rows}",
                read.lines
            )),
            Ok(Err(err)) => tally.fail(format!("GET /users/export: {err:#}")),
            Err(_) => tally.fail("GET /users/export: no end in time".to_owned()),
        }
    }
}

/// How many file descriptors process `pid` has open: one entry of `/proc/PID/fd` each.
pub fn open_fds(pid: u32) -> anyhow::Result<u64> {
    count_entries(Path::new(&format!("/proc/{pid}/fd")))
}

/// The entries of a directory.
fn count_entries(dir: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::read_dir(dir)?.count() as u64)
}

/// The sessions of `database` that `application_name` holds (the tiers name theirs
/// after their package).
async fn db_sessions(
    db: &tokio_postgres::Client,
    database: &str,
    application_name: &str,
) -> anyhow::Result<u64> {
    let row = db
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
            &[&database, &application_name],
        )
        .await?;
    Ok(u64::try_from(row.get::<_, i64>(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_soaks_sample_every_ten_seconds_long_ones_every_minute() {
        let s = Duration::from_secs;
        assert_eq!(schedule(s(60)), [10, 20, 30, 40, 50, 60].map(s));
        assert_eq!(schedule(s(45)), [10, 20, 30, 40, 45].map(s));
        assert_eq!(schedule(s(120)), [60, 120].map(s));
        assert_eq!(schedule(s(150)), [60, 120, 150].map(s));
        assert_eq!(schedule(s(600)).len(), 10);
        assert_eq!(schedule(s(5)), [s(5)]);
    }

    /// The count is of a directory's entries: three files, three; and this process
    /// has at least its stdin, stdout and stderr open.
    #[test]
    fn descriptors_are_the_entries_of_proc_pid_fd() {
        let dir = std::env::temp_dir().join(format!("bench-soak-fds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["0", "1", "2"] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let counted = count_entries(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(counted.unwrap(), 3);
        assert!(open_fds(std::process::id()).unwrap() >= 3);
        assert!(open_fds(u32::MAX).is_err());
    }
}
