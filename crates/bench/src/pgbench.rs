//! The database's own ceilings for the `get` query, measured with pgbench.
//!
//! A tier can never answer `GET /users/{id}` faster than PostgreSQL answers its
//! SELECT, so pgbench gives the yardstick the tiers are divided by:
//!
//! * **prepared**: the same SELECT, prepared, with as many clients as the load
//!   generator has connections. Each client sends one query and waits for the answer:
//!   the ceiling of "one query per connection at a time", which is how a pooled
//!   server works.
//! * **pipelined**: a few clients, each sending 16 queries in one pipeline
//!   (`\startpipeline` ... `\endpipeline`) before reading the answers: the ceiling of
//!   the database itself, once network round trips stop being the limit.
//!
//! The connection goes as `-h -p -U dbname` with the password in `PGPASSWORD`, so the
//! command line the report prints never holds a secret. [`ceilings`] measures both for
//! a run's plan, before any tier holds connections, and says in a note why one is
//! missing (skipped, not installed, failed).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use users_api::DatabaseConfig;

use crate::cli::Plan;
use crate::server_cpu::ServerCpu;

/// The query of the `get` workload, exactly as the tiers send it.
pub const GET_SQL: &str = "SELECT id, name, email, created_at FROM users WHERE id = :id;";

/// Queries per pipeline in the pipelined ceiling.
pub const PIPELINE_DEPTH: usize = 16;

/// Clients of the pipelined ceiling: a few, since each keeps 16 queries in flight.
pub const PIPELINE_CLIENTS: usize = 8;

/// One pgbench measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ceiling {
    /// `prepared` or `pipelined`.
    pub mode: String,
    /// pgbench clients (`-c`).
    pub clients: usize,
    /// Queries per transaction (1, or the pipeline depth).
    pub queries_per_transaction: usize,
    /// Transactions per second, as pgbench reports it.
    pub tps: f64,
    /// Queries per second: `tps * queries_per_transaction`.
    pub queries_per_second: f64,
    /// Average latency of one transaction in milliseconds, as pgbench reports it.
    pub latency_ms: Option<f64>,
    /// Failed transactions, as pgbench reports them.
    pub failed: u64,
    /// The command that was run (no password in it).
    pub command: String,
    /// CPU time of the whole machine (pgbench, the database, anything else) per 1,000
    /// queries, ms: what a query costs when nothing but the database works on it.
    pub machine_cpu_ms_per_1k: Option<f64>,
    /// CPU time of every `postgres` process per 1,000 queries, ms: the database's part
    /// of `machine_cpu_ms_per_1k`; the rest is pgbench itself (and anything else awake).
    /// Backends of other databases count too: the ceilings run before any tier starts,
    /// on a machine the run asks to be quiet.
    pub postgres_cpu_ms_per_1k: Option<f64>,
}

/// pgbench's ceilings, or why there are none.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ceilings {
    /// `pgbench --version`, if installed.
    pub version: Option<String>,
    /// Why a ceiling is missing.
    pub note: Option<String>,
    /// One prepared SELECT per transaction, as many clients as HTTP connections.
    pub prepared: Option<Ceiling>,
    /// 16 SELECTs per pipeline, a few clients.
    pub pipelined: Option<Ceiling>,
}

impl Ceilings {
    /// The ceilings that were measured, prepared first.
    pub fn measured(&self) -> impl Iterator<Item = &Ceiling> {
        [&self.prepared, &self.pipelined].into_iter().flatten()
    }
}

