//! "Tails at a fixed rate": the open-loop runs (`crate::tails`) next to the closed
//! loop's p99.
//!
//! In each round, after a tier's closed-loop `get`, the same tier process is driven at
//! fixed shares of the req/s it just measured (`--open-loop-levels`, 50 % and 80 % by
//! default), each request's latency counted from when it was due
//! (`crate::loadgen::open_loop`). Every round gives a [`TailRun`]; a [`TailCell`] holds
//! one tier at one level: the medians over rounds, column by column as in the main
//! table, late requests and errors summed, and whether every round kept up with its
//! rate. A run that fell short measured the queue it built up, and the section says so.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::format::Align::{Left, Right};
use super::format::{ms, table, thousands};
use super::{Cell, Report, median};
use crate::cli::{TierLabel, TierSpec};
use crate::workload::Workload;

/// One open-loop run: one tier, one level, one round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TailRun {
    /// The tier row's label.
    pub tier: TierLabel,
    /// The rate, in percent of the tier's closed-loop `get` req/s of the same round.
    pub level_percent: u32,
    /// 1-based round.
    pub round: usize,
    /// The intended rate, req/s.
    pub intended_rps: f64,
    /// Successful requests per second in the window.
    pub achieved_rps: f64,
    /// Whether the achieved rate was within a few percent of the intended one.
    pub kept_up: bool,
    /// Successful requests in the window.
    pub requests: u64,
    /// Requests that left after their time, their connection still busy.
    pub late: u64,
    /// Requests due in the window that were never sent.
    pub unsent: u64,
    /// Failed requests in the window.
    pub errors: u64,
    /// The first few errors.
    pub error_samples: Vec<String>,
    /// Median latency from when each request was due, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Slowest request, ms.
    pub max_ms: f64,
}

/// One tier at one level, over the rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TailCell {
    /// The tier row's label.
    pub tier: TierLabel,
    /// The level, percent of the closed-loop `get` req/s.
    pub level_percent: u32,
    /// Every round's run.
    pub runs: Vec<TailRun>,
    /// Median intended rate, req/s.
    pub intended_rps: f64,
    /// Median achieved rate, req/s.
    pub achieved_rps: f64,
    /// Every round kept up with its rate.
    pub kept_up: bool,
    /// Successful requests, summed over rounds.
    pub requests: u64,
    /// Late requests, summed over rounds.
    pub late: u64,
    /// Unsent requests, summed over rounds.
    pub unsent: u64,
    /// Errors, summed over rounds.
    pub errors: u64,
    /// Median p50, ms.
    pub p50_ms: f64,
    /// Median p99, ms.
    pub p99_ms: f64,
    /// Median p99.9, ms.
    pub p999_ms: f64,
    /// Median of the rounds' slowest requests, ms.
    pub max_ms: f64,
    /// The closed loop's median p99 of the same tier in `get`, ms, for contrast.
    pub closed_loop_p99_ms: Option<f64>,
}

/// The cells of `runs` in the order of `tiers`, then of `levels`, each with the closed
/// loop's p99 from `results`.
pub(super) fn cells(
    tiers: &[TierSpec],
    levels: &[u32],
    runs: Vec<TailRun>,
    results: &[Cell],
) -> Vec<TailCell> {
    let mut cells = Vec::new();
    for spec in tiers {
        for level in levels {
            let mine: Vec<TailRun> = runs
                .iter()
                .filter(|r| r.tier == spec.label && r.level_percent == *level)
                .cloned()
                .collect();
            if mine.is_empty() {
                continue;
            }
            let median_of = |f: fn(&TailRun) -> f64| median(mine.iter().map(f).collect());
            let closed = results
                .iter()
                .find(|c| c.tier == spec.label && c.workload == Workload::Get);
            cells.push(TailCell {
                tier: spec.label.clone(),
                level_percent: *level,
                intended_rps: median_of(|r| r.intended_rps),
                achieved_rps: median_of(|r| r.achieved_rps),
                kept_up: mine.iter().all(|r| r.kept_up),
                requests: mine.iter().map(|r| r.requests).sum(),
                late: mine.iter().map(|r| r.late).sum(),
                unsent: mine.iter().map(|r| r.unsent).sum(),
                errors: mine.iter().map(|r| r.errors).sum(),
                p50_ms: median_of(|r| r.p50_ms),
                p99_ms: median_of(|r| r.p99_ms),
                p999_ms: median_of(|r| r.p999_ms),
                max_ms: median_of(|r| r.max_ms),
                closed_loop_p99_ms: closed.map(|c| c.summary.p99_ms),
                runs: mine,
            });
        }
    }
    cells
}

