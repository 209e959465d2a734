//! The export's figures: rows per second, and how much the tier's memory grows while it
//! streams every user (`crate::export` measures them).
//!
//! An export is not a request rate, so it has figures of its own ([`ExportRun`]) and a
//! section of its own, outside the results table and the chart. Over the runs of a
//! tier (one per round), rows/s, MB/s and the time to the first line are **medians**;
//! the growth is the **maximum** (a peak is a peak). A failed run (an error, or not one
//! line per seeded user) is left out of the figures and said in the notes.
//!
//! The course's target (API.md, "Export"): exporting 1,000,000 users grows the tier's
//! resident memory by at most 20 MB, in every tier.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::format::Align::{Left, Right};
use super::format::{opt, table, thousands};
use super::{Report, Target, median};
use crate::cli::TierLabel;
use crate::proxy::PerRequest;

/// The goal: resident memory grows by at most this many MB (10^6 bytes) during an export.
pub const EXPORT_GROWTH_GOAL_MB: f64 = 20.0;

/// The rows the goal is set for.
pub const EXPORT_GOAL_ROWS: u64 = 1_000_000;

/// One export of one tier in one round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRun {
    /// 1-based round.
    pub round: usize,
    /// Lines (users) received.
    pub rows: u64,
    /// Bytes of the body.
    pub bytes: u64,
    /// From the request to the last byte, seconds.
    pub seconds: f64,
    /// From the request to the first complete line, ms.
    pub first_line_ms: Option<f64>,
    /// The tier's `VmRSS` just before the request, bytes.
    pub rss_before_bytes: Option<u64>,
    /// The highest `VmRSS` sampled during the export (the one before included), bytes.
    pub rss_sampled_peak_bytes: Option<u64>,
    /// How many samples were read.
    pub rss_samples: u64,
    /// `VmHWM` at the end, reset just before the request (`None` without the reset).
    pub rss_hwm_bytes: Option<u64>,
    /// Why the run failed, if it did.
    pub error: Option<String>,
}

impl ExportRun {
    /// Rows per second.
    pub fn rows_per_s(&self) -> f64 {
        per_second(self.rows as f64, self.seconds)
    }

    /// Megabytes (10^6 bytes) of body per second.
    pub fn mb_per_s(&self) -> f64 {
        per_second(self.bytes as f64 / 1e6, self.seconds)
    }

    /// The peak during the export: the higher of the samples and the reset `VmHWM`.
    pub fn peak_bytes(&self) -> Option<u64> {
        self.rss_sampled_peak_bytes.max(self.rss_hwm_bytes)
    }

    /// Peak minus before, bytes (0 if memory went down).
    pub fn growth_bytes(&self) -> Option<u64> {
        Some(self.peak_bytes()?.saturating_sub(self.rss_before_bytes?))
    }
}

fn per_second(amount: f64, seconds: f64) -> f64 {
    if seconds > 0.0 { amount / seconds } else { 0.0 }
}

/// A tier's exports over the rounds: medians of the runs that succeeded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExportSummary {
    /// Runs that succeeded (the figures are theirs).
    pub runs_ok: usize,
    /// Median rows per second.
    pub rows_per_s: f64,
    /// Median MB of body per second.
    pub mb_per_s: f64,
    /// Median ms to the first line.
    pub first_line_ms: Option<f64>,
    /// Median resident memory before an export, bytes.
    pub rss_before_bytes: Option<u64>,
    /// Highest peak during an export, bytes.
    pub rss_peak_bytes: Option<u64>,
    /// Highest growth during an export, bytes.
    pub growth_bytes: Option<u64>,
}

impl ExportSummary {
    /// The summary of the runs that succeeded; `None` if none did.
    pub fn of(runs: &[ExportRun]) -> Option<Self> {
        let ok: Vec<&ExportRun> = runs.iter().filter(|r| r.error.is_none()).collect();
        if ok.is_empty() {
            return None;
        }
        let first_lines: Vec<f64> = ok.iter().filter_map(|r| r.first_line_ms).collect();
        let before: Vec<f64> = ok
            .iter()
            .filter_map(|r| r.rss_before_bytes.map(|b| b as f64))
            .collect();
        Some(Self {
            runs_ok: ok.len(),
            rows_per_s: median(ok.iter().map(|r| r.rows_per_s()).collect()),
            mb_per_s: median(ok.iter().map(|r| r.mb_per_s()).collect()),
            first_line_ms: (!first_lines.is_empty()).then(|| median(first_lines)),
            rss_before_bytes: (!before.is_empty()).then(|| median(before) as u64),
            rss_peak_bytes: ok.iter().filter_map(|r| r.peak_bytes()).max(),
            growth_bytes: ok.iter().filter_map(|r| r.growth_bytes()).max(),
        })
    }
}