/// pgbench's two ceilings, or a note saying why they are missing.
pub async fn ceilings(plan: &Plan) -> Ceilings {
    let mut ceilings = Ceilings::default();
    if plan.pgbench_seconds == 0 {
        ceilings.note = Some("pgbench skipped (--no-pgbench).".into());
        return ceilings;
    }
    ceilings.version = version().await;
    if ceilings.version.is_none() {
        ceilings.note = Some(
            "pgbench is not installed, so the database's ceilings (and the ratios to them) \
             are missing. It comes with PostgreSQL's server package (Debian: postgresql-15)."
                .into(),
        );
        return ceilings;
    }
    let mut problems = Vec::new();
    let prepared = run(
        "prepared",
        &single_script(),
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
    let pipelined = run(
        "pipelined",
        &pipelined_script(PIPELINE_DEPTH),
        PIPELINE_DEPTH,
        &plan.bench_db,
        &plan.out,
        PIPELINE_CLIENTS.min(plan.connections),
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

/// pgbench's version line, or `None` when it is not installed.
pub async fn version() -> Option<String> {
    let output = tokio::process::Command::new("pgbench")
        .arg("--version")
        .output()
        .await
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The script of the prepared ceiling: one random id, one SELECT.
pub fn single_script() -> String {
    format!("\\set id random(1, :rows)\n{GET_SQL}\n")
}

/// The script of the pipelined ceiling: `depth` random ids, `depth` SELECTs in one
/// pipeline.
pub fn pipelined_script(depth: usize) -> String {
    let mut script = String::new();
    for i in 1..=depth {
        script.push_str(&format!("\\set id{i} random(1, :rows)\n"));
    }
    script.push_str("\\startpipeline\n");
    for i in 1..=depth {
        script.push_str(&GET_SQL.replace(":id", &format!(":id{i}")));
        script.push('\n');
    }
    script.push_str("\\endpipeline\n");
    script
}

/// Runs one ceiling: writes `script` into `dir`, runs pgbench on `db` for `seconds`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    mode: &'static str,
    script: &str,
    queries_per_transaction: usize,
    db: &DatabaseConfig,
    dir: &Path,
    clients: usize,
    seconds: u64,
    rows: u64,
) -> anyhow::Result<Ceiling> {
    let file = dir.join(format!("pgbench-{mode}.sql"));
    std::fs::write(&file, script).with_context(|| format!("writing {}", file.display()))?;
    // Two threads: one per core here; more would only fight the server for the CPU.
    let threads = clients.min(2);
    let args: Vec<String> = vec![
        "-n".into(), // no VACUUM of pgbench's own tables: we bring our own script
        "-M".into(),
        "prepared".into(),
        "-c".into(),
        clients.to_string(),
        "-j".into(),
        threads.to_string(),
        "-T".into(),
        seconds.max(1).to_string(),
        "-D".into(),
        format!("rows={rows}"),
        "-f".into(),
        file.display().to_string(),
        "-h".into(),
        db.host().to_owned(),
        "-p".into(),
        db.port().to_string(),
        "-U".into(),
        db.user().to_owned(),
        db.name().to_owned(),
    ];
    let mut command = tokio::process::Command::new("pgbench");
    command.args(&args).kill_on_drop(true);
    if let Some(password) = password(db) {
        command.env("PGPASSWORD", password);
    }
    // Bounded: pgbench stops itself after -T seconds; the timeout catches a hang
    // (a server that never answers the connection, say).
    let limit = Duration::from_secs(seconds + 60);
    let busy_before = crate::tiers::machine_busy_time().ok();
    let servers_before = ServerCpu::now();
    // pgbench's backends start after the first snapshot and end before pgbench does,
    // so a snapshot after it would find none of them: PostgreSQL's processes are
    // sampled every 100 ms while it runs, each keeping the last CPU time seen (what
    // a backend spends in its last 100 ms, about 1 % of a run, is lost).
    let mut servers_seen = servers_before.clone();
    let sampling = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let (Some(seen), Some(now)) = (servers_seen.as_mut(), ServerCpu::now()) {
                seen.postgres.extend(now.postgres);
            }
        }
    };
    let output = tokio::select! {
        output = tokio::time::timeout(limit, command.output()) => output,
        never = sampling => match never {},
    }
    .context("pgbench did not finish")?
    .context("running pgbench")?;
    let busy = busy_before
        .zip(crate::tiers::machine_busy_time().ok())
        .map(|(before, after)| after.saturating_sub(before).as_secs_f64() * 1000.0);
    let postgres = servers_before
        .zip(servers_seen)
        .map(|(before, seen)| before.until(&seen).0);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed ({}): {}",
        output.status,
        stderr.trim()
    );
    let summary =
        parse(&stdout).with_context(|| format!("no tps in pgbench's output: {stdout}"))?;
    // Queries answered in the run, what the CPU times are divided by.
    let queries = summary.tps * queries_per_transaction as f64 * seconds.max(1) as f64;
    Ok(Ceiling {
        mode: mode.to_owned(),
        clients,
        queries_per_transaction,
        tps: summary.tps,
        queries_per_second: summary.tps * queries_per_transaction as f64,
        latency_ms: summary.latency_ms,
        failed: summary.failed,
        command: format!("pgbench {}", args.join(" ")),
        // pgbench's connection set-up is in there too: a few ms among seconds.
        machine_cpu_ms_per_1k: busy.map(|ms| ms * 1000.0 / queries),
        postgres_cpu_ms_per_1k: postgres.map(|ms| ms * 1000.0 / queries),
    })
}

