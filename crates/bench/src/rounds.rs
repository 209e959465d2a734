//! The timed rounds: A B C A B C ..., one tier alive at a time.
//!
//! In each round every tier in turn is started as a child process, driven through
//! every workload (warm-up, then the measured window), and stopped. Only one tier is
//! alive at a time, so it has the machine to itself; alternating the tiers round by
//! round spreads any drift in machine speed over all of them. Each window also
//! records where the CPU went: the tier, the database's server processes (those of
//! the bench database, and every `postgres` process but other databases'), PgBouncer for a pooled row
//! (started with the tier, [`crate::pooler`]), the load generator (this process) and
//! the whole machine.
//!
//! After the `get` workload, wrk drives the same warm tier for the same window
//! ([`crate::wrk`]), so the report can put the two generators side by side.
//! With `--open-loop`, a tier's `get` is followed by the same tier driven at fixed
//! rates ([`tails::after_get`]).
//!
//! The `export` workload is not a request rate: in its turn, the tier streams one whole
//! export to one client while its memory is watched ([`crate::export::measure`]).
//!
//! The figures are filed by tier label and workload ([`CellKey`]); a tier that does
//! not start is left out of the remaining rounds and noted, and the others go on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::cli::{Plan, TierLabel, TierSpec};
use crate::loadgen::{self, Window};
use crate::pooler::Upstream;
use crate::report::{CellKey, ExportRun, RunFigures, TailRun};
use crate::server_cpu::{self, ServerCpu};
use crate::tiers::{self, TierProcess};
use crate::workload::Workload;
use crate::wrk::WrkRun;
use crate::{export, seed, tails};

/// What the rounds measured.
#[derive(Debug, Clone, Default)]
pub struct Rounds {
    /// Every round's figures, per tier and request-rate workload.
    pub runs: BTreeMap<CellKey, Vec<RunFigures>>,
    /// Every round's export, per tier (filed under the `export` workload).
    pub exports: BTreeMap<CellKey, Vec<ExportRun>>,
    /// wrk's runs of the `get` workload, per tier (when wrk runs).
    pub wrk: BTreeMap<CellKey, Vec<WrkRun>>,
    /// Every round's open-loop runs after the closed-loop `get` ([`tails`]).
    pub tails: Vec<TailRun>,
    /// Tiers that did not start, in the order they failed; left out of later rounds.
    pub broken: Vec<TierLabel>,
    /// Why each of them was left out.
    pub notes: Vec<String>,
}

/// Runs `plan.rounds` rounds of every tier in `tiers` through every workload, tidying
/// the bench database (`db`) after each workload that writes.
pub async fn run_rounds(
    plan: &Plan,
    tiers: &[TierSpec],
    db: &tokio_postgres::Client,
) -> anyhow::Result<Rounds> {
    let mut rounds = Rounds::default();
    for round in 1..=plan.rounds {
        for spec in tiers {
            if rounds.broken.contains(&spec.label) {
                continue;
            }
            let started = match start(spec, plan).await {
                Ok(started) => started,
                Err(err) => {
                    eprintln!("bench: {err:#}");
                    rounds
                        .notes
                        .push(format!("{} did not start: {err:#}", spec.label));
                    rounds.broken.push(spec.label.clone());
                    continue;
                }
            };
            let (upstream, tier) = (&started.0, &started.1);
            for workload in &plan.workloads {
                if !spec.serves(*workload) {
                    continue;
                }
                let key = CellKey::new(&spec.label, *workload);
                if !workload.request_rate() {
                    let run = export::measure(tier, plan.rows, round).await;
                    eprintln!(
                        "bench: round {round}/{} {:<22} {:<10} {:>8} rows/s  {:.1} MB/s  RSS {} -> peak {} MB{}",
                        plan.rounds,
                        spec.label.as_str(),
                        workload.name(),
                        crate::report::thousands(run.rows_per_s()),
                        run.mb_per_s(),
                        mb(run.rss_before_bytes),
                        mb(run.peak_bytes()),
                        run.error
                            .as_ref()
                            .map_or(String::new(), |e| format!("  FAILED: {e}"))
                    );
                    rounds.exports.entry(key).or_default().push(run);
                    continue;
                }
                let figures = measure(db, tier, upstream, *workload, plan, round).await?;
                let progress = |rps: f64, p50_ms: f64, p99_ms: f64, errors: u64, by: &str| {
                    eprintln!(
                        "bench: round {round}/{} {:<22} {:<10} {:>8} req/s  p50 {p50_ms:.2} ms  p99 {p99_ms:.2} ms  errors {errors}{by}",
                        plan.rounds,
                        spec.label.as_str(),
                        workload.name(),
                        crate::report::thousands(rps),
                    );
                };
                progress(
                    figures.rps,
                    figures.p50_ms,
                    figures.p99_ms,
                    figures.errors,
                    "",
                );
                for sample in &figures.error_samples {
                    eprintln!("bench:   error: {sample}");
                }
                let get_rps = (*workload == Workload::Get).then_some(figures.rps);
                rounds.runs.entry(key.clone()).or_default().push(figures);
                // wrk against the same warm tier, right after the bench's own `get`.
                if *workload == Workload::Get && plan.wrk {
                    let ran = crate::wrk::run(
                        &plan.root,
                        tier.addr(),
                        plan.connections,
                        plan.duration,
                        plan.rows,
                        round,
                    )
                    .await;
                    match ran {
                        Ok(run) => {
                            let errors = run.non_2xx + run.socket_errors;
                            progress(run.rps, run.p50_ms, run.p99_ms, errors, "  (wrk)");
                            rounds.wrk.entry(key).or_default().push(run);
                        }
                        Err(err) => {
                            eprintln!("bench: wrk: {err:#}");
                            rounds.notes.push(format!("{} wrk: {err:#}", spec.label));
                        }
                    }
                }
                if let Some(rps) = get_rps {
                    let runs = tails::after_get(tier, plan, round, &spec.label, rps).await;
                    rounds.tails.extend(runs);
                }
                if workload.writes() {
                    seed::tidy(db, plan.seeded()).await?;
                }
            }
            let (upstream, tier) = started;
            tier.stop().await?;
            upstream.stop().await;
        }
    }
    Ok(rounds)
}

