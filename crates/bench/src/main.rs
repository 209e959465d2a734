//! The benchmark of issue #5: `cargo run -p bench --release -- [options]`.
//!
//! ```text
//! cargo run -p bench --release -- --quick      # under a minute: the table on stdout
//! cargo run -p bench --release                 # the full run: 3 rounds, 5 workloads
//! cargo run -p bench --release -- --rows 1000000 --workloads list-first,list-last
//! cargo run -p bench --release -- --help
//! ```
//!
//! Needs PostgreSQL at `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! pgbench is used when installed. What happens, in order:
//!
//! 1. `cargo build --release` of the tiers (a no-op when they are up to date);
//! 2. the bench database is recreated and seeded with N users;
//! 3. pgbench measures the database's own ceilings for the get query;
//! 4. rounds: in each round every tier in turn is started as a child process, driven
//!    through every workload (warm-up, then the measured window), and stopped. Only
//!    one tier is alive at a time, so it has the machine to itself; alternating the
//!    tiers round by round spreads any drift in machine speed over all of them;
//! 5. each tier is started once more behind the counting proxy, and a few hundred
//!    sequential requests per workload give the protocol messages and round trips
//!    one request costs;
//! 6. the report: Markdown on stdout and in `target/bench/report.md`, plus
//!    `report.json` and `report.svg`.
//!
//! Everything runs on one thread (a current-thread tokio runtime): the load generator
//! shares the 2 cores with the server and PostgreSQL, and should take as little of
//! them as it can.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bench::cli::{Options, Plan, TierSpec, Workload};
use bench::loadgen::{self, Window};
use bench::machine::Machine;
use bench::pgbench;
use bench::proxy::{PerRequest, Proxy};
use bench::report::{Ceilings, Cell, Report, RunFigures, Settings, Summary, TierFacts};
use bench::seed;
use bench::tiers::{self, TierProcess};
use clap::Parser;
use secrecy::{ExposeSecret, SecretString};
use users_api::DatabaseConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = Options::parse();
    match run(options).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("bench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The whole run; `Ok(false)` when the report was written but something failed.
async fn run(options: Options) -> anyhow::Result<bool> {
    let started = Instant::now();
    let root = tiers::workspace_root();
    let plan = options.plan(std::env::var("DATABASE_URL").ok(), &root)?;
    let command_line = command_line(&plan);
    let mut machine = Machine::detect();
    let mut notes = Vec::new();
    let mut ok = true;
    eprintln!(
        "bench: {} rows, {} connections, {:?} warm-up + {:?} per run, {} round(s), workloads {:?}",
        plan.rows,
        plan.connections,
        plan.warmup,
        plan.duration,
        plan.rounds,
        plan.workloads.iter().map(|w| w.name()).collect::<Vec<_>>()
    );

    // 1. The tiers' release binaries. A tier that does not build is left out, and said so.
    let mut tier_specs = plan.tiers.clone();
    if plan.build {
        let failed = build(&tier_specs).await;
        for package in &failed {
            notes.push(format!(
                "{package} did not build (`cargo build --release -p {package}`): left out"
            ));
            ok = false;
        }
        tier_specs.retain(|spec| !failed.contains(&spec.package));
    }

    // 2. The bench database.
    let admin = seed::connect(&plan.admin).await?;
    machine.postgres = seed::server_version(&admin).await?;
    let seeding = Instant::now();
    seed::recreate_database(&admin, &plan.bench_db).await?;
    let db = seed::connect(&plan.bench_db).await?;
    seed::seed(&db, plan.rows).await?;
    eprintln!(
        "bench: seeded {} with {} users in {:.1} s",
        plan.bench_db,
        plan.rows,
        seeding.elapsed().as_secs_f64()
    );
    std::fs::create_dir_all(&plan.out)
        .with_context(|| format!("creating {}", plan.out.display()))?;

    // 3. The database's own ceilings, while no tier holds connections.
    let ceilings = ceilings(&plan).await;

    // 4. Rounds: A B C A B C ..., one tier alive at a time.
    let mut runs: BTreeMap<(usize, usize), Vec<RunFigures>> = BTreeMap::new();
    let mut broken: Vec<String> = Vec::new();
    for round in 1..=plan.rounds {
        for (t, spec) in tier_specs.iter().enumerate() {
            if broken.contains(&spec.label) {
                continue;
            }
            let tier = match TierProcess::start(spec, plan.bench_db.url(), &plan.env).await {
                Ok(tier) => tier,
                Err(err) => {
                    eprintln!("bench: {err:#}");
                    notes.push(format!("{} did not start: {err:#}", spec.label));
                    broken.push(spec.label.clone());
                    ok = false;
                    continue;
                }
            };
            for (w, workload) in plan.workloads.iter().enumerate() {
                let figures = measure(&db, &tier, *workload, &plan, round).await?;
                eprintln!(
                    "bench: round {round}/{} {:<22} {:<10} {:>8} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}",
                    plan.rounds,
                    spec.label,
                    workload.name(),
                    bench::report::thousands(figures.rps),
                    figures.p50_ms,
                    figures.p99_ms,
                    figures.errors
                );
                for sample in &figures.error_samples {
                    eprintln!("bench:   error: {sample}");
                }
                runs.entry((t, w)).or_default().push(figures);
                if workload.writes() {
                    seed::tidy(&db, plan.rows).await?;
                }
            }
            tier.stop().await?;
        }
    }

    // 5. Round trips per request, through the counting proxy.
    let mut round_trips: BTreeMap<(usize, usize), WireCost> = BTreeMap::new();
    if plan.round_trip_requests > 0 {
        for (t, spec) in tier_specs.iter().enumerate() {
            if broken.contains(&spec.label) {
                continue;
            }
            match count_round_trips(spec, &plan, &db).await {
                Ok(counts) => {
                    for (w, per) in counts.into_iter().enumerate() {
                        round_trips.insert((t, w), per);
                    }
                }
                Err(err) => {
                    notes.push(format!("round trips of {}: {err:#}", spec.label));
                    ok = false;
                }
            }
        }
    }

    // 6. The report.
    let mut results = Vec::new();
    for (w, workload) in plan.workloads.iter().enumerate() {
        for (t, spec) in tier_specs.iter().enumerate() {
            let Some(tier_runs) = runs.remove(&(t, w)) else {
                continue;
            };
            let errors: u64 = tier_runs.iter().map(|r| r.errors).sum();
            if errors > 0 {
                notes.push(format!(
                    "{} {}: {errors} failed requests, e.g. {}",
                    spec.label,
                    workload.name(),
                    tier_runs
                        .iter()
                        .flat_map(|r| r.error_samples.first())
                        .next()
                        .map_or("?", String::as_str)
                ));
            }
            let (sequential, under_load) = match round_trips.remove(&(t, w)) {
                Some(cost) => (Some(cost.sequential), cost.under_load),
                None => (None, None),
            };
            results.push(Cell {
                tier: spec.label.clone(),
                workload: workload.name().to_owned(),
                summary: Summary::of(&tier_runs),
                runs: tier_runs,
                round_trips: sequential,
                round_trips_under_load: under_load,
            });
        }
    }
    for cell in &results {
        if let Some(rt) = &cell.round_trips
            && rt.new_connections > 0
        {
            notes.push(format!(
                "{} {}: {} new database connection(s) opened while counting round trips \
                 (their start-up messages are included)",
                cell.tier, cell.workload, rt.new_connections
            ));
        }
    }
    if !results.iter().any(|c| c.summary.peak_rss_bytes.is_some()) {
        notes.push("peak RSS could not be read from /proc (not Linux?)".into());
    }
    let tiers_measured: Vec<TierFacts> = tier_specs
        .iter()
        .filter(|spec| !broken.contains(&spec.label))
        .map(|spec| TierFacts {
            label: spec.label.clone(),
            package: spec.package.to_owned(),
            env: spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            store_lines: tiers::store_lines(spec.package),
            binary_bytes: tiers::binary_size(spec.package),
        })
        .collect();
    if ceilings
        .note
        .as_deref()
        .is_some_and(|note| note.contains("failed"))
    {
        ok = false;
    }
    let mut report = Report {
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        command_line,
        machine,
        settings: Settings {
            rows: plan.rows,
            connections: plan.connections,
            warmup_s: plan.warmup.as_secs_f64(),
            duration_s: plan.duration.as_secs_f64(),
            rounds: plan.rounds,
            quick: plan.quick,
            workloads: plan.workloads.iter().map(|w| w.name().to_owned()).collect(),
            tiers: tiers_measured.iter().map(|t| t.label.clone()).collect(),
            tier_env: plan.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            database: plan.bench_db.to_string(),
            round_trip_requests: plan.round_trip_requests,
            round_trip_load: plan
                .round_trip_load
                .iter()
                .map(|w| w.name().to_owned())
                .collect(),
        },
        tiers: tiers_measured,
        results,
        pgbench: ceilings,
        targets: Vec::new(),
        notes,
        elapsed_s: 0.0,
    };
    report.check_targets();

    if plan.drop_database {
        drop(db);
        seed::drop_database(&admin, &plan.bench_db).await?;
    }
    report.elapsed_s = started.elapsed().as_secs_f64();
    let markdown = report.markdown();
    println!("{markdown}");
    write_reports(&report, &markdown, &plan)?;
    Ok(ok)
}

/// Builds the tiers' packages together; if that fails, one by one, and returns the
/// packages that do not build (so one broken tier does not stop the others).
async fn build(specs: &[TierSpec]) -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = Vec::new();
    for spec in specs {
        if !packages.contains(&spec.package) {
            packages.push(spec.package);
        }
    }
    eprintln!("bench: cargo build --release -p {}", packages.join(" -p "));
    if tiers::build(&packages).await.is_ok() {
        return Vec::new();
    }
    let mut failed = Vec::new();
    for package in packages {
        if let Err(err) = tiers::build(&[package]).await {
            eprintln!("bench: {err:#}");
            failed.push(package);
        }
    }
    failed
}

