//! The report: per-run figures, medians over rounds, the targets, and the
//! Markdown that goes to stdout and `report.md` (`report.json` is the same data
//! through serde).
//!
//! Each column's summary is the **median** over rounds, taken column by column, so one
//! slow round (another process woke up) cannot decide a comparison; errors are
//! **summed** (an error is never noise to hide), and peak RSS is the **maximum** (a
//! peak is a peak).

use std::fmt::Write as _;

use serde::Serialize;

use crate::machine::Machine;
use crate::pgbench::Ceiling;
use crate::proxy::PerRequest;
use crate::tiers::LineCount;
use Align::{Left, Right};

/// What one tier did in one workload in one round.
#[derive(Debug, Clone, Serialize)]
pub struct RunFigures {
    /// 1-based round.
    pub round: usize,
    /// Successful requests in the window.
    pub requests: u64,
    /// Successful requests per second.
    pub rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// 99.9th percentile latency, ms.
    pub p999_ms: f64,
    /// Slowest request, ms.
    pub max_ms: f64,
    /// Failed requests in the window.
    pub errors: u64,
    /// The first few errors, to diagnose them.
    pub error_samples: Vec<String>,
    /// The tier's peak resident memory during the workload, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// The tier's CPU time in the window, ms (user + system, all threads).
    pub cpu_ms: Option<f64>,
    /// The load generator's own CPU time in the window, ms.
    pub loadgen_cpu_ms: Option<f64>,
    /// CPU time of the database's server processes serving the tier, ms.
    pub db_cpu_ms: Option<f64>,
    /// CPU time of the whole machine (every process, every core), ms.
    pub machine_cpu_ms: Option<f64>,
    /// How busy the machine was: `machine_cpu_ms` over the window times the cores, %.
    pub machine_busy_percent: Option<f64>,
}

impl RunFigures {
    /// The tier's CPU time per 1,000 successful requests, ms.
    pub fn cpu_ms_per_1k(&self) -> Option<f64> {
        per_1k(self.cpu_ms, self.requests)
    }
}

fn per_1k(ms: Option<f64>, requests: u64) -> Option<f64> {
    ms.filter(|_| requests > 0)
        .map(|ms| ms * 1000.0 / requests as f64)
}

/// The summary of one tier and workload over all rounds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    /// Median requests per second.
    pub rps: f64,
    /// Median p50, ms.
    pub p50_ms: f64,
    /// Median p99, ms.
    pub p99_ms: f64,
    /// Median p99.9, ms.
    pub p999_ms: f64,
    /// Errors, summed over rounds.
    pub errors: u64,
    /// Highest peak RSS over rounds, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Median CPU ms per 1,000 requests.
    pub cpu_ms_per_1k: Option<f64>,
    /// Median load-generator CPU ms per 1,000 requests.
    pub loadgen_cpu_ms_per_1k: Option<f64>,
    /// Median database-server CPU ms per 1,000 requests.
    pub db_cpu_ms_per_1k: Option<f64>,
    /// Median whole-machine CPU ms per 1,000 requests.
    pub machine_cpu_ms_per_1k: Option<f64>,
    /// Median share of the machine's cores that were busy, %.
    pub machine_busy_percent: Option<f64>,
}

impl Summary {
    /// Summarises the rounds (all zeros if there are none).
    pub fn of(runs: &[RunFigures]) -> Self {
        let median_of = |f: fn(&RunFigures) -> f64| median(runs.iter().map(f).collect());
        let median_opt = |f: &dyn Fn(&RunFigures) -> Option<f64>| {
            let values: Vec<f64> = runs.iter().filter_map(f).collect();
            (!values.is_empty()).then(|| median(values))
        };
        Self {
            rps: median_of(|r| r.rps),
            p50_ms: median_of(|r| r.p50_ms),
            p99_ms: median_of(|r| r.p99_ms),
            p999_ms: median_of(|r| r.p999_ms),
            errors: runs.iter().map(|r| r.errors).sum(),
            peak_rss_bytes: runs.iter().filter_map(|r| r.peak_rss_bytes).max(),
            cpu_ms_per_1k: median_opt(&|r| r.cpu_ms_per_1k()),
            loadgen_cpu_ms_per_1k: median_opt(&|r| per_1k(r.loadgen_cpu_ms, r.requests)),
            db_cpu_ms_per_1k: median_opt(&|r| per_1k(r.db_cpu_ms, r.requests)),
            machine_cpu_ms_per_1k: median_opt(&|r| per_1k(r.machine_cpu_ms, r.requests)),
            machine_busy_percent: median_opt(&|r| r.machine_busy_percent),
        }
    }
}

