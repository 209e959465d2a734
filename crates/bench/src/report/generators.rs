//! "Two load generators": the bench's own closed loop and wrk, against the same warm
//! tier in the same rounds (`crate::wrk`), so a reader can see whether the bench's
//! generator is as lean as the reference one, and whether tier-raw's ratio to pgbench
//! depends on who generates the load (issue #14 wants the two within 5 %).
//!
//! Per tier: `get` req/s by each generator (medians over rounds), each generator's
//! CPU ms per 1,000 requests, wrk's percentiles and errors; then tier-raw/pgbench and
//! tier-raw (pipelined)/pgbench by each generator, and how far apart the two are.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::format::Align::{Left, Right};
use super::format::{ms, num, opt, table, thousands};
use super::{CellKey, Report, Target, median};
use crate::cli::TierLabel;
use crate::workload::Workload;
use crate::wrk::WrkRun;

/// The bound on the two generators' tier-raw/pgbench ratios, in %.
pub const GENERATORS_GOAL_PERCENT: f64 = 5.0;

/// One tier's `get` by both generators.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GeneratorRow {
    /// The tier row.
    pub tier: TierLabel,
    /// req/s by the bench's generator (median over rounds).
    pub bench_rps: Option<f64>,
    /// req/s by wrk (median over rounds).
    pub wrk_rps: Option<f64>,
    /// The bench generator's CPU ms per 1,000 requests (median).
    pub bench_cpu_ms_per_1k: Option<f64>,
    /// wrk's CPU ms per 1,000 requests (median).
    pub wrk_cpu_ms_per_1k: Option<f64>,
    /// wrk's p50, ms (median).
    pub wrk_p50_ms: Option<f64>,
    /// wrk's p99, ms (median).
    pub wrk_p99_ms: Option<f64>,
    /// wrk's non-2xx answers and socket errors, summed over rounds.
    pub wrk_errors: u64,
    /// Every wrk run, for report.json.
    pub wrk_runs: Vec<WrkRun>,
}

/// A tier's ratio to pgbench's prepared ceiling, by each generator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GeneratorRatio {
    /// The tier row (`tier-raw` or `tier-raw (pipelined)`).
    pub tier: TierLabel,
    /// By the bench's generator.
    pub bench: Option<f64>,
    /// By wrk.
    pub wrk: Option<f64>,
    /// (bench - wrk) / wrk, in %.
    pub difference_percent: Option<f64>,
}

/// The section's data: empty rows and a note when wrk did not run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Generators {
    /// Per tier that ran `get`, in the plan's order.
    pub rows: Vec<GeneratorRow>,
    /// tier-raw and tier-raw (pipelined) against pgbench.
    pub ratios: Vec<GeneratorRatio>,
    /// Why wrk did not run (`--no-wrk`, not installed), if it did not.
    pub note: Option<String>,
}