/// pgbench's two ceilings, or a note saying why they are missing.
async fn ceilings(plan: &Plan) -> Ceilings {
    let mut ceilings = Ceilings::default();
    if plan.pgbench_seconds == 0 {
        ceilings.note = Some("pgbench skipped (--no-pgbench).".into());
        return ceilings;
    }
    ceilings.version = pgbench::version().await;
    if ceilings.version.is_none() {
        ceilings.note = Some(
            "pgbench is not installed, so the database's ceilings (and the ratios to them) \
             are missing. It comes with PostgreSQL's server package (Debian: postgresql-15)."
                .into(),
        );
        return ceilings;
    }
    let mut problems = Vec::new();
    let prepared = pgbench::run(
        "prepared",
        &pgbench::single_script(),
        1,
        &plan.bench_db,
        &plan.out,
        plan.connections,
        plan.pgbench_seconds,
        plan.rows,
    )
    .await;
    match prepared {
        Ok(c) => {
            eprintln!(
                "bench: pgbench prepared, {} clients: {:.0} tps",
                c.clients, c.tps
            );
            ceilings.prepared = Some(c);
        }
        Err(err) => problems.push(format!("pgbench prepared failed: {err:#}")),
    }
    let pipelined = pgbench::run(
        "pipelined",
        &pgbench::pipelined_script(pgbench::PIPELINE_DEPTH),
        pgbench::PIPELINE_DEPTH,
        &plan.bench_db,
        &plan.out,
        pgbench::PIPELINE_CLIENTS.min(plan.connections),
        plan.pgbench_seconds,
        plan.rows,
    )
    .await;
    match pipelined {
        Ok(c) => {
            eprintln!(
                "bench: pgbench pipelined, {} clients x {} queries: {:.0} queries/s",
                c.clients, c.queries_per_transaction, c.queries_per_second
            );
            ceilings.pipelined = Some(c);
        }
        Err(err) => problems.push(format!("pgbench pipelined failed: {err:#}")),
    }
    if !problems.is_empty() {
        ceilings.note = Some(problems.join("; "));
    }
    ceilings
}