/// One tier's exports: every run and their summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportCell {
    /// The tier row's label.
    pub tier: TierLabel,
    /// Every run, failed ones included.
    pub runs: Vec<ExportRun>,
    /// Over the runs that succeeded; `None` if none did.
    pub summary: Option<ExportSummary>,
    /// One export through the counting proxy: its round trips and messages.
    pub round_trips: Option<PerRequest>,
}

impl ExportCell {
    /// The cell of `tier`'s runs.
    pub fn new(tier: TierLabel, runs: Vec<ExportRun>) -> Self {
        let summary = ExportSummary::of(&runs);
        Self {
            tier,
            runs,
            summary,
            round_trips: None,
        }
    }

    /// How many runs failed.
    pub fn failed(&self) -> usize {
        self.runs.iter().filter(|r| r.error.is_some()).count()
    }
}

/// Bytes as MB (10^6), the unit of the goal.
fn mb(bytes: Option<u64>) -> Option<f64> {
    bytes.map(|b| b as f64 / 1e6)
}

impl Report {
    /// The export's target, one per tier: growth at most 20 MB.
    pub(super) fn export_targets(&self) -> Vec<Target> {
        let rows = self.settings.rows;
        self.tiers
            .iter()
            .map(|tier| {
                let cell = self.exports.iter().find(|c| c.tier == tier.label);
                let value = cell
                    .and_then(|c| c.summary.as_ref())
                    .and_then(|s| mb(s.growth_bytes));
                let mut notes = Vec::new();
                match cell {
                    None => notes.push(format!(
                        "run with --rows {EXPORT_GOAL_ROWS} --workloads export --posts-per-user 0"
                    )),
                    Some(c) if c.failed() > 0 => {
                        notes.push(format!("{} of {} exports failed", c.failed(), c.runs.len()))
                    }
                    Some(_) => {}
                }
                if cell.is_some() && rows != EXPORT_GOAL_ROWS {
                    notes.push(format!(
                        "the target is set for 1,000,000 rows; this run: {}",
                        thousands(rows as f64)
                    ));
                }
                Target {
                    name: format!("{}: RSS growth during export, MB", tier.label),
                    goal: format!("<= {EXPORT_GROWTH_GOAL_MB}"),
                    value,
                    met: value.map(|v| v <= EXPORT_GROWTH_GOAL_MB),
                    note: notes.join("; "),
                }
            })
            .collect()
    }