impl Generators {
    /// The comparison of `report`'s `get` cells with the wrk runs filed per tier.
    pub fn compare(
        report: &Report,
        mut wrk: BTreeMap<CellKey, Vec<WrkRun>>,
        note: Option<String>,
    ) -> Self {
        let median_of = |values: Vec<f64>| (!values.is_empty()).then(|| median(values));
        let mut rows = Vec::new();
        for cell in report
            .results
            .iter()
            .filter(|c| c.workload == Workload::Get)
        {
            let runs = wrk
                .remove(&CellKey::new(&cell.tier, Workload::Get))
                .unwrap_or_default();
            rows.push(GeneratorRow {
                tier: cell.tier.clone(),
                bench_rps: Some(cell.summary.rps),
                wrk_rps: median_of(runs.iter().map(|r| r.rps).collect()),
                bench_cpu_ms_per_1k: cell.summary.loadgen_cpu_ms_per_1k,
                wrk_cpu_ms_per_1k: median_of(
                    runs.iter().filter_map(WrkRun::cpu_ms_per_1k).collect(),
                ),
                wrk_p50_ms: median_of(runs.iter().map(|r| r.p50_ms).collect()),
                wrk_p99_ms: median_of(runs.iter().map(|r| r.p99_ms).collect()),
                wrk_errors: runs.iter().map(|r| r.non_2xx + r.socket_errors).sum(),
                wrk_runs: runs,
            });
        }
        let pgbench = report
            .pgbench
            .prepared
            .as_ref()
            .map(|c| c.queries_per_second)
            .filter(|qps| *qps > 0.0);
        let ratios = ["tier-raw", "tier-raw (pipelined)"]
            .into_iter()
            .filter_map(|tier| rows.iter().find(|r| r.tier == tier))
            .map(|row| {
                let bench = row.bench_rps.zip(pgbench).map(|(a, b)| a / b);
                let wrk = row.wrk_rps.zip(pgbench).map(|(a, b)| a / b);
                GeneratorRatio {
                    tier: row.tier.clone(),
                    bench,
                    wrk,
                    difference_percent: difference_percent(bench, wrk),
                }
            })
            .collect();
        Self { rows, ratios, note }
    }

    /// Whether there is anything to show.
    pub fn is_empty(&self) -> bool {
        self.note.is_none() && self.rows.iter().all(|r| r.wrk_runs.is_empty())
    }
}

/// (a - b) / b in %, when both are known and b is not 0.
fn difference_percent(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some((a - b) / b * 100.0),
        _ => None,
    }
}

impl Report {
    /// The target of issue #14: tier-raw/pgbench by the two generators within 5 %.
    pub(super) fn generator_targets(&self) -> Vec<Target> {
        let Some(generators) = &self.generators else {
            return Vec::new();
        };
        let raw = generators.ratios.iter().find(|r| r.tier == "tier-raw");
        let value = raw.and_then(|r| r.difference_percent).map(f64::abs);
        let note = match (&generators.note, value) {
            (_, Some(_)) => String::new(),
            (Some(why), None) => why.clone(),
            (None, None) => "needs the get workload of tier-raw, pgbench and wrk".into(),
        };
        vec![Target {
            // No `|` in the name: it goes into a Markdown table.
            name: "tier-raw/pgbench: bench generator vs wrk, difference in % (absolute)".into(),
            goal: format!("<= {GENERATORS_GOAL_PERCENT}"),
            value,
            met: value.map(|v| v <= GENERATORS_GOAL_PERCENT),
            note,
        }]
    }

