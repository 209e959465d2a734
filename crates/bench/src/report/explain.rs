//! Why a missed throughput target is missed: the CPU budget of both sides, from the
//! figures of the same run.
//!
//! On a 2-core machine running the tier, PostgreSQL and the load generator at once,
//! throughput is set by CPU: requests/s is about (cores x busy share) / (CPU per
//! request). So when a tier falls short of its yardstick (pgbench, or tier-raw), the
//! question "what holds it back?" has a measured answer: compare the two sides' CPU per
//! 1,000 requests, part by part (the tier process, PostgreSQL, the load generator, the
//! rest of the machine), and name the part that makes most of the difference. Round
//! trips per request, counted through the proxy, say why PostgreSQL's part grew.
//!
//! When the machine was not busy (under [`CPU_BOUND_PERCENT`]), CPU is not the limit,
//! and the explanation says so instead: the limit is then waiting (round trips, pool
//! size), not work.

use serde::{Deserialize, Serialize};

use super::{Cell, Report};
use crate::workload::Workload;

/// A window is CPU-bound when the machine's cores were at least this busy, %.
pub const CPU_BOUND_PERCENT: f64 = 90.0;

/// Why one target was missed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Explanation {
    /// The target's name, as in the targets table.
    pub target: String,
    /// The explanation, one paragraph of Markdown.
    pub text: String,
}

/// One side's CPU per 1,000 requests (or queries), ms, by who spent it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Budget {
    /// The whole machine.
    machine: f64,
    /// Every `postgres` process.
    postgres: f64,
    /// The tier process (0 for pgbench, which has none).
    tier: f64,
    /// The load generator; for pgbench, pgbench itself with whatever else was awake.
    client: f64,
}

impl Budget {
    /// A tier's budget in `cell` (`None` if a CPU figure is missing).
    fn of_cell(cell: &Cell) -> Option<Self> {
        let s = &cell.summary;
        Some(Self {
            machine: s.machine_cpu_ms_per_1k?,
            postgres: s.postgres_cpu_ms_per_1k?,
            tier: s.cpu_ms_per_1k?,
            client: s.loadgen_cpu_ms_per_1k?,
        })
    }

    /// The machine's CPU that none of the named parts account for.
    fn rest(&self) -> f64 {
        (self.machine - self.postgres - self.tier - self.client).max(0.0)
    }

    /// The parts, named, in the order the text lists them.
    fn parts(&self) -> [(&'static str, f64); 4] {
        [
            ("the tier process", self.tier),
            ("PostgreSQL", self.postgres),
            ("the load generator", self.client),
            ("the rest of the machine", self.rest()),
        ]
    }
}

impl Report {
    /// An explanation for each throughput target this run missed.
    pub(super) fn explain_missed(&self) -> Vec<Explanation> {
        let missed = |name: &str| {
            self.targets
                .iter()
                .find(|t| t.name == name && t.met == Some(false))
        };
        let mut out = Vec::new();
        for (target, tier) in [
            ("get: tier-raw req/s / pgbench prepared tps", "tier-raw"),
            (
                "get: tier-raw (pipelined) req/s / pgbench prepared tps",
                "tier-raw (pipelined)",
            ),
        ] {
            if let Some(t) = missed(target) {
                let text = self
                    .against_pgbench(tier, t.value.unwrap_or(0.0), &t.goal)
                    .unwrap_or_else(|| NOT_ENOUGH.to_owned());
                out.push(Explanation {
                    target: target.to_owned(),
                    text,
                });
            }
        }
        for (target, tier) in [
            ("get: tier-sqlx / tier-raw req/s", "tier-sqlx"),
            ("get: tier-orm / tier-raw req/s", "tier-orm"),
        ] {
            if let Some(t) = missed(target) {
                let text = self
                    .against_raw(tier, t.value.unwrap_or(0.0), &t.goal)
                    .unwrap_or_else(|| NOT_ENOUGH.to_owned());
                out.push(Explanation {
                    target: target.to_owned(),
                    text,
                });
            }
        }
        for (tier, original) in [
            ("tier-raw", "fastapi-asyncpg"),
            ("tier-sqlx", "fastapi-databases"),
            ("tier-orm", "fastapi-sqlalchemy"),
        ] {
            let target = format!("get: {tier} / {original} req/s");
            if let Some(t) = missed(&target) {
                let text = self
                    .against_original(tier, original, t.value.unwrap_or(0.0), &t.goal)
                    .unwrap_or_else(|| NOT_ENOUGH.to_owned());
                out.push(Explanation { target, text });
            }
        }
        out
    }