/// The median (the mean of the middle two for an even count; 0 for none).
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// One tier in one workload: every round, the summary, and the round trips.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// The tier row's label.
    pub tier: String,
    /// The workload's name.
    pub workload: String,
    /// Every round's figures.
    pub runs: Vec<RunFigures>,
    /// Medians over the rounds.
    pub summary: Summary,
    /// Protocol messages and round trips per request, through the proxy, one request
    /// at a time: what one request costs.
    pub round_trips: Option<PerRequest>,
    /// The same with every connection busy (a short window through the proxy): below
    /// the sequential figure when a tier shares connections between requests.
    pub round_trips_under_load: Option<PerRequest>,
}

/// Facts about a tier that do not depend on the workload.
#[derive(Debug, Clone, Serialize)]
pub struct TierFacts {
    /// The row's label.
    pub label: String,
    /// Its Cargo package (and binary).
    pub package: String,
    /// The environment that makes this variant.
    pub env: Vec<String>,
    /// Lines of its `store.rs`.
    pub store_lines: Option<LineCount>,
    /// Size of its release binary, bytes.
    pub binary_bytes: Option<u64>,
}

/// pgbench's ceilings, or why there are none.
#[derive(Debug, Clone, Default, Serialize)]
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

/// What the run was asked to do.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Seeded users.
    pub rows: u64,
    /// HTTP connections and pgbench clients.
    pub connections: usize,
    /// Warm-up seconds per run.
    pub warmup_s: f64,
    /// Measured seconds per run.
    pub duration_s: f64,
    /// Rounds.
    pub rounds: usize,
    /// `--quick`.
    pub quick: bool,
    /// Workloads, in order.
    pub workloads: Vec<String>,
    /// Tier rows, in order.
    pub tiers: Vec<String>,
    /// Extra environment given to every tier (`--env`).
    pub tier_env: Vec<String>,
    /// The bench database, without password.
    pub database: String,
    /// Sequential requests per round-trip count.
    pub round_trip_requests: usize,
    /// Workloads whose round trips were also counted under load.
    pub round_trip_load: Vec<String>,
}

/// One of the targets, checked against this run.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What is compared.
    pub name: String,
    /// The goal, e.g. `>= 0.6`.
    pub goal: String,
    /// The measured value, if this run measured it.
    pub value: Option<f64>,
    /// Whether the goal is met (`None`: not measured).
    pub met: Option<bool>,
    /// Caveats (different conditions from the target's).
    pub note: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When the run ended, RFC 3339.
    pub date: String,
    /// The exact command line.
    pub command_line: String,
    /// The machine.
    pub machine: Machine,
    /// The settings.
    pub settings: Settings,
    /// Per-tier facts.
    pub tiers: Vec<TierFacts>,
    /// Per tier and workload.
    pub results: Vec<Cell>,
    /// pgbench's ceilings.
    pub pgbench: Ceilings,
    /// The targets.
    pub targets: Vec<Target>,
    /// Warnings gathered during the run.
    pub notes: Vec<String>,
    /// Wall-clock seconds the whole run took.
    pub elapsed_s: f64,
}

impl Report {
    /// The cell of `tier` and `workload`, if measured.
    pub fn cell(&self, tier: &str, workload: &str) -> Option<&Cell> {
        self.results
            .iter()
            .find(|c| c.tier == tier && c.workload == workload)
    }