    /// The "Two load generators" section (left out when wrk was not asked for and
    /// there is nothing to say).
    pub(super) fn generators_section(&self, md: &mut String) {
        let Some(generators) = self.generators.as_ref().filter(|g| !g.is_empty()) else {
            return;
        };
        let _ = writeln!(md, "\n## Two load generators\n");
        if let Some(note) = &generators.note {
            let _ = writeln!(md, "{note}.");
            return;
        }
        let _ = writeln!(
            md,
            "The `get` workload by the bench's own closed loop, then by \
             `wrk -t1 -c{c} -d{d}s --latency -s baseline/fastapi/random_id.lua` against the \
             same warm tier in the same round (medians over rounds). A generator's CPU is \
             CPU the tier and PostgreSQL cannot use: the leaner one shows more of the tier.\n",
            c = self.settings.connections,
            d = self.settings.duration_s.round().max(1.0),
        );
        table(
            md,
            &[
                ("tier", Left),
                ("bench req/s", Right),
                ("wrk req/s", Right),
                ("bench CPU ms / 1k req", Right),
                ("wrk CPU ms / 1k req", Right),
                ("wrk p50 ms", Right),
                ("wrk p99 ms", Right),
                ("wrk errors", Right),
            ],
            generators.rows.iter().map(|row| {
                vec![
                    row.tier.to_string(),
                    row.bench_rps.map_or("-".into(), thousands),
                    row.wrk_rps.map_or("-".into(), thousands),
                    opt(row.bench_cpu_ms_per_1k, 0),
                    opt(row.wrk_cpu_ms_per_1k, 0),
                    row.wrk_p50_ms.map_or("-".into(), ms),
                    row.wrk_p99_ms.map_or("-".into(), ms),
                    row.wrk_errors.to_string(),
                ]
            }),
        );
        if generators.ratios.is_empty() {
            return;
        }
        let _ = writeln!(md);
        table(
            md,
            &[
                ("ratio to pgbench prepared", Left),
                ("bench generator", Right),
                ("wrk", Right),
                ("difference", Right),
            ],
            generators.ratios.iter().map(|r| {
                vec![
                    format!("{} / pgbench", r.tier),
                    opt(r.bench, 2),
                    opt(r.wrk, 2),
                    r.difference_percent
                        .map_or("-".into(), |d| format!("{} %", num(d, 1))),
                ]
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::report;

    fn wrk_run(round: usize, rps: f64, cpu_ms: f64) -> WrkRun {
        WrkRun {
            round,
            requests: (rps * 2.0) as u64,
            rps,
            p50_ms: 2.0,
            p99_ms: 5.0,
            non_2xx: 1,
            cpu_ms: Some(cpu_ms),
            ..WrkRun::default()
        }
    }

    /// The fixture's tier-raw does 20,000 req/s and pgbench 32,000 tps: 0.625. wrk at
    /// 21,000 gives 0.656, the bench's ratio 4.8 % under wrk's: within the 5 %.
    #[test]
    fn compares_the_two_generators_against_pgbench() {
        let mut report = report();
        let mut wrk = BTreeMap::new();
        wrk.insert(
            CellKey::new(&"tier-raw".into(), Workload::Get),
            vec![
                wrk_run(1, 20_000.0, 100.0),
                wrk_run(2, 21_000.0, 84.0),
                wrk_run(3, 22_000.0, 88.0),
            ],
        );
        let generators = Generators::compare(&report, wrk, None);
        let raw = &generators.rows[0];
        assert_eq!(raw.tier, "tier-raw");
        assert_eq!(raw.wrk_rps, Some(21_000.0));
        // 84 ms for 42,000 requests, 88 for 44,000, 100 for 40,000: median 2.
        assert_eq!(raw.wrk_cpu_ms_per_1k, Some(2.0));
        assert_eq!(raw.wrk_errors, 3);
        assert!(generators.rows.iter().skip(1).all(|r| r.wrk_rps.is_none()));
        let ratio = &generators.ratios[0];
        assert_eq!(ratio.wrk, Some(21_000.0 / 32_000.0));
        let diff = ratio.difference_percent.unwrap();
        assert!((diff - (20.0 / 21.0 - 1.0) * 100.0).abs() < 1e-9, "{diff}");
        report.generators = Some(generators);
        let target = report.generator_targets().remove(0);
        assert_eq!(target.met, Some(true));
        let md = report.markdown();
        assert!(md.contains("## Two load generators"), "{md}");
        assert!(
            md.contains("| tier-raw / pgbench | 0.62 | 0.66 | -4.8 % |"),
            "{md}"
        );
    }

    #[test]
    fn says_why_wrk_did_not_run() {
        let mut report = report();
        let note = Some(crate::wrk::NOT_INSTALLED.to_owned());
        report.generators = Some(Generators::compare(&report, BTreeMap::new(), note));
        let target = report.generator_targets().remove(0);
        assert_eq!((target.value, target.met), (None, None));
        assert_eq!(target.note, crate::wrk::NOT_INSTALLED);
        assert!(
            report
                .markdown()
                .contains("wrk not installed (apt-get install wrk).")
        );
        report.generators = Some(Generators::compare(&report, BTreeMap::new(), None));
        assert!(!report.markdown().contains("Two load generators"));
    }
}