    /// `tier` against the FastAPI stack it was ported from, for the get workload. Both
    /// share PostgreSQL, the load generator and the machine, which bounds the ratio
    /// however cheap the tier's own process is (Amdahl's law).
    fn against_original(
        &self,
        tier: &str,
        original: &str,
        value: f64,
        goal: &str,
    ) -> Option<String> {
        let cell = self.cell(tier, Workload::Get)?;
        let ours = Budget::of_cell(cell)?;
        let theirs = Budget::of_cell(self.cell(original, Workload::Get)?)?;
        // What a request costs besides the server process itself.
        let shared = ours.machine - ours.tier;
        let bound = if shared > 0.0 {
            format!(
                " Besides the server process, a get costs {shared:.0} ms per 1,000 (PostgreSQL, \
                 the load generator, the rest of the machine), the same work for both: even a \
                 server that cost nothing would reach only {:.1} times {original} here.",
                theirs.machine / shared
            )
        } else {
            String::new()
        };
        Some(format!(
            "{value:.2} against a goal of {goal}. {} Per 1,000 gets the machine spent {:.0} ms \
             of CPU on {original} ({}) and {:.0} ms on {tier} ({}). Its server processes \
             spent {:.1} times what {tier}'s did.{bound}",
            busy_sentence(cell),
            theirs.machine,
            list_parts(&theirs),
            ours.machine,
            list_parts(&ours),
            if ours.tier > 0.0 {
                theirs.tier / ours.tier
            } else {
                f64::NAN
            },
        ))
    }

    /// `tier` against pgbench's prepared ceiling, for the get workload.
    fn against_pgbench(&self, tier: &str, value: f64, goal: &str) -> Option<String> {
        let cell = self.cell(tier, Workload::Get)?;
        let ours = Budget::of_cell(cell)?;
        let ceiling = self.pgbench.prepared.as_ref()?;
        let pgbench_machine = ceiling.machine_cpu_ms_per_1k?;
        let pgbench_postgres = ceiling.postgres_cpu_ms_per_1k?;
        let theirs = Budget {
            machine: pgbench_machine,
            postgres: pgbench_postgres,
            tier: 0.0,
            client: (pgbench_machine - pgbench_postgres).max(0.0),
        };
        let mut text = format!(
            "{value:.2} against a goal of {goal}. {} Per 1,000 gets the machine spent {:.0} ms \
             of CPU: {}; pgbench spent {:.0} ms per 1,000 queries: PostgreSQL {:.0}, pgbench \
             itself and the rest {:.0}.",
            busy_sentence(cell),
            ours.machine,
            list_parts(&ours),
            theirs.machine,
            theirs.postgres,
            theirs.client,
        );
        // What the tier pays that pgbench does not, part by part.
        let extra = [
            ("the tier process", ours.tier),
            ("PostgreSQL's extra work", ours.postgres - theirs.postgres),
            (
                "the load generator and the rest, beyond pgbench's own client",
                ours.client + ours.rest() - theirs.client,
            ),
        ];
        let (name, ms) = largest(&extra);
        if let Some(goal) = goal_value(goal) {
            let allowed = theirs.machine / goal;
            text.push_str(&format!(
                " At {goal} a get could cost at most {allowed:.0} ms per 1,000, {:.0} less than \
                 now. The largest part pgbench does not pay is {name}: {ms:.0} ms per 1,000.",
                ours.machine - allowed
            ));
        }
        Some(text)
    }