/// The password of the URL, if it has one.
fn password(db: &DatabaseConfig) -> Option<String> {
    let url = url::Url::parse(db.url().expose_secret()).ok()?;
    // `url` leaves the password percent-encoded; `%40` must reach pgbench as `@`.
    let password = percent_encoding::percent_decode_str(url.password()?);
    password.decode_utf8().ok().map(|text| text.into_owned())
}

/// What we read from pgbench's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// `tps = ...`, without the initial connection time.
    pub tps: f64,
    /// `latency average = ... ms`.
    pub latency_ms: Option<f64>,
    /// `number of failed transactions: N` (PostgreSQL 15+ prints it).
    pub failed: u64,
}

/// Parses pgbench's summary. Versions before 14 print two `tps =` lines (including
/// and excluding connection time); we prefer the one "without initial connection time".
pub fn parse(output: &str) -> Option<Summary> {
    let number_after = |line: &str, prefix: &str| -> Option<f64> {
        line.trim()
            .strip_prefix(prefix)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let mut tps = None;
    let mut latency_ms = None;
    let mut failed = 0;
    for line in output.lines() {
        if let Some(value) = number_after(line, "tps =") {
            let excludes_connections = line.contains("without initial connection time")
                || line.contains("excluding connections establishing");
            if tps.is_none() || excludes_connections {
                tps = Some(value);
            }
        } else if let Some(value) = number_after(line, "latency average =") {
            latency_ms = Some(value);
        } else if let Some(value) = number_after(line, "number of failed transactions:") {
            failed = value as u64;
        }
    }
    Some(Summary {
        tps: tps?,
        latency_ms,
        failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG15: &str = "\
pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/get.sql
scaling factor: 1
query mode: prepared
number of clients: 64
number of threads: 2
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 71234
number of failed transactions: 0 (0.000%)
latency average = 1.793 ms
initial connection time = 61.017 ms
tps = 35688.123456 (without initial connection time)
";

    #[test]
    fn parses_the_summary_of_pgbench_15() {
        let summary = parse(PG15).unwrap();
        assert_eq!(summary.tps, 35688.123456);
        assert_eq!(summary.latency_ms, Some(1.793));
        assert_eq!(summary.failed, 0);
    }

    #[test]
    fn prefers_the_tps_without_connections_of_older_versions() {
        let old = "tps = 900.5 (including connections establishing)\n\
                   tps = 1000.25 (excluding connections establishing)\n";
        assert_eq!(parse(old).unwrap().tps, 1000.25);
        assert!(parse("pgbench: error: connection refused").is_none());
    }

    #[test]
    fn scripts_use_the_tiers_query() {
        assert_eq!(
            single_script(),
            "\\set id random(1, :rows)\n\
             SELECT id, name, email, created_at FROM users WHERE id = :id;\n"
        );
        let script = pipelined_script(3);
        assert!(script.starts_with("\\set id1 random(1, :rows)\n"));
        assert_eq!(script.matches("WHERE id = :id").count(), 3);
        assert!(script.contains("WHERE id = :id3;\n\\endpipeline\n"));
        assert_eq!(script.matches("\\startpipeline").count(), 1);
    }

    #[test]
    fn passwords_are_decoded_for_pgpassword() {
        let db = DatabaseConfig::parse("postgres://ada:p%40ss@h/x").unwrap();
        assert_eq!(password(&db).as_deref(), Some("p@ss"));
        let db = DatabaseConfig::parse("postgres://ada@h/x").unwrap();
        assert_eq!(password(&db), None);
    }
}