    /// Fills [`Report::targets`] from the results.
    pub fn check_targets(&mut self) {
        let mut targets = Vec::new();
        let conditions = if self.settings.connections == 64 && self.settings.rows == 10_000 {
            String::new()
        } else {
            format!(
                "the target is set for 64 connections and 10,000 rows; this run: {} and {}",
                self.settings.connections,
                thousands(self.settings.rows as f64)
            )
        };
        let get_rps = |tier: &str| self.cell(tier, "get").map(|c| c.summary.rps);
        let pgbench = self.pgbench.prepared.as_ref().map(|c| c.queries_per_second);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        // Why a value is missing, or how this run's conditions differ from the target's.
        let note = |value: Option<f64>, needs_pgbench: bool| {
            if value.is_some() {
                conditions.clone()
            } else if needs_pgbench && pgbench.is_none() {
                "needs the get workload and pgbench".to_owned()
            } else {
                "needs the get workload of both tiers".to_owned()
            }
        };
        let at_least = |name: &str, value: Option<f64>, goal: f64, needs_pgbench: bool| Target {
            name: name.to_owned(),
            goal: format!(">= {goal}"),
            value,
            met: value.map(|v| v >= goal),
            note: note(value, needs_pgbench),
        };
        targets.push(at_least(
            "get: tier-raw req/s / pgbench prepared tps",
            ratio(get_rps("tier-raw"), pgbench),
            0.6,
            true,
        ));
        targets.push(at_least(
            "get: tier-sqlx / tier-raw req/s",
            ratio(get_rps("tier-sqlx"), get_rps("tier-raw")),
            0.75,
            false,
        ));
        targets.push(at_least(
            "get: tier-orm / tier-raw req/s",
            ratio(get_rps("tier-orm"), get_rps("tier-raw")),
            0.7,
            false,
        ));
        targets.push(at_least(
            "get: tier-raw (pipelined) req/s / pgbench prepared tps",
            ratio(get_rps("tier-raw (pipelined)"), pgbench),
            1.2,
            true,
        ));
        for tier in &self.tiers {
            let peak = self
                .results
                .iter()
                .filter(|c| c.tier == tier.label)
                .filter_map(|c| c.summary.peak_rss_bytes)
                .max()
                .map(|bytes| bytes as f64 / 1e6);
            targets.push(Target {
                name: format!("{}: peak RSS, MB (any workload)", tier.label),
                goal: "<= 50".into(),
                value: peak,
                met: peak.map(|mb| mb <= 50.0),
                note: String::new(),
            });
        }
        for tier in &self.tiers {
            let p50 = |workload| self.cell(&tier.label, workload).map(|c| c.summary.p50_ms);
            let value = ratio(p50("list-last"), p50("list-first"));
            let note = if value.is_none() {
                "run with --rows 1000000 --workloads list-first,list-last".to_owned()
            } else if self.settings.rows < 1_000_000 {
                format!(
                    "the target is set for 1,000,000 rows; this run: {}",
                    thousands(self.settings.rows as f64)
                )
            } else {
                String::new()
            };
            targets.push(Target {
                name: format!("{}: list p50, last page / first page", tier.label),
                goal: "<= 1.5".into(),
                value,
                met: value.map(|v| v <= 1.5),
                note,
            });
        }
        self.targets = targets;
    }