    /// `tier` against tier-raw, for the get workload.
    fn against_raw(&self, tier: &str, value: f64, goal: &str) -> Option<String> {
        let cell = self.cell(tier, Workload::Get)?;
        let raw_cell = self.cell("tier-raw", Workload::Get)?;
        let ours = Budget::of_cell(cell)?;
        let raw = Budget::of_cell(raw_cell)?;
        let differences: Vec<(&'static str, f64)> = ours
            .parts()
            .iter()
            .zip(raw.parts())
            .map(|((name, a), (_, b))| (*name, a - b))
            .collect();
        let (name, ms) = largest(&differences);
        let largest_difference = if ms > 0.0 {
            format!("The largest difference is {name}: {ms:+.0} ms per 1,000.")
        } else {
            "No part costs more than tier-raw's: the gap is waiting, not work.".to_owned()
        };
        let trips = |c: &Cell| c.round_trips.as_ref().map(|r| r.round_trips);
        let round_trips = match (trips(cell), trips(raw_cell)) {
            // sqlx's pool pings every connection it takes back: the extra round trip of
            // tiers II and III, which no sqlx 0.9 option turns off.
            (Some(a), Some(b)) if a > b => format!(
                " Round trips to PostgreSQL per request: {a:.1} against {b:.1} (counted through \
                 the proxy); the extra one is sqlx's ping of every connection it takes back, \
                 which no sqlx option turns off (docs/performance-sqlx-ping.md)."
            ),
            (Some(a), Some(b)) => format!(
                " Round trips to PostgreSQL per request: {a:.1} against {b:.1} (counted through \
                 the proxy)."
            ),
            _ => String::new(),
        };
        Some(format!(
            "{value:.2} against a goal of {goal}. {} Per 1,000 gets the machine spent {:.0} ms \
             of CPU on {tier} ({}) against {:.0} ms on tier-raw ({}). \
             {largest_difference}{round_trips}",
            busy_sentence(cell),
            ours.machine,
            list_parts(&ours),
            raw.machine,
            list_parts(&raw),
        ))
    }
}

/// What is said when a CPU figure is missing (no `/proc`, pgbench not run).
const NOT_ENOUGH: &str = "This run lacks the CPU figures to say why (they need /proc and, \
                          against pgbench, its ceiling measured in the same run).";

/// Whether the window was CPU-bound, in one sentence.
fn busy_sentence(cell: &Cell) -> String {
    match cell.summary.machine_busy_percent {
        Some(busy) if busy >= CPU_BOUND_PERCENT => {
            format!("The machine's cores were {busy:.0} % busy, so CPU per request sets the rate.")
        }
        Some(busy) => format!(
            "The machine's cores were only {busy:.0} % busy: CPU is not the limit here, \
             waiting is (round trips, pool size, scheduling)."
        ),
        None => String::new(),
    }
}

/// `the tier process 30, PostgreSQL 40, ...` (ms, rounded).
fn list_parts(budget: &Budget) -> String {
    budget
        .parts()
        .iter()
        .map(|(name, ms)| format!("{name} {ms:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The part with the largest value.
fn largest<'a>(parts: &[(&'a str, f64)]) -> (&'a str, f64) {
    parts
        .iter()
        .copied()
        .fold(("nothing", f64::MIN), |best, part| {
            if part.1 > best.1 { part } else { best }
        })
}

/// `>= 0.85` as 0.85.
fn goal_value(goal: &str) -> Option<f64> {
    goal.trim_start_matches(">=").trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::report;

    #[test]
    fn a_missed_pgbench_target_names_the_largest_extra_part() {
        let report = report();
        let explained = report
            .explanations
            .iter()
            .find(|e| e.target == "get: tier-raw req/s / pgbench prepared tps")
            .expect("the fixture's tier-raw misses 0.85 of pgbench");
        // The fixture: pgbench 55 ms per 1k (PostgreSQL 30); tier-raw's figures are the
        // fixture run's, and the text must quote both sides and the allowance at 0.85.
        assert!(
            explained
                .text
                .starts_with("0.62 against a goal of >= 0.85.")
        );
        assert!(
            explained
                .text
                .contains("pgbench spent 55 ms per 1,000 queries")
        );
        assert!(explained.text.contains("PostgreSQL 30"));
        assert!(explained.text.contains("at most 65 ms per 1,000"));
        assert!(
            explained
                .text
                .contains("The largest part pgbench does not pay is")
        );
    }

    #[test]
    fn a_missed_original_target_gives_the_bound_of_shared_costs() {
        use crate::report::fixtures::cell;
        let mut report = report();
        // tier-raw (the fixture's 20,000 req/s) against an original at 5,000: 4 < 5.
        report
            .results
            .push(cell("fastapi-asyncpg", Workload::Get, 5_000.0, 8.0));
        report.fastapi = crate::report::compare_fastapi(&report.results);
        report.check_targets();
        let explained = report
            .explanations
            .iter()
            .find(|e| e.target == "get: tier-raw / fastapi-asyncpg req/s")
            .expect("4 times is under 5");
        // The fixture's cells cost the same per request; the shared part is 125 - 50.
        assert!(
            explained.text.contains("a get costs 75 ms per 1,000"),
            "{}",
            explained.text
        );
        assert!(explained.text.contains("only 1.7 times fastapi-asyncpg"));
    }

    #[test]
    fn budgets_split_and_compare() {
        let budget = Budget {
            machine: 100.0,
            postgres: 40.0,
            tier: 30.0,
            client: 10.0,
        };
        assert_eq!(budget.rest(), 20.0);
        assert_eq!(
            list_parts(&budget),
            "the tier process 30, PostgreSQL 40, the load generator 10, the rest of the machine 20"
        );
        assert_eq!(largest(&budget.parts()), ("PostgreSQL", 40.0));
        assert_eq!(goal_value(">= 0.85"), Some(0.85));
        assert_eq!(goal_value("<= 50"), None);
    }
}
