//! `--fastapi`'s comparison: each tier against the course's FastAPI original it was
//! ported from ([`FastapiPair`], [`compare`]), the section "Against the course's FastAPI
//! originals", and issue #14's targets: every tier at least [`FASTAPI_GOAL`] times its
//! original's requests/s in `get`.
//!
//! The stacks ran in the same rounds as the tiers, each right after its tier, so the
//! two of a pair saw the same machine. A stack is several processes (uvicorn's parent
//! and one worker per core): its CPU is summed over all of them, and its peak memory is
//! the **sum** of their peaks (`crate::fastapi`), an upper bound of the whole's.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::format::Align::{Left, Right};
use super::format::{opt, table, thousands};
use super::{Cell, Report, Target};
use crate::cli::{Stack, TierLabel};
use crate::workload::Workload;

/// Issue #14: every tier serves at least this many times its original's requests/s.
pub const FASTAPI_GOAL: f64 = 5.0;

/// The workloads a pair is compared in, when both ran them: those the stacks serve.
const COMPARED: [Workload; 4] = [
    Workload::Get,
    Workload::List,
    Workload::ListFirst,
    Workload::ListLast,
];

/// One tier and its FastAPI original in one workload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FastapiPair {
    /// The workload.
    pub workload: Workload,
    /// The tier (`tier-raw`).
    pub tier: TierLabel,
    /// Its original (`fastapi-asyncpg`).
    pub stack: TierLabel,
    /// The tier's median requests per second.
    pub tier_rps: f64,
    /// The stack's median requests per second.
    pub stack_rps: f64,
    /// `tier_rps / stack_rps`.
    pub ratio: Option<f64>,
    /// The tier's CPU per 1,000 requests, ms.
    pub tier_cpu_ms_per_1k: Option<f64>,
    /// The stack's CPU per 1,000 requests, ms (all its processes).
    pub stack_cpu_ms_per_1k: Option<f64>,
    /// The tier's peak resident memory, bytes.
    pub tier_peak_rss_bytes: Option<u64>,
    /// The sum of the stack's processes' peak resident memory, bytes.
    pub stack_peak_rss_bytes: Option<u64>,
}

/// The pairs measured in `results`: per workload (in [`COMPARED`]'s order), the three
/// stacks in the order of their tiers. A pair one half of which is missing is left out.
pub fn compare(results: &[Cell]) -> Vec<FastapiPair> {
    let find = |label: &TierLabel, workload: Workload| {
        results
            .iter()
            .find(|c| c.tier == *label && c.workload == workload)
    };
    let mut pairs = Vec::new();
    for workload in COMPARED {
        for stack in Stack::ALL {
            let (tier, original) = (stack.tier().spec().label, stack.spec().label);
            let (Some(t), Some(s)) = (find(&tier, workload), find(&original, workload)) else {
                continue;
            };
            let (t, s) = (&t.summary, &s.summary);
            pairs.push(FastapiPair {
                workload,
                tier,
                stack: original,
                tier_rps: t.rps,
                stack_rps: s.rps,
                ratio: (s.rps > 0.0).then(|| t.rps / s.rps),
                tier_cpu_ms_per_1k: t.cpu_ms_per_1k,
                stack_cpu_ms_per_1k: s.cpu_ms_per_1k,
                tier_peak_rss_bytes: t.peak_rss_bytes,
                stack_peak_rss_bytes: s.peak_rss_bytes,
            });
        }
    }
    pairs
}

impl Report {
    /// Issue #14's targets: `get: tier-X / fastapi-Y req/s >= 5`, one per pair, not
    /// measured (and saying how to measure them) without `--fastapi`.
    pub(super) fn fastapi_targets(&self) -> Vec<Target> {
        Stack::ALL
            .into_iter()
            .map(|stack| {
                let (tier, original) = (stack.tier().spec().label, stack.spec().label);
                let value = self
                    .fastapi
                    .iter()
                    .find(|p| p.workload == Workload::Get && p.stack == original)
                    .and_then(|p| p.ratio);
                Target {
                    name: format!("get: {tier} / {original} req/s"),
                    goal: format!(">= {FASTAPI_GOAL}"),
                    value,
                    met: value.map(|v| v >= FASTAPI_GOAL),
                    note: if value.is_some() {
                        String::new()
                    } else {
                        format!(
                            "run with --fastapi and the get workload of {tier} \
                             (needs python3 with venv; installs from PyPI on first use)"
                        )
                    },
                }
            })
            .collect()
    }