/// One measured run: warm-up, then the window, sampling the tier's CPU time at both
/// ends of the window and its peak RSS after it.
async fn measure(
    db: &tokio_postgres::Client,
    tier: &TierProcess,
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
        let before = sample();
        let started = Instant::now();
        tokio::time::sleep_until(window.end.into()).await;
        let after = sample();
        let elapsed = started.elapsed();
        let backends_after = tiers::backend_cpu_times(db, database).await.ok();
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
        }
    };
    let (load, cpu) = tokio::join!(
        loadgen::run(tier.addr(), workload, plan.rows, plan.connections, window),
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
    })
}

/// CPU time in one measured window, ms, by who spent it.
struct CpuSplit {
    tier_ms: Option<f64>,
    loadgen_ms: Option<f64>,
    db_ms: Option<f64>,
    machine_ms: Option<f64>,
    busy_percent: Option<f64>,
}

/// What the proxy measured for one workload: one request at a time, and under load.
struct WireCost {
    sequential: PerRequest,
    under_load: Option<PerRequest>,
}

/// Starts `spec` behind the counting proxy and measures every workload's messages and
/// round trips per request: first one request at a time (the cost of one request, the
/// definition), then with all connections busy for a short window, where a tier that
/// shares connections (the pipelined mode) needs fewer round trips than requests.
async fn count_round_trips(
    spec: &TierSpec,
    plan: &Plan,
    db: &tokio_postgres::Client,
) -> anyhow::Result<Vec<WireCost>> {
    let upstream = format!("{}:{}", plan.bench_db.host(), plan.bench_db.port());
    let proxy = Proxy::start(upstream).await?;
    let url = via(&plan.bench_db, proxy.addr())?;
    let tier = TierProcess::start(spec, &url, &plan.env).await?;
    let requests = plan.round_trip_requests;
    // Enough warm-up to open the connections the pool keeps and prepare every statement.
    let warmup = (requests / 4).max(20);
    let settle = Duration::from_millis(100);
    let mut out = Vec::new();
    for workload in &plan.workloads {
        for part in workload.parts() {
            loadgen::run_sequential(tier.addr(), part, plan.rows, warmup).await?;
        }
        // Lets work a tier does after answering (sqlx's ping on release) land
        // before the snapshot rather than after it.
        tokio::time::sleep(settle).await;
        let before = proxy.snapshot();
        let failed = loadgen::run_sequential(tier.addr(), *workload, plan.rows, requests).await?;
        tokio::time::sleep(settle).await;
        let counts = proxy.snapshot().since(&before);
        anyhow::ensure!(
            failed == 0,
            "{failed} of {requests} {} requests failed",
            workload.name()
        );
        let sequential = PerRequest::new(&counts, requests);
        let under_load = if plan.round_trip_load.contains(workload) {
            Some(count_under_load(&tier, &proxy, *workload, plan).await?)
        } else {
            None
        };
        eprintln!(
            "bench: {:<22} {:<10} {:.2} round trips, {:.2} + {:.2} messages per request{}",
            spec.label,
            workload.name(),
            sequential.round_trips,
            sequential.client_messages,
            sequential.server_messages,
            under_load.as_ref().map_or(String::new(), |l| format!(
                "; {:.2} round trips under load",
                l.round_trips
            ))
        );
        out.push(WireCost {
            sequential,
            under_load,
        });
        if workload.writes() {
            seed::tidy(db, plan.rows).await?;
        }
    }
    tier.stop().await?;
    drop(proxy);
    Ok(out)
}

