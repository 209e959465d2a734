//! The whole benchmark run, from a parsed command line to the written report.
//!
//! Needs PostgreSQL at the URL [`crate::cli::database_url`] decides; pgbench is used
//! when installed. What happens, in order:
//!
//! 1. `cargo build --release` of the tiers (a no-op when they are up to date); with
//!    `--fastapi`, the FastAPI stacks' virtual environment ([`fastapi::install`]);
//! 2. the bench database is recreated and seeded with N users and their posts;
//! 3. pgbench measures the database's own ceilings for the get query
//!    ([`pgbench::ceilings`]);
//! 4. rounds: in each round every tier in turn is started as a child process, driven
//!    through every workload (warm-up, then the measured window), and stopped. Only
//!    one tier is alive at a time, so it has the machine to itself; alternating the
//!    tiers round by round spreads any drift in machine speed over all of them
//!    ([`rounds::run_rounds`]); with `--open-loop` (on by default), each tier's
//!    `get` is followed by fixed-rate runs at shares of its req/s ([`crate::tails`]);
//! 5. each tier is started once more behind the counting proxy, and a few hundred
//!    sequential requests per workload give the protocol messages and round trips
//!    one request costs ([`wire_cost::count_all`]);
//! 6. the report, assembled from what was measured ([`Report::assemble`]): Markdown on
//!    stdout and in `target/bench/report.md`, plus `report.json` and `report.svg`.
//!
//! A tier that does not build or start is left out and noted, and the run goes on
//! with the others; [`run`] then answers `Ok(false)`, so the exit code shows it.

use std::time::Instant;

use anyhow::Context as _;

use crate::cli::{Options, Plan, TierSpec, database_url};
use crate::machine::Machine;
use crate::report::{self, Header, Measurements, Report, TierFacts};
use crate::{fastapi, pgbench, rounds, seed, tiers, wire_cost};

/// The whole run; `Ok(false)` when the report was written but something failed.
pub async fn run(options: Options) -> anyhow::Result<bool> {
    let started = Instant::now();
    let root = tiers::workspace_root();
    let plan = options.plan(database_url::from_environment(), &root)?;
    if let Some(total) = plan.soak {
        return crate::soak::run(&plan, total).await;
    }
    let command_line = command_line(&plan);
    let mut machine = Machine::detect();
    let mut notes = Vec::new();
    let mut ok = true;
    eprintln!(
        "bench: {} users ({} posts each), {} connections, {:?} warm-up + {:?} per run, {} round(s), workloads {:?}",
        plan.rows,
        plan.posts_per_user,
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
        tier_specs.retain(|spec| spec.package().is_none_or(|p| !failed.contains(&p)));
    }
    // 1b. `--fastapi`: the stacks' virtual environment, from PyPI on first use.
    if tier_specs.iter().any(|spec| spec.stack().is_some()) {
        eprintln!("bench: {} --install", fastapi::run_sh().display());
        if let Err(err) = fastapi::install().await {
            eprintln!("bench: {err:#}");
            notes.push(format!("the FastAPI stacks are left out: {err:#}"));
            tier_specs.retain(|spec| spec.stack().is_none());
            ok = false;
        }
    }

    // 2. The bench database.
    let admin = seed::connect(&plan.admin).await?;
    machine.postgres = seed::server_version(&admin).await?;
    let seeding = Instant::now();
    seed::recreate_database(&admin, &plan.bench_db).await?;
    let db = seed::connect(&plan.bench_db).await?;
    seed::seed(&db, plan.seeded()).await?;
    eprintln!(
        "bench: seeded {} with {} users and {} posts in {:.1} s",
        plan.bench_db,
        plan.rows,
        plan.seeded().posts(),
        seeding.elapsed().as_secs_f64()
    );
    std::fs::create_dir_all(&plan.out)
        .with_context(|| format!("creating {}", plan.out.display()))?;

    // 3. The database's own ceilings, while no tier holds connections.
    let ceilings = pgbench::ceilings(&plan).await;
    if ceilings
        .note
        .as_deref()
        .is_some_and(|note| note.contains("failed"))
    {
        ok = false;
    }

    // 4. Rounds: A B C A B C ..., one tier alive at a time.
    let rounds = rounds::run_rounds(&plan, &tier_specs, &db).await?;
    // A failed export (cut off, a line short) is a broken contract, like a broken tier.
    let export_failed = rounds
        .exports
        .values()
        .flatten()
        .any(|run| run.error.is_some());
    if !rounds.broken.is_empty() || export_failed {
        ok = false;
    }
    notes.extend(rounds.notes);
    tier_specs.retain(|spec| !rounds.broken.contains(&spec.label));

    // 5. Round trips per request, through the counting proxy.
    let mut wire_costs = wire_cost::WireCosts::default();
    if plan.round_trip_requests > 0 {
        wire_costs = wire_cost::count_all(&plan, &tier_specs, &db).await;
        if !wire_costs.failures.is_empty() {
            ok = false;
        }
        notes.extend(wire_costs.failures);
    }

    // 6. The report.
    let header = Header {
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        command_line,
        machine,
    };
    let measured = Measurements {
        runs: rounds.runs,
        exports: rounds.exports,
        tails: rounds.tails,
        wire_costs: wire_costs.per_cell,
        ceilings,
        tiers: tier_specs.iter().map(TierFacts::of).collect(),
        notes,
        wrk: rounds.wrk,
        wrk_note: plan.wrk_note.clone(),
    };
    let mut report = Report::assemble(&plan, header, measured);

    if plan.drop_database {
        drop(db);
        seed::drop_database(&admin, &plan.bench_db).await?;
    }
    report.elapsed_s = started.elapsed().as_secs_f64();
    let markdown = report.markdown();
    println!("{markdown}");
    report::write_files(&report, &markdown, &plan.out)?;
    Ok(ok)
}

/// Builds the tiers' packages together; if that fails, one by one, and returns the
/// packages that do not build (so one broken tier does not stop the others).
pub(crate) async fn build(specs: &[TierSpec]) -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = Vec::new();
    for package in specs.iter().filter_map(TierSpec::package) {
        if !packages.contains(&package) {
            packages.push(package);
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

/// The command line as typed, shell-quoted, with a `--database-url` shown without its
/// password.
pub(crate) fn command_line(plan: &Plan) -> String {
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