    /// "Against the course's FastAPI originals": the pairs side by side.
    pub(super) fn fastapi_section(&self, md: &mut String) {
        if self.fastapi.is_empty() {
            return;
        }
        let _ = writeln!(md, "\n## Against the course's FastAPI originals\n");
        let _ = writeln!(
            md,
            "Each tier against the FastAPI stack of the course it was ported from \
             (`baseline/fastapi/`: asyncpg for tier-raw, `databases` for tier-sqlx, \
             SQLAlchemy for tier-orm), uvicorn with one worker process per core, measured \
             in the same rounds right after its tier, with the same load. A stack is \
             several processes: its CPU is summed over all of them, and its peak memory \
             is the sum of their peaks (an upper bound). Issue #14's target: every tier \
             at least {FASTAPI_GOAL} times its original in `get`.\n"
        );
        let mb = |bytes: Option<u64>| opt(bytes.map(|b| b as f64 / 1e6), 1);
        table(
            md,
            &[
                ("workload", Left),
                ("tier", Left),
                ("FastAPI original", Left),
                ("tier req/s", Right),
                ("original req/s", Right),
                ("tier / original", Right),
                ("tier CPU ms / 1k req", Right),
                ("original CPU ms / 1k req", Right),
                ("tier peak RSS MB", Right),
                ("original peak RSS MB (sum)", Right),
            ],
            self.fastapi.iter().map(|pair| {
                vec![
                    pair.workload.name().to_owned(),
                    pair.tier.to_string(),
                    pair.stack.to_string(),
                    thousands(pair.tier_rps),
                    thousands(pair.stack_rps),
                    opt(pair.ratio, 1),
                    opt(pair.tier_cpu_ms_per_1k, 0),
                    opt(pair.stack_cpu_ms_per_1k, 0),
                    mb(pair.tier_peak_rss_bytes),
                    mb(pair.stack_peak_rss_bytes),
                ]
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{cell, report};

    #[test]
    fn pairs_each_tier_with_its_original_where_both_ran() {
        let results = vec![
            cell("tier-raw", Workload::Get, 20_000.0, 2.0),
            cell("fastapi-asyncpg", Workload::Get, 4_000.0, 10.0),
            cell("tier-sqlx", Workload::Get, 14_000.0, 3.0),
            cell("fastapi-databases", Workload::Get, 2_000.0, 20.0),
            // tier-orm ran, its original did not: no pair.
            cell("tier-orm", Workload::Get, 12_000.0, 3.0),
            cell("tier-raw", Workload::List, 5_000.0, 8.0),
            cell("fastapi-asyncpg", Workload::List, 500.0, 80.0),
        ];
        let pairs = compare(&results);
        let short: Vec<_> = pairs
            .iter()
            .map(|p| (p.workload, p.stack.as_str(), p.ratio))
            .collect();
        assert_eq!(
            short,
            [
                (Workload::Get, "fastapi-asyncpg", Some(5.0)),
                (Workload::Get, "fastapi-databases", Some(7.0)),
                (Workload::List, "fastapi-asyncpg", Some(10.0)),
            ]
        );
        // The fixture's CPU is rps / 10 ms for rps * 2 requests: 50 ms per 1k.
        assert_eq!(pairs[0].tier_cpu_ms_per_1k, Some(50.0));
        assert_eq!(pairs[0].stack_peak_rss_bytes, Some(30_000_000));
        assert!(compare(&results[4..5]).is_empty());
    }

    #[test]
    fn targets_and_section_need_the_originals() {
        // The fixture has no FastAPI rows: the targets say how to measure them, and
        // there is no section.
        let mut report = report();
        let target = |report: &Report, name: &str| {
            report
                .targets
                .iter()
                .find(|t| t.name == name)
                .cloned()
                .unwrap()
        };
        let raw = target(&report, "get: tier-raw / fastapi-asyncpg req/s");
        assert_eq!((raw.value, raw.met), (None, None));
        assert!(raw.note.contains("--fastapi"), "{}", raw.note);
        let mut md = String::new();
        report.fastapi_section(&mut md);
        assert_eq!(md, "");

        // With the originals: 20,000 against 4,000 meets the goal, 14,000 against
        // 3,500 misses it; FastAPI rows get no per-tier targets of their own.
        report.results.extend([
            cell("fastapi-asyncpg", Workload::Get, 4_000.0, 10.0),
            cell("fastapi-databases", Workload::Get, 3_500.0, 20.0),
        ]);
        report.fastapi = compare(&report.results);
        report.check_targets();
        let raw = target(&report, "get: tier-raw / fastapi-asyncpg req/s");
        assert_eq!((raw.value, raw.met), (Some(5.0), Some(true)));
        let sqlx = target(&report, "get: tier-sqlx / fastapi-databases req/s");
        assert_eq!((sqlx.value, sqlx.met), (Some(4.0), Some(false)));
        assert!(
            !report
                .targets
                .iter()
                .any(|t| t.name.starts_with("fastapi-"))
        );
        report.fastapi_section(&mut md);
        assert!(md.contains("## Against the course's FastAPI originals"));
        assert!(
            md.contains("| get | tier-raw | fastapi-asyncpg | 20,000 | 4,000 | 5.0 | 50 | 50 | 30.0 | 30.0 |"),
            "{md}"
        );
        assert!(md.contains("| get | tier-sqlx | fastapi-databases | 14,000 | 3,500 | 4.0 |"));
    }
}