impl Report {
    /// "Tails at a fixed rate": per tier and level, the rates and the latencies from
    /// when each request was due, next to the closed loop's p99.
    pub(super) fn tails_section(&self, md: &mut String) {
        if self.tails.is_empty() {
            return;
        }
        let _ = writeln!(md, "\n## Tails at a fixed rate (open loop)\n");
        let _ = writeln!(
            md,
            "The results above come from a closed loop: each of the {} connections sends \
             its next request when the last one has answered. When the tier or the \
             database stalls, the connections wait instead of sending, so the requests \
             that would have queued behind the stall are never made, and the stall shows \
             as one slow request per connection among thousands of fast ones: the \
             closed loop's p99 hides it (coordinated omission). Here the same tier \
             process, right after its closed-loop get, is driven at a fixed share of the \
             get req/s it just measured: request k is due at k / rate, over the same \
             connections; a connection still busy when its next request is due sends it \
             as soon as it is free, and that request's latency counts from when it was \
             due (wrk2's method). A stall then shows in every request due during it, so \
             p99 and p99.9 are what clients arriving at that rate would see. Below \
             saturation there is no queue of {} requests in front of each one, so p50 is \
             lower than the closed loop's; the tail is higher wherever something \
             stalled. Late: requests that left after their time (their connection was still \
             busy), and their share of the requests. The load generator's \
             timer ticks every millisecond; a request sent on time is measured from its \
             sending, so the tick is not charged to the tier.\n",
            self.settings.connections, self.settings.connections
        );
        table(
            md,
            &[
                ("tier", Left),
                ("level", Right),
                ("intended req/s", Right),
                ("achieved req/s", Right),
                ("late", Right),
                ("p50 ms", Right),
                ("p99 ms", Right),
                ("p99.9 ms", Right),
                ("max ms", Right),
                ("closed-loop p99 ms", Right),
            ],
            self.tails.iter().map(|t| {
                let achieved = thousands(t.achieved_rps);
                vec![
                    t.tier.to_string(),
                    format!("{} %", t.level_percent),
                    thousands(t.intended_rps),
                    if t.kept_up {
                        achieved
                    } else {
                        format!("**{achieved}** (short)")
                    },
                    format!(
                        "{} ({:.1} %)",
                        thousands(t.late as f64),
                        t.late as f64 * 100.0 / t.requests.max(1) as f64
                    ),
                    ms(t.p50_ms),
                    ms(t.p99_ms),
                    ms(t.p999_ms),
                    ms(t.max_ms),
                    t.closed_loop_p99_ms.map_or("-".to_owned(), ms),
                ]
            }),
        );
        let short: Vec<&TailCell> = self.tails.iter().filter(|t| !t.kept_up).collect();
        if !short.is_empty() {
            let _ = writeln!(md);
        }
        for t in short {
            let _ = writeln!(
                md,
                "- {} at {} %: achieved {} of {} req/s ({} unsent): the server could not \
                 keep up, so its tail is the queue that built up, not its service time.",
                t.tier,
                t.level_percent,
                thousands(t.achieved_rps),
                thousands(t.intended_rps),
                t.unsent
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::TierKind;
    use crate::report::fixtures::{self, cell};

    /// A run of `tier` at `level` in `round`, one request in ten late.
    fn run(tier: &str, level: u32, round: usize, p99: f64, kept_up: bool) -> TailRun {
        TailRun {
            tier: tier.into(),
            level_percent: level,
            round,
            intended_rps: 10_000.0,
            achieved_rps: if kept_up { 9_990.0 } else { 7_000.0 },
            kept_up,
            requests: 80_000,
            late: 8_000,
            unsent: if kept_up { 0 } else { 500 },
            errors: 0,
            error_samples: vec![],
            p50_ms: 0.5,
            p99_ms: p99,
            p999_ms: p99 * 3.0,
            max_ms: p99 * 10.0,
        }
    }

    /// Cells follow the tiers and the levels, take medians over rounds, sum the late
    /// requests, and stay short if any round was; the section shows them next to the
    /// closed loop's p99 and says which could not keep up.
    #[test]
    fn cells_take_medians_and_the_section_flags_a_short_run() {
        let tiers: Vec<TierSpec> = [TierKind::Raw, TierKind::Sqlx]
            .into_iter()
            .map(|kind| kind.pooler_rows()[0].clone())
            .collect();
        let runs = vec![
            run("tier-sqlx", 50, 1, 2.0, true),
            run("tier-raw", 80, 1, 9.0, true),
            run("tier-raw", 50, 1, 1.0, true),
            run("tier-raw", 50, 2, 3.0, true),
            run("tier-raw", 50, 3, 2.0, true),
            run("tier-raw", 80, 2, 40.0, false),
            run("tier-raw", 30, 1, 1.0, true),
        ];
        let results = vec![cell("tier-raw", Workload::Get, 20_000.0, 2.0)];
        let tails = cells(&tiers, &[50, 80], runs, &results);
        let order: Vec<(&str, u32)> = tails
            .iter()
            .map(|t| (t.tier.as_str(), t.level_percent))
            .collect();
        assert_eq!(
            order,
            [("tier-raw", 50), ("tier-raw", 80), ("tier-sqlx", 50)]
        );
        assert_eq!(tails[0].p99_ms, 2.0);
        assert_eq!((tails[0].late, tails[0].requests), (24_000, 240_000));
        assert!(tails[0].kept_up && !tails[1].kept_up);
        assert_eq!(tails[1].p99_ms, 24.5);
        // The closed loop's median p99 of tier-raw's get (8, 16 and 8 ms).
        assert_eq!(tails[0].closed_loop_p99_ms, Some(8.0));
        assert_eq!(tails[2].closed_loop_p99_ms, None);

        let mut report = fixtures::report();
        report.tails = tails;
        let md = report.markdown();
        assert!(md.contains("## Tails at a fixed rate (open loop)"), "{md}");
        assert!(
            md.contains(
                "| tier-raw | 50 % | 10,000 | 9,990 | 24,000 (10.0 %) | 0.500 | 2.00 | 6.00 | 20.0 | 8.00 |"
            ),
            "{md}"
        );
        assert!(md.contains("| **8,495** (short) |"), "{md}");
        assert!(
            md.contains("- tier-raw at 80 %: achieved 8,495 of 10,000 req/s (500 unsent): the server could not keep up"),
            "{md}"
        );
        assert!(
            md.contains("| tier-sqlx | 50 % |") && md.contains("| - |"),
            "{md}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["tails"][1]["runs"][1]["p99_ms"], 40.0);
        // Without open-loop runs, neither the section nor the JSON field appears.
        let plain = fixtures::report();
        assert!(!plain.markdown().contains("Tails at a fixed rate"));
        assert!(serde_json::to_value(&plain).unwrap().get("tails").is_none());
    }
}