/// Round trips per request with every connection busy: the proxy's counters are read
/// at both ends of a short window and divided by the requests completed in it.
async fn count_under_load(
    tier: &TierProcess,
    proxy: &Proxy,
    workload: Workload,
    plan: &Plan,
) -> anyhow::Result<PerRequest> {
    let window = Window::after(Duration::from_millis(300), Duration::from_secs(1));
    let sampler = async {
        tokio::time::sleep_until(window.start.into()).await;
        let before = proxy.snapshot();
        tokio::time::sleep_until(window.end.into()).await;
        proxy.snapshot().since(&before)
    };
    let (load, counts) = tokio::join!(
        loadgen::run(tier.addr(), workload, plan.rows, plan.connections, window),
        sampler
    );
    let load = load?;
    anyhow::ensure!(
        load.requests > 0 && load.errors == 0,
        "{} under load through the proxy: {} requests, {} errors",
        workload.name(),
        load.requests,
        load.errors
    );
    Ok(PerRequest::new(&counts, load.requests as usize))
}

/// The bench database's URL with host and port replaced by the proxy's.
fn via(db: &DatabaseConfig, proxy: std::net::SocketAddr) -> anyhow::Result<SecretString> {
    let mut url = url::Url::parse(db.url().expose_secret())
        .map_err(|_| anyhow::anyhow!("the database URL does not parse"))?;
    url.set_host(Some(&proxy.ip().to_string()))
        .map_err(|_| anyhow::anyhow!("cannot set the proxy's host"))?;
    url.set_port(Some(proxy.port()))
        .map_err(|()| anyhow::anyhow!("cannot set the proxy's port"))?;
    Ok(SecretString::from(url.to_string()))
}

/// The command line as typed, shell-quoted, with a `--database-url` shown without its
/// password.
fn command_line(plan: &Plan) -> String {
    let mut args: Vec<String> = std::env::args().collect();
    for i in 0..args.len() {
        if args[i].starts_with("--database-url=") {
            args[i] = format!("--database-url={}", plan.admin);
        } else if args[i] == "--database-url" && i + 1 < args.len() {
            args[i + 1] = plan.admin.to_string();
        }
    }
    args.iter()
        .map(|arg| {
            let plain = arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-./=:,@%+".contains(c));
            if plain && !arg.is_empty() {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes report.md, report.json and report.svg into the output directory.
fn write_reports(report: &Report, markdown: &str, plan: &Plan) -> anyhow::Result<()> {
    let write = |name: &str, contents: &[u8]| -> anyhow::Result<()> {
        let path = plan.out.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
        Ok(())
    };
    write("report.md", markdown.as_bytes())?;
    let json = serde_json::to_string_pretty(report)?;
    write("report.json", json.as_bytes())?;
    let svg = bench::chart::svg(report)?;
    write("report.svg", svg.as_bytes())?;
    Ok(())
}