    /// "Export": rows/s, MB/s, first line, and the memory before, at peak and grown.
    pub(super) fn export_section(&self, md: &mut String) {
        if self.exports.is_empty() {
            return;
        }
        let _ = writeln!(
            md,
            "\n## Export: {} users streamed\n",
            thousands(self.settings.rows as f64)
        );
        let _ = writeln!(
            md,
            "`GET /users/export`, one export per tier and round, read by one client as fast \
             as it can and counted line by line (each export must bring one line per user). \
             The tier's resident memory (`VmRSS`) is read just before the request and sampled \
             every {} ms during the export; the kernel's high-water mark (`VmHWM`, reset just \
             before the request) catches what falls between two samples, and the peak is the \
             higher of the two. Growth is the peak minus the memory before. Medians over the \
             exports; peak and growth are the highest. The goal: at most {EXPORT_GROWTH_GOAL_MB} \
             MB of growth in every tier. DB round trips: one export through the counting \
             proxy (the tier reads the rows in batches of {}).\n",
            crate::export::SAMPLE_EVERY.as_millis(),
            thousands(users_api::store::EXPORT_BATCH_ROWS as f64)
        );
        table(
            md,
            &[
                ("tier", Left),
                ("exports", Right),
                ("rows/s", Right),
                ("MB/s", Right),
                ("first line ms", Right),
                ("RSS before MB", Right),
                ("peak MB", Right),
                ("growth MB", Right),
                ("DB round trips", Right),
            ],
            self.exports.iter().map(|cell| {
                let runs = if cell.failed() > 0 {
                    format!("{} ({} failed)", cell.runs.len(), cell.failed())
                } else {
                    cell.runs.len().to_string()
                };
                let mut row = vec![cell.tier.to_string(), runs];
                match &cell.summary {
                    Some(s) => row.extend([
                        thousands(s.rows_per_s),
                        opt(Some(s.mb_per_s), 1),
                        opt(s.first_line_ms, 1),
                        opt(mb(s.rss_before_bytes), 1),
                        opt(mb(s.rss_peak_bytes), 1),
                        opt(mb(s.growth_bytes), 1),
                    ]),
                    None => row.extend(std::iter::repeat_n("-".to_owned(), 6)),
                }
                row.push(opt(cell.round_trips.as_ref().map(|r| r.round_trips), 0));
                row
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{export_run, report};

    #[test]
    fn a_run_computes_its_rates_and_growth() {
        // 10,000 rows, 1 MB, in 1/16 s.
        let mut run = export_run(1, 0.0625, 12_000_000);
        assert_eq!(run.rows_per_s(), 160_000.0);
        assert_eq!(run.mb_per_s(), 16.0);
        // The sampled peak is 8 MB above before; VmHWM caught 12 MB.
        assert_eq!(run.peak_bytes(), Some(42_000_000));
        assert_eq!(run.growth_bytes(), Some(12_000_000));
        run.rss_hwm_bytes = None;
        assert_eq!(run.growth_bytes(), Some(8_000_000));
        run.rss_sampled_peak_bytes = Some(29_000_000);
        assert_eq!(
            run.growth_bytes(),
            Some(0),
            "memory that went down is no growth"
        );
        run.rss_before_bytes = None;
        assert_eq!(run.growth_bytes(), None);
        run.seconds = 0.0;
        assert_eq!(run.rows_per_s(), 0.0);
    }

    #[test]
    fn medians_of_the_runs_that_succeeded_and_the_highest_growth() {
        let mut failed = export_run(3, 1.0, 90_000_000);
        failed.error = Some("9999 lines, expected 10000".into());
        let cell = ExportCell::new(
            "tier-raw".into(),
            vec![
                export_run(1, 0.0625, 5_000_000),
                export_run(2, 0.078125, 7_000_000),
                failed,
            ],
        );
        assert_eq!(cell.failed(), 1);
        let s = cell.summary.unwrap();
        assert_eq!(s.runs_ok, 2);
        assert_eq!(s.rows_per_s, (160_000.0 + 128_000.0) / 2.0);
        assert_eq!(
            s.growth_bytes,
            Some(7_000_000),
            "the failed run's 90 MB is left out"
        );
        assert_eq!(s.rss_peak_bytes, Some(37_000_000));
        let all_failed = ExportCell::new("tier-raw".into(), vec![export_run(1, 1.0, 0)]);
        assert!(all_failed.summary.is_some());
        let mut broken = export_run(1, 1.0, 0);
        broken.error = Some("cut".into());
        assert!(
            ExportCell::new("tier-raw".into(), vec![broken])
                .summary
                .is_none()
        );
    }

    /// The fixture: tier-raw grows 12 MB (met), tier-sqlx 25 MB (missed).
    #[test]
    fn the_target_is_met_or_missed_per_tier() {
        let report = report();
        let find = |name: &str| report.targets.iter().find(|t| t.name == name).unwrap();
        let raw = find("tier-raw: RSS growth during export, MB");
        assert_eq!((raw.value, raw.met), (Some(12.0), Some(true)));
        assert_eq!(raw.goal, "<= 20");
        let sqlx = find("tier-sqlx: RSS growth during export, MB");
        assert_eq!((sqlx.value, sqlx.met), (Some(25.0), Some(false)));
        assert_eq!(
            sqlx.note,
            "1 of 3 exports failed; the target is set for 1,000,000 rows; this run: 10,000"
        );
        let md = report.markdown();
        assert!(md.contains("\n## Export: 10,000 users streamed\n"), "{md}");
        assert!(
            md.contains("| tier-raw | 3 | 160,000 | 16.0 | 12.5 | 30.0 | 42.0 | 12.0 | 10 |"),
            "{md}"
        );
        assert!(md.contains("| tier-sqlx | 3 (1 failed) |"), "{md}");

        let mut none = report.clone();
        none.exports.clear();
        none.check_targets();
        let raw = none
            .targets
            .iter()
            .find(|t| t.name == "tier-raw: RSS growth during export, MB")
            .unwrap();
        assert_eq!(raw.met, None);
        assert_eq!(
            raw.note,
            "run with --rows 1000000 --workloads export --posts-per-user 0"
        );
        assert!(!none.markdown().contains("## Export"));
    }
}