/// Starts `spec`'s upstream (a PgBouncer of its own for a pooled row), then the tier
/// against it; a tier that fails to start behind PgBouncer says what PgBouncer logged.
pub(crate) async fn start(spec: &TierSpec, plan: &Plan) -> anyhow::Result<(Upstream, TierProcess)> {
    let upstream = Upstream::start(spec, &plan.bench_db, &plan.env).await?;
    match TierProcess::start(spec, upstream.database().url(), &plan.env).await {
        Ok(tier) => Ok((upstream, tier)),
        Err(err) => {
            let log = upstream.log_tail();
            upstream.stop().await;
            if log.is_empty() {
                Err(err)
            } else {
                Err(err.context(format!("PgBouncer logged:\n{log}")))
            }
        }
    }
}

/// One measured run: warm-up, then the window, sampling the tier's CPU time at both
/// ends of the window and its peak RSS after it.
async fn measure(
    db: &tokio_postgres::Client,
    tier: &TierProcess,
    upstream: &Upstream,
    workload: Workload,
    plan: &Plan,
    round: usize,
) -> anyhow::Result<RunFigures> {
    let _ = tier.reset_peak_rss();
    let window = Window::after(plan.warmup, plan.duration);
    let own_pid = std::process::id();
    let sample = || {
        (
            tier.cpu_time().ok(),
            tiers::process_cpu_time(own_pid).ok(),
            tiers::machine_busy_time().ok(),
        )
    };
    let database = plan.bench_db.name();
    // Where the CPU goes in the window: the tier, the load generator (this process),
    // the database's server processes, and the whole machine.
    let sampler = async {
        tokio::time::sleep_until(window.start.into()).await;
        let backends_before = tiers::backend_cpu_times(db, database).await.ok();
        let others_before = server_cpu::other_databases(db, database).await;
        let servers_before = ServerCpu::now();
        let before = sample();
        let started = Instant::now();
        tokio::time::sleep_until(window.end.into()).await;
        let after = sample();
        let elapsed = started.elapsed();
        let servers_after = ServerCpu::now();
        let others_after = server_cpu::other_databases(db, database).await;
        let backends_after = tiers::backend_cpu_times(db, database).await.ok();
        // PostgreSQL's processes (but for other databases' backends), and PgBouncer's
        // when there is one.
        let servers = match (servers_before, servers_after, others_before, others_after) {
            (Some(before), Some(after), Ok(mut others), Ok(later)) => {
                others.extend(later);
                Some(before.without(&others).until(&after.without(&others)))
            }
            _ => None,
        };
        let delta = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64() * 1000.0),
            _ => None,
        };
        let machine_ms = delta(before.2, after.2);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        CpuSplit {
            tier_ms: delta(before.0, after.0),
            loadgen_ms: delta(before.1, after.1),
            db_ms: backends_before
                .zip(backends_after)
                .map(|(b, a)| tiers::backend_cpu_delta_ms(&b, &a)),
            machine_ms,
            busy_percent: machine_ms
                .map(|ms| ms / (elapsed.as_secs_f64() * 1000.0 * cores) * 100.0),
            postgres_ms: servers.map(|(postgres, _)| postgres),
            pgbouncer_ms: servers
                .filter(|_| upstream.pooled())
                .map(|(_, pgbouncer)| pgbouncer),
        }
    };
    let (load, cpu) = tokio::join!(
        loadgen::run(
            tier.addr(),
            workload,
            plan.seeded(),
            plan.connections,
            window
        ),
        sampler
    );
    let load = load?;
    let quantile_ms = |q: f64| load.latency_us.value_at_quantile(q) as f64 / 1000.0;
    Ok(RunFigures {
        round,
        requests: load.requests,
        rps: load.rps(),
        p50_ms: quantile_ms(0.5),
        p99_ms: quantile_ms(0.99),
        p999_ms: quantile_ms(0.999),
        max_ms: load.latency_us.max() as f64 / 1000.0,
        errors: load.errors,
        error_samples: load.error_samples,
        // Without the reset (an old kernel), VmHWM is the peak since start-up: the
        // peak of all workloads so far, still a true upper bound.
        peak_rss_bytes: tier.peak_rss_bytes().ok(),
        cpu_ms: cpu.tier_ms,
        loadgen_cpu_ms: cpu.loadgen_ms,
        db_cpu_ms: cpu.db_ms,
        machine_cpu_ms: cpu.machine_ms,
        machine_busy_percent: cpu.busy_percent,
        postgres_cpu_ms: cpu.postgres_ms,
        pgbouncer_cpu_ms: cpu.pgbouncer_ms,
    })
}

/// Bytes as MB with one decimal, for the progress lines (`?` if unknown).
fn mb(bytes: Option<u64>) -> String {
    bytes.map_or("?".to_owned(), |b| format!("{:.1}", b as f64 / 1e6))
}

/// CPU time in one measured window, ms, by who spent it.
struct CpuSplit {
    tier_ms: Option<f64>,
    loadgen_ms: Option<f64>,
    db_ms: Option<f64>,
    machine_ms: Option<f64>,
    busy_percent: Option<f64>,
    postgres_ms: Option<f64>,
    pgbouncer_ms: Option<f64>,
}