    /// "Where the CPU goes": per request, who spent the machine's CPU. The machine is
    /// the limit (the tier, the database and the load generator share its cores), so
    /// this is what the throughput figures come from.
    fn cpu_section(&self, md: &mut String) {
        if !self
            .results
            .iter()
            .any(|c| c.summary.machine_cpu_ms_per_1k.is_some())
        {
            return;
        }
        let _ = writeln!(md, "\n## Where the CPU goes\n");
        let _ = writeln!(
            md,
            "CPU ms per 1,000 requests in the measured window, by who spent it. Tier, \
             database and load generator share the machine's cores, so a request costs \
             what all three spend on it: requests/s is about (cores x 1,000,000 x busy share) \
             / (whole machine ms per 1k). pgbench's ceilings, for comparison, pay only for \
             the database and a client written in C.\n"
        );
        let tiers = self.results.iter().map(|cell| {
            let x = &cell.summary;
            vec![
                cell.workload.clone(),
                cell.tier.clone(),
                opt(x.cpu_ms_per_1k, 0),
                opt(x.db_cpu_ms_per_1k, 0),
                opt(x.loadgen_cpu_ms_per_1k, 0),
                opt(x.machine_cpu_ms_per_1k, 0),
                x.machine_busy_percent
                    .map_or("-".to_owned(), |p| format!("{p:.0} %")),
            ]
        });
        let pgbench = self.pgbench.measured().filter_map(|c| {
            let ms = c.machine_cpu_ms_per_1k?;
            Some(vec![
                "get".to_owned(),
                format!("pgbench {} ({} clients)", c.mode, c.clients),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                format!("{} per 1k queries", opt(Some(ms), 0)),
                "-".to_owned(),
            ])
        });
        table(
            md,
            &[
                ("workload", Left),
                ("tier", Left),
                ("tier", Right),
                ("database", Right),
                ("load generator", Right),
                ("whole machine", Right),
                ("machine busy", Right),
            ],
            tiers.chain(pgbench),
        );
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let s = &self.settings;
        let m = &self.machine;
        let _ = writeln!(md, "# Benchmark: the /users API on three database tiers\n");
        let _ = writeln!(md, "- date: {}", self.date);
        let _ = writeln!(md, "- command: `{}`", self.command_line);
        let _ = writeln!(
            md,
            "- machine: {} CPUs ({}), {:.1} GiB memory, Linux {}",
            m.cpus,
            m.cpu_model,
            m.memory_mib as f64 / 1024.0,
            m.kernel
        );
        if let Some(load) = m.load_average {
            let busy = if load > m.cpus as f64 {
                ": the machine was busy with other work, so figures are low and noisy; \
                 compare ratios within this run only"
            } else {
                ""
            };
            let _ = writeln!(md, "- load average (1 min) at the start: {load:.2}{busy}");
        }
        let _ = writeln!(md, "- database: {}", m.postgres);
        let _ = writeln!(
            md,
            "- load: {} rows, {} keep-alive HTTP/1.1 connections (closed loop), {} s warm-up + \
             {} s measured per run, {} round{} of every tier in turn{}",
            thousands(s.rows as f64),
            s.connections,
            s.warmup_s,
            s.duration_s,
            s.rounds,
            if s.rounds == 1 { "" } else { "s" },
            if s.rounds > 1 { " (medians shown)" } else { "" }
        );
        if !s.tier_env.is_empty() {
            let _ = writeln!(md, "- tier environment: `{}`", s.tier_env.join(" "));
        }
        let _ = writeln!(md, "- run took {:.0} s\n", self.elapsed_s);

        let _ = writeln!(md, "## Results\n");
        table(
            &mut md,
            &[
                ("workload", Left),
                ("tier", Left),
                ("req/s", Right),
                ("p50 ms", Right),
                ("p99 ms", Right),
                ("p99.9 ms", Right),
                ("errors", Right),
                ("peak RSS MB", Right),
                ("CPU ms / 1k req", Right),
                ("DB round trips / req", Right),
            ],
            self.results.iter().map(|cell| {
                let x = &cell.summary;
                vec![
                    cell.workload.clone(),
                    cell.tier.clone(),
                    thousands(x.rps),
                    ms(x.p50_ms),
                    ms(x.p99_ms),
                    ms(x.p999_ms),
                    x.errors.to_string(),
                    opt(x.peak_rss_bytes.map(|b| b as f64 / 1e6), 1),
                    opt(x.cpu_ms_per_1k, 0),
                    opt(cell.round_trips.as_ref().map(|r| r.round_trips), 2),
                ]
            }),
        );

        self.cpu_section(&mut md);

        let _ = writeln!(
            md,
            "\n## The database's own ceilings for the get query (pgbench)\n"
        );
        if let Some(version) = &self.pgbench.version {
            let _ = writeln!(md, "{version}\n");
        }
        let ceilings: Vec<&Ceiling> = self.pgbench.measured().collect();
        if !ceilings.is_empty() {
            table(
                &mut md,
                &[
                    ("ceiling", Left),
                    ("clients", Right),
                    ("queries / transaction", Right),
                    ("queries/s", Right),
                    ("latency ms", Right),
                    ("failed", Right),
                ],
                ceilings.iter().map(|c| {
                    vec![
                        c.mode.to_owned(),
                        c.clients.to_string(),
                        c.queries_per_transaction.to_string(),
                        thousands(c.queries_per_second),
                        opt(c.latency_ms, 3),
                        c.failed.to_string(),
                    ]
                }),
            );
            let _ = writeln!(md);
            for c in &ceilings {
                let _ = writeln!(md, "- `{}`", c.command);
            }
        }
        if let Some(note) = &self.pgbench.note {
            let _ = writeln!(md, "\n{note}");
        }

        let _ = writeln!(md, "\n## Tiers\n");
        table(
            &mut md,
            &[
                ("tier", Left),
                ("environment", Left),
                ("store.rs lines (code / all)", Right),
                ("release binary MB", Right),
            ],
            self.tiers.iter().map(|t| {
                vec![
                    t.label.clone(),
                    if t.env.is_empty() {
                        "".to_owned()
                    } else {
                        format!("`{}`", t.env.join(" "))
                    },
                    t.store_lines
                        .map_or("-".to_owned(), |l| format!("{} / {}", l.code, l.total)),
                    opt(t.binary_bytes.map(|b| b as f64 / 1e6), 1),
                ]
            }),
        );

        if self.results.iter().any(|c| c.round_trips.is_some()) {
            let _ = writeln!(
                md,
                "\n## What one request costs on the wire to PostgreSQL\n"
            );
            let _ = writeln!(
                md,
                "Counted by a TCP proxy between the tier and PostgreSQL, averaged over {} \
                 sequential requests after a warm-up. A round trip is a turn of the \
                 conversation from the tier sending to the server answering. \"Under \
                 load\" counts the same through a 1 s window with all {} connections \
                 busy, divided by the requests completed in it: a tier that sends the \
                 queries of several requests in one burst needs fewer round trips than \
                 requests.\n",
                s.round_trip_requests, s.connections
            );
            table(
                &mut md,
                &[
                    ("workload", Left),
                    ("tier", Left),
                    ("round trips", Right),
                    ("under load", Right),
                    ("tier sends", Left),
                    ("server answers", Left),
                ],
                self.results.iter().filter_map(|cell| {
                    let rt = cell.round_trips.as_ref()?;
                    let under_load = cell.round_trips_under_load.as_ref();
                    Some(vec![
                        cell.workload.clone(),
                        cell.tier.clone(),
                        num(rt.round_trips, 2),
                        under_load.map_or("-".to_owned(), |l| num(l.round_trips, 2)),
                        messages(&rt.client),
                        messages(&rt.server),
                    ])
                }),
            );
        }

        if !self.targets.is_empty() {
            let _ = writeln!(md, "\n## The issue's targets\n");
            table(
                &mut md,
                &[
                    ("target", Left),
                    ("goal", Left),
                    ("measured", Right),
                    ("met", Left),
                    ("note", Left),
                ],
                self.targets.iter().map(|t| {
                    vec![
                        t.name.clone(),
                        t.goal.clone(),
                        opt(t.value, 2),
                        match t.met {
                            Some(true) => "yes",
                            Some(false) => "**no**",
                            None => "not measured",
                        }
                        .to_owned(),
                        t.note.clone(),
                    ]
                }),
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(md, "\n## Notes\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        md
    }
}

/// How a Markdown table column is aligned: text left, numbers right.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Writes a Markdown table: the heading row, the alignment row, then one line per row
/// (each row one cell per column).
fn table(md: &mut String, columns: &[(&str, Align)], rows: impl IntoIterator<Item = Vec<String>>) {
    let headings: Vec<&str> = columns.iter().map(|(heading, _)| *heading).collect();
    let alignments: Vec<&str> = columns
        .iter()
        .map(|(_, align)| match align {
            Left => "---",
            Right => "---:",
        })
        .collect();
    let _ = writeln!(md, "| {} |", headings.join(" | "));
    let _ = writeln!(md, "| {} |", alignments.join(" | "));
    for row in rows {
        debug_assert_eq!(row.len(), columns.len(), "a row has one cell per column");
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
}

/// `Bind 1, Execute 1, Sync 1`, fractions where a message is not sent every time.
fn messages(per: &std::collections::BTreeMap<String, f64>) -> String {
    let mut parts: Vec<String> = per
        .iter()
        .filter(|(_, n)| **n >= 0.005)
        .map(|(name, n)| format!("{name} {}", num(*n, 2)))
        .collect();
    if parts.is_empty() {
        parts.push("-".into());
    }
    parts.join(", ")
}

/// A number with at most `decimals` decimals, trailing zeros dropped.
fn num(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// `-` or the number with `decimals` decimals.
fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".to_owned(), |v| format!("{v:.decimals$}"))
}

/// Milliseconds: three significant figures below 10 ms, one decimal above.
fn ms(value: f64) -> String {
    if value < 1.0 {
        format!("{value:.3}")
    } else if value < 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1}")
    }
}

/// `31,234`: a rounded number with thousands separators.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::proxy::{Counts, PerRequest};

    pub(crate) fn run(round: usize, rps: f64, p50: f64) -> RunFigures {
        RunFigures {
            round,
            requests: (rps * 2.0) as u64,
            rps,
            p50_ms: p50,
            p99_ms: p50 * 4.0,
            p999_ms: p50 * 8.0,
            max_ms: p50 * 20.0,
            errors: round as u64 - 1,
            error_samples: vec![],
            peak_rss_bytes: Some(10_000_000 * round as u64),
            cpu_ms: Some(rps / 10.0),
            loadgen_cpu_ms: None,
            db_cpu_ms: Some(rps / 20.0),
            machine_cpu_ms: Some(rps / 4.0),
            machine_busy_percent: Some(90.0 + round as f64),
        }
    }

    pub(crate) fn cell(tier: &str, workload: &str, rps: f64, p50: f64) -> Cell {
        let runs = vec![
            run(1, rps, p50),
            run(2, rps * 0.5, p50 * 2.0),
            run(3, rps * 1.1, p50),
        ];
        let summary = Summary::of(&runs);
        let mut counts = Counts::default();
        counts.client.insert(b'B', 10);
        counts.client.insert(b'E', 10);
        counts.client.insert(b'S', 10);
        counts.server.insert(b'Z', 10);
        counts.round_trips = 10;
        Cell {
            tier: tier.into(),
            workload: workload.into(),
            runs,
            summary,
            round_trips: Some(PerRequest::new(&counts, 10)),
            round_trips_under_load: Some(PerRequest::new(&counts, 40)),
        }
    }

    pub(crate) fn report() -> Report {
        let facts = |label: &str| TierFacts {
            label: label.into(),
            package: "tier-raw".into(),
            env: vec![],
            store_lines: Some(LineCount {
                total: 200,
                code: 120,
            }),
            binary_bytes: Some(9_500_000),
        };
        let mut report = Report {
            date: "2026-11-26T05:14:52Z".into(),
            command_line: "bench --quick".into(),
            machine: Machine {
                cpus: 2,
                cpu_model: "AMD EPYC".into(),
                memory_mib: 24_105,
                kernel: "6.1".into(),
                postgres: "PostgreSQL 15.20".into(),
                load_average: Some(0.5),
            },
            settings: Settings {
                rows: 10_000,
                connections: 64,
                warmup_s: 2.0,
                duration_s: 8.0,
                rounds: 3,
                quick: false,
                workloads: vec!["get".into()],
                tiers: vec!["tier-raw".into(), "tier-sqlx".into()],
                tier_env: vec![],
                database: "postgres://postgres@127.0.0.1:5432/users_bench".into(),
                round_trip_requests: 10,
                round_trip_load: vec!["get".into()],
            },
            tiers: vec![facts("tier-raw"), facts("tier-sqlx")],
            results: vec![
                cell("tier-raw", "get", 20_000.0, 2.0),
                cell("tier-sqlx", "get", 14_000.0, 3.0),
            ],
            pgbench: Ceilings {
                version: Some("pgbench (PostgreSQL) 15.20".into()),
                note: None,
                prepared: Some(Ceiling {
                    mode: "prepared",
                    clients: 64,
                    queries_per_transaction: 1,
                    tps: 32_000.0,
                    queries_per_second: 32_000.0,
                    latency_ms: Some(2.0),
                    failed: 0,
                    command: "pgbench -n".into(),
                    machine_cpu_ms_per_1k: Some(55.0),
                }),
                pipelined: None,
            },
            targets: vec![],
            notes: vec!["a note".into()],
            elapsed_s: 42.0,
        };
        report.check_targets();
        report
    }

    #[test]
    fn medians_are_per_column_errors_summed_peaks_maxed() {
        let runs = vec![run(1, 100.0, 1.0), run(2, 300.0, 5.0), run(3, 200.0, 3.0)];
        let s = Summary::of(&runs);
        assert_eq!(s.rps, 200.0);
        assert_eq!(s.p50_ms, 3.0);
        assert_eq!(s.errors, 3);
        assert_eq!(s.peak_rss_bytes, Some(30_000_000));
        assert_eq!(s.cpu_ms_per_1k, Some(50.0));
        assert_eq!(median(vec![4.0, 1.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(Summary::of(&[]).rps, 0.0);
    }

    #[test]
    fn targets_compare_the_right_cells() {
        let report = report();
        let find = |name: &str| report.targets.iter().find(|t| t.name == name).unwrap();
        let raw = find("get: tier-raw req/s / pgbench prepared tps");
        assert_eq!(raw.value, Some(20_000.0 / 32_000.0));
        assert_eq!(raw.met, Some(true));
        let sqlx = find("get: tier-sqlx / tier-raw req/s");
        assert_eq!(sqlx.met, Some(false));
        let orm = find("get: tier-orm / tier-raw req/s");
        assert_eq!(orm.met, None);
        assert_eq!(orm.note, "needs the get workload of both tiers");
        assert_eq!(raw.note, "");
        let rss = find("tier-raw: peak RSS, MB (any workload)");
        assert_eq!(rss.value, Some(30.0));
        assert_eq!(rss.met, Some(true));
        let list = find("tier-raw: list p50, last page / first page");
        assert_eq!(list.met, None);
        assert!(list.note.contains("--rows 1000000"));
    }

    #[test]
    fn markdown_has_every_column_and_section() {
        let md = report().markdown();
        assert!(md.contains(
            "| workload | tier | req/s | p50 ms | p99 ms | p99.9 ms | errors | peak RSS MB | CPU ms / 1k req | DB round trips / req |"
        ));
        assert!(
            md.contains("| get | tier-raw | 20,000 | 2.00 | 8.00 | 16.0 | 3 | 30.0 | 50 | 1.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| prepared | 64 | 1 | 32,000 | 2.000 | 0 |"),
            "{md}"
        );
        assert!(md.contains("| tier-raw |  | 120 / 200 | 9.5 |"), "{md}");
        assert!(
            md.contains(
                "| get | tier-raw | 1 | 0.25 | Bind 1, Execute 1, Sync 1 | ReadyForQuery 1 |"
            ),
            "{md}"
        );
        assert!(md.contains("| **no** |"));
        assert!(md.contains("- a note"));
        assert!(
            md.contains("| get | tier-raw | 50 | 25 | - | 125 | 92 % |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| get | pgbench prepared (64 clients) | - | - | - | 55 per 1k queries | - |"
            ),
            "{md}"
        );
        let json = serde_json::to_value(report()).unwrap();
        assert_eq!(json["results"][0]["summary"]["rps"], 20_000.0);
        assert_eq!(json["results"][0]["round_trips"]["client"]["Bind"], 1.0);
    }

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(12.0), "12");
        assert_eq!(num(1.50, 2), "1.5");
        assert_eq!(num(3.0, 2), "3");
        assert_eq!(ms(0.4567), "0.457");
        assert_eq!(ms(12.34), "12.3");
    }
}
