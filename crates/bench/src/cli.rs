//! The command line, and the [`Plan`] it resolves to.
//!
//! Every option has a default for the full run; `--quick` swaps in smaller ones
//! (fewer rows, one round, short windows, three workloads) so that a run finishes in
//! under a minute on a 2-core machine. An option given explicitly always wins over
//! both, so `--quick --workloads get` is a quick run of `get` alone.
//!
//! The tier rows (`--tiers`, `--variant`, `--fastapi`) are built in `cli/tier_spec.rs` ([`TierSpec`]);
//! where the database URL comes from is decided in [`database_url`] alone.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use users_api::DatabaseConfig;

pub mod database_url;
#[cfg(test)]
mod tests;
mod tier_spec;

pub use tier_spec::{Route, Server, Stack, TierKind, TierLabel, TierSpec, UNNAMED, Variant};
use tier_spec::{parse_env_pair, parse_variant};

use crate::seed::Seeded;
use crate::workload::Workload;

/// `cargo run -p bench --release -- [options]`: measures the three /users tiers.
#[derive(Debug, Parser)]
#[command(name = "bench", version, about, long_about = None)]
pub struct Options {
    /// Users seeded into the bench database [default: 10000; --quick: 2000].
    #[arg(long)]
    pub rows: Option<u64>,
    /// Posts seeded per user, authors dealt out in turn (so `--rows 1000` makes 10,000 posts).
    #[arg(long, default_value_t = 10)]
    pub posts_per_user: u64,
    /// Concurrent keep-alive HTTP connections (and pgbench clients).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Measured seconds per run [default: 8; --quick: 2].
    #[arg(long)]
    pub duration: Option<f64>,
    /// Warm-up seconds before each measured window [default: 2; --quick: 0.5].
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Rounds of A B C ...; the report shows the median over rounds [default: 3; --quick: 1].
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Workloads, comma-separated [default: get,list,create,update,mixed,posts,user-posts;
    /// --quick: get,list,mixed]. Also: list-first, list-last, batch (compared with create:
    /// run both) and export (one whole export per tier and round; its target is set for
    /// --rows 1000000).
    #[arg(long, value_delimiter = ',')]
    pub workloads: Option<Vec<Workload>>,
    /// Tiers, comma-separated [default: raw,sqlx,orm,raw-pipelined].
    #[arg(long, value_delimiter = ',')]
    pub tiers: Option<Vec<TierKind>>,
    /// A run that finishes in under a minute (release binaries already built).
    #[arg(long)]
    pub quick: bool,
    /// Admin connection to the server (default: what the tiers use, from $DATABASE_URL,
    /// the DB_* pieces or .env, else postgres://postgres:postgres@localhost:5432/users_course).
    /// Only its server and credentials are used; the bench database is created beside it.
    #[arg(long)]
    pub database_url: Option<String>,
    /// The dedicated database, dropped and recreated at every run.
    #[arg(long, default_value = "users_bench")]
    pub bench_database: String,
    /// Where report.md, report.json and report.svg go (default: WORKSPACE/target/bench).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not run `cargo build --release` for the tiers; use the binaries as they are.
    #[arg(long)]
    pub no_build: bool,
    /// Extra environment for every tier process, e.g. `--env DB_POOL_SIZE=32` (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    pub env: Vec<(String, String)>,
    /// An extra row: a tier with extra environment, measured in the same rounds as the
    /// others, so a tuning is shown before and after in one run (repeatable). E.g.
    /// `--variant raw:TOKIO_WORKER_THREADS=1` or `--variant sqlx:DB_POOL_SIZE=32,TOKIO_WORKER_THREADS=1`.
    #[arg(long, value_name = "TIER:KEY=VALUE[,KEY=VALUE...]", value_parser = parse_variant)]
    pub variant: Vec<Variant>,
    /// Sequential requests per tier and workload through the counting proxy [default: 200; --quick: 50].
    #[arg(long)]
    pub round_trip_requests: Option<usize>,
    /// Seconds per pgbench ceiling (whole seconds) [default: 8; --quick: 2].
    #[arg(long)]
    pub pgbench_duration: Option<u64>,
    /// Skip the pgbench ceilings.
    #[arg(long)]
    pub no_pgbench: bool,
    /// Skip the round-trip counts through the proxy.
    #[arg(long)]
    pub no_round_trips: bool,
    /// Keep the bench database after the run (it is dropped by default).
    #[arg(long)]
    pub keep_database: bool,
    /// A soak instead of the benchmark: SECONDS of steady mixed load per tier, sampled
    /// every minute (every 10 s up to 60 s); writes soak.md and soak.json.
    #[arg(long, value_name = "SECONDS")]
    pub soak: Option<u64>,
    /// Connections of the soak's mixed load, kept under the tiers' MAX_IN_FLIGHT.
    #[arg(long, default_value_t = 16)]
    pub soak_connections: usize,
    /// Two more rows per tier, in the same rounds: DB_PREPARED_STATEMENTS=false straight
    /// to PostgreSQL, and the same through a PgBouncer (transaction mode, from
    /// deploy/pgbouncer/pgbouncer.ini) that the bench starts; the report adds PostgreSQL's
    /// and PgBouncer's CPU per request. Needs `pgbouncer` installed.
    #[arg(long)]
    pub pooler: bool,
    /// Do not run wrk after each tier's get workload (it runs when `wrk` is installed).
    #[arg(long)]
    pub no_wrk: bool,
    /// After each tier's closed-loop `get` in a round, drive the same tier at fixed rates
    /// (`--open-loop-levels` of the req/s it just measured), latencies counted from when
    /// each request was due: tails free of coordinated omission [default: on; --quick: off].
    #[arg(long, conflicts_with = "no_open_loop")]
    pub open_loop: bool,
    /// Leave the open-loop runs out of the full run.
    #[arg(long)]
    pub no_open_loop: bool,
    /// The open loop's rates, in percent of the tier's closed-loop `get` req/s.
    #[arg(long, value_delimiter = ',', default_value = "50,80")]
    pub open_loop_levels: Vec<u32>,
    /// Three more rows, in the same rounds: the course's FastAPI originals
    /// (baseline/fastapi/: asyncpg, databases, SQLAlchemy), each right after the tier
    /// ported from it (raw, sqlx, orm), in the workloads they serve (get and the
    /// lists); the report gives each tier's ratio to its original. The first use
    /// installs their virtual environment from PyPI (python3 with venv needed).
    #[arg(long)]
    pub fastapi: bool,
}

/// Everything a run will do, with every default filled in.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Users seeded.
    pub rows: u64,
    /// Posts seeded per user.
    pub posts_per_user: u64,
    /// HTTP connections (and pgbench clients).
    pub connections: usize,
    /// Warm-up before each measured window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Rounds of every tier in turn.
    pub rounds: usize,
    /// Workloads, in the order they run.
    pub workloads: Vec<Workload>,
    /// Tier rows, in the order they run within a round.
    pub tiers: Vec<TierSpec>,
    /// `--quick` was given.
    pub quick: bool,
    /// The server and credentials (the `postgres` maintenance database).
    pub admin: DatabaseConfig,
    /// The dedicated bench database on the same server.
    pub bench_db: DatabaseConfig,
    /// Where the report files go.
    pub out: PathBuf,
    /// Run `cargo build --release` for the tiers first.
    pub build: bool,
    /// Extra environment for every tier.
    pub env: Vec<(String, String)>,
    /// Sequential requests per round-trip count (0: skip the counts).
    pub round_trip_requests: usize,
    /// Workloads whose round trips are also counted under load (`--quick`: only get).
    pub round_trip_load: Vec<Workload>,
    /// Whole seconds per pgbench ceiling (0: skip pgbench).
    pub pgbench_seconds: u64,
    /// Drop the bench database at the end.
    pub drop_database: bool,
    /// `--soak`: load each tier this long instead of the benchmark (`crate::soak`).
    pub soak: Option<Duration>,
    /// Connections of the soak's mixed load.
    pub soak_connections: usize,
    /// `--pooler`: every tier also runs unnamed, direct and through PgBouncer.
    pub pooler: bool,
    /// Run wrk after each tier's `get` (not `--no-wrk`, and `wrk` is on PATH).
    pub wrk: bool,
    /// Why wrk does not run, for the report (`None` when it does).
    pub wrk_note: Option<String>,
    /// The workspace (where wrk's Lua script lives).
    pub root: PathBuf,
    /// `--open-loop`: the open loop's rates after each closed-loop `get`, in percent of
    /// its req/s (empty: no open loop; `crate::tails`).
    pub open_loop_levels: Vec<u32>,
}

impl Options {
    /// Fills in the defaults (`--quick` ones if asked) and checks the values.
    /// `env_database_url` is [`database_url::from_environment`], passed in so tests need
    /// no environment; [`database_url::choose`] decides between it and `--database-url`.
    pub fn plan(
        &self,
        env_database_url: Option<String>,
        workspace_root: &std::path::Path,
    ) -> anyhow::Result<Plan> {
        let quick = self.quick;
        let pick = |given: Option<f64>, full: f64, fast: f64| {
            given.unwrap_or(if quick { fast } else { full })
        };
        let seconds = |name: &str, value: f64| -> anyhow::Result<Duration> {
            Duration::try_from_secs_f64(value)
                .ok()
                .filter(|d| *d <= Duration::from_secs(3600))
                .with_context(|| format!("--{name} must be between 0 and 3600 seconds"))
        };
        let rows = self.rows.unwrap_or(if quick { 2_000 } else { 10_000 });
        anyhow::ensure!(
            (100..=100_000_000).contains(&rows),
            "--rows must be between 100 and 100,000,000"
        );
        anyhow::ensure!(
            self.posts_per_user <= 1000,
            "--posts-per-user must be at most 1,000"
        );
        anyhow::ensure!(
            (1..=1000).contains(&self.connections),
            "--connections must be between 1 and 1000"
        );
        let duration = seconds("duration", pick(self.duration, 8.0, 2.0))?;
        anyhow::ensure!(
            duration >= Duration::from_millis(100),
            "--duration must be at least 0.1 s"
        );
        let rounds = self.rounds.unwrap_or(if quick { 1 } else { 3 });
        anyhow::ensure!((1..=100).contains(&rounds), "--rounds must be 1 to 100");
        let workloads = dedup(self.workloads.clone().unwrap_or_else(|| {
            if quick {
                vec![Workload::Get, Workload::List, Workload::Mixed]
            } else {
                vec![
                    Workload::Get,
                    Workload::List,
                    Workload::Create,
                    Workload::Update,
                    Workload::Mixed,
                    Workload::Posts,
                    Workload::UserPosts,
                ]
            }
        }));
        let tiers = dedup(self.tiers.clone().unwrap_or_else(|| {
            vec![
                TierKind::Raw,
                TierKind::Sqlx,
                TierKind::Orm,
                TierKind::RawPipelined,
            ]
        }));
        anyhow::ensure!(!workloads.is_empty(), "--workloads is empty");
        // A page of `posts` must be a full one, as `list` is (`--rows` is at least 100).
        anyhow::ensure!(
            self.posts_per_user > 0
                || !workloads
                    .iter()
                    .any(|w| matches!(w, Workload::Posts | Workload::UserPosts)),
            "the posts workloads need --posts-per-user of at least 1"
        );
        anyhow::ensure!(!tiers.is_empty(), "--tiers is empty");
        // The soak reads seeded posts, and must not be shed by MAX_IN_FLIGHT.
        if let Some(soak) = self.soak {
            anyhow::ensure!(
                (5..=86_400).contains(&soak),
                "--soak must be between 5 and 86,400 seconds"
            );
            anyhow::ensure!(
                self.posts_per_user > 0,
                "the soak reads posts: it needs --posts-per-user of at least 1"
            );
            anyhow::ensure!(
                (1..=60).contains(&self.soak_connections),
                "--soak-connections must be between 1 and 60 (under MAX_IN_FLIGHT)"
            );
            anyhow::ensure!(!self.pooler, "--pooler is for the benchmark, not --soak");
            anyhow::ensure!(!self.fastapi, "--fastapi is for the benchmark, not --soak");
        }
        // The tiers are deduplicated above; a variant's label names its environment,
        // so the same label twice is the same variant given twice.
        // With --pooler each tier brings its two other rows along, next to it; with
        // --fastapi raw, sqlx and orm bring their FastAPI original, right after them,
        // so the two of a pair run one after the other in every round.
        let originals = |kind: TierKind| {
            Stack::ALL
                .into_iter()
                .filter(move |stack| self.fastapi && stack.tier() == kind)
                .map(Stack::spec)
        };
        anyhow::ensure!(
            !self.fastapi || tiers.iter().any(|kind| originals(*kind).next().is_some()),
            "--fastapi pairs each FastAPI stack with tier raw, sqlx or orm: add one to --tiers"
        );
        let tiers: Vec<TierSpec> = tiers
            .into_iter()
            .flat_map(|kind| {
                let [named, unnamed, pooled] = kind.pooler_rows();
                let mut rows = if self.pooler {
                    vec![named, unnamed, pooled]
                } else {
                    vec![named]
                };
                rows.extend(originals(kind));
                rows
            })
            .chain(self.variant.iter().map(Variant::spec))
            .collect();
        for (i, spec) in tiers.iter().enumerate() {
            anyhow::ensure!(
                !tiers[..i].iter().any(|earlier| earlier.label == spec.label),
                "--variant {:?} is given twice",
                spec.label.as_str()
            );
        }
        let url = database_url::choose(self.database_url.clone(), env_database_url);
        // Parsed by the contract's own type: the password stays in a secret, and every
        // message about a bad URL leaves it out.
        let server = DatabaseConfig::parse(&url).context("--database-url / DATABASE_URL")?;
        anyhow::ensure!(
            !self.bench_database.is_empty() && self.bench_database != "postgres",
            "--bench-database must name a database of its own (it is dropped at every run)"
        );
        let open_loop_levels = self.open_loop_levels(quick, &workloads)?;
        // Each costs a 1.3 s window per tier; --quick keeps the one that matters most.
        let round_trip_load = if quick {
            workloads
                .iter()
                .copied()
                .filter(|w| *w == Workload::Get)
                .collect()
        } else {
            workloads.clone()
        };
        let wrk_note = if self.no_wrk {
            Some("wrk not run (--no-wrk)".to_owned())
        } else if !crate::wrk::installed() {
            Some(crate::wrk::NOT_INSTALLED.to_owned())
        } else {
            None
        };
        Ok(Plan {
            rows,
            posts_per_user: self.posts_per_user,
            connections: self.connections,
            warmup: seconds("warmup", pick(self.warmup, 2.0, 0.5))?,
            duration,
            rounds,
            workloads,
            tiers,
            quick,
            admin: server.with_database("postgres"),
            bench_db: server.with_database(&self.bench_database),
            out: self
                .out
                .clone()
                .unwrap_or_else(|| workspace_root.join("target").join("bench")),
            build: !self.no_build,
            env: self.env.clone(),
            round_trip_requests: if self.no_round_trips {
                0
            } else {
                self.round_trip_requests
                    .unwrap_or(if quick { 50 } else { 200 })
            },
            round_trip_load,
            pgbench_seconds: if self.no_pgbench {
                0
            } else {
                self.pgbench_duration.unwrap_or(if quick { 2 } else { 8 })
            },
            drop_database: !self.keep_database,
            soak: self.soak.map(Duration::from_secs),
            soak_connections: self.soak_connections,
            pooler: self.pooler,
            wrk: wrk_note.is_none(),
            wrk_note,
            root: workspace_root.to_path_buf(),
            open_loop_levels,
        })
    }

    /// The open loop's levels: on in the full run, off in `--quick`, either way as
    /// asked; it needs the `get` workload, whose rate it takes a share of.
    fn open_loop_levels(&self, quick: bool, workloads: &[Workload]) -> anyhow::Result<Vec<u32>> {
        let on = self.open_loop || (!quick && !self.no_open_loop);
        if !on || self.soak.is_some() {
            return Ok(Vec::new());
        }
        if !workloads.contains(&Workload::Get) {
            anyhow::ensure!(
                !self.open_loop,
                "--open-loop drives get at a share of its measured rate: add get to --workloads"
            );
            return Ok(Vec::new());
        }
        let levels = dedup(self.open_loop_levels.clone());
        anyhow::ensure!(
            !levels.is_empty() && levels.iter().all(|l| (1..=100).contains(l)),
            "--open-loop-levels are percentages from 1 to 100"
        );
        Ok(levels)
    }
}

impl Plan {
    /// What the bench database holds once seeded.
    pub fn seeded(&self) -> Seeded {
        Seeded {
            users: self.rows,
            posts_per_user: self.posts_per_user,
        }
    }
}

/// Keeps the first of each repeated item, in order.
fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}
