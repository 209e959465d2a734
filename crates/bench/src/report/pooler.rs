//! `--pooler`'s comparison: each tier three ways, so that what unnamed statements cost
//! and what PgBouncer costs are told apart ([`PoolerRow`], [`compare`]), and its
//! section of the Markdown, "Through PgBouncer".
//!
//! The three rows of a tier ([`crate::cli::TierKind::pooler_rows`]) ran in the same
//! rounds as every other row; here they are set side by side, per workload: requests/s
//! (and its ratio to the named row), p99, round trips per request, and the CPU each
//! request cost the tier, PostgreSQL (every `postgres` process) and PgBouncer. A CPU
//! figure in ms per 1,000 requests is the same number in µs per request, which is how
//! this section prints it.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::format::Align::{Left, Right};
use super::format::{ms, num, opt, table, thousands};
use super::{Cell, Report};
use crate::cli::{Route, TierLabel, TierSpec};
use crate::workload::Workload;

/// Which of a tier's three rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Setup {
    /// The tier as it runs by default: named (prepared) statements, straight to
    /// PostgreSQL.
    DirectNamed,
    /// `DB_PREPARED_STATEMENTS=false`, straight to PostgreSQL.
    DirectUnnamed,
    /// `DB_PREPARED_STATEMENTS=false` through PgBouncer in transaction mode.
    PgbouncerUnnamed,
}

impl Setup {
    /// The three, in the order of the rows.
    pub const ALL: [Setup; 3] = [
        Setup::DirectNamed,
        Setup::DirectUnnamed,
        Setup::PgbouncerUnnamed,
    ];

    /// How the table names it.
    pub fn describe(self) -> &'static str {
        match self {
            Setup::DirectNamed => "direct, named",
            Setup::DirectUnnamed => "direct, unnamed",
            Setup::PgbouncerUnnamed => "PgBouncer, unnamed",
        }
    }
}

/// One tier, one workload, one of the three setups.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PoolerRow {
    /// The workload.
    pub workload: Workload,
    /// The tier as it runs by default (`tier-raw`).
    pub tier: TierLabel,
    /// The row's own label (`tier-raw via PgBouncer`).
    pub row: TierLabel,
    /// Which of the three.
    pub setup: Setup,
    /// Median requests per second.
    pub rps: f64,
    /// `rps` over the named row's.
    pub rps_vs_named: Option<f64>,
    /// Median p99, ms.
    pub p99_ms: f64,
    /// Round trips per request, one request at a time, through the counting proxy.
    pub round_trips: Option<f64>,
    /// The tier's CPU per request, µs.
    pub tier_cpu_us: Option<f64>,
    /// PostgreSQL's CPU per request (every `postgres` process but other databases'), µs.
    pub postgres_cpu_us: Option<f64>,
    /// PgBouncer's CPU per request, µs (its row only).
    pub pgbouncer_cpu_us: Option<f64>,
    /// The whole machine's CPU per request, µs.
    pub machine_cpu_us: Option<f64>,
}

/// The rows of every tier that ran through PgBouncer, workload by workload, each
/// tier's three together; a row that was not measured is left out.
pub fn compare(tiers: &[TierSpec], workloads: &[Workload], results: &[Cell]) -> Vec<PoolerRow> {
    let mut rows = Vec::new();
    for workload in workloads {
        for pooled in tiers.iter().filter(|t| t.route == Route::PgBouncer) {
            let specs = pooled.kind.pooler_rows();
            let cells = specs.each_ref().map(|spec| {
                results
                    .iter()
                    .find(|c| c.tier == spec.label && c.workload == *workload)
            });
            let named_rps = cells[0].map(|c| c.summary.rps).filter(|rps| *rps > 0.0);
            for (setup, cell) in Setup::ALL.into_iter().zip(cells) {
                let Some(cell) = cell else { continue };
                let x = &cell.summary;
                rows.push(PoolerRow {
                    workload: *workload,
                    tier: specs[0].label.clone(),
                    row: cell.tier.clone(),
                    setup,
                    rps: x.rps,
                    rps_vs_named: named_rps.map(|named| x.rps / named),
                    p99_ms: x.p99_ms,
                    round_trips: cell.round_trips.as_ref().map(|r| r.round_trips),
                    tier_cpu_us: x.cpu_ms_per_1k,
                    postgres_cpu_us: x.postgres_cpu_ms_per_1k,
                    pgbouncer_cpu_us: x.pgbouncer_cpu_ms_per_1k,
                    machine_cpu_us: x.machine_cpu_ms_per_1k,
                });
            }
        }
    }
    rows
}

impl Report {
    /// "Through PgBouncer": the three setups of each tier side by side, and what each
    /// step costs (left out when the run had no `--pooler`).
    pub(super) fn pooler_section(&self, md: &mut String) {
        if self.pooler.is_empty() {
            return;
        }
        let _ = writeln!(md, "\n## Through PgBouncer\n");
        let _ = writeln!(
            md,
            "Each tier three ways, in the same rounds as every other row: as it runs by \
             default (named statements, prepared once per connection, straight to \
             PostgreSQL); with `DB_PREPARED_STATEMENTS=false` (every statement unnamed, so \
             PostgreSQL parses and plans it at every execution); and the same through a \
             PgBouncer 1.18 in transaction mode (`deploy/pgbouncer/pgbouncer.ini`), \
             started for the row with as many server connections as the tier's pool. \
             The first step is what unnamed statements cost, the second what the pooler \
             costs. PostgreSQL's CPU is that of every `postgres` process of the machine \
             over the measured window (backends, WAL writer, checkpointer, ...) but the \
             backends of other databases, PgBouncer's that of its own process, both per \
             request served. Round trips \
             are counted by the proxy between the tier and what it connects to, \
             PgBouncer for the pooled row: the turns a request waits for, each of which \
             then crosses PgBouncer as well. PgBouncer shares the machine's cores with \
             the tier, PostgreSQL and the load generator, so its CPU comes out of their \
             throughput.\n"
        );
        table(
            md,
            &[
                ("workload", Left),
                ("tier", Left),
                ("setup", Left),
                ("req/s", Right),
                ("vs named", Right),
                ("p99 ms", Right),
                ("round trips / req", Right),
                ("tier CPU µs / req", Right),
                ("PostgreSQL CPU µs / req", Right),
                ("PgBouncer CPU µs / req", Right),
                ("machine CPU µs / req", Right),
            ],
            self.pooler.iter().map(|row| {
                vec![
                    row.workload.name().to_owned(),
                    row.tier.to_string(),
                    row.setup.describe().to_owned(),
                    thousands(row.rps),
                    opt(row.rps_vs_named, 2),
                    ms(row.p99_ms),
                    row.round_trips.map_or("-".to_owned(), |r| num(r, 2)),
                    opt(row.tier_cpu_us, 0),
                    opt(row.postgres_cpu_us, 0),
                    opt(row.pgbouncer_cpu_us, 0),
                    opt(row.machine_cpu_us, 0),
                ]
            }),
        );
        let _ = writeln!(md);
        for [named, unnamed, pooled] in self.pooler_triples() {
            let _ = writeln!(
                md,
                "- {}, {}: unnamed statements: {}. Then PgBouncer: {}.",
                named.workload.name(),
                named.tier,
                step(named, unnamed),
                step(unnamed, pooled)
            );
        }
    }

    /// The tiers whose three rows were all measured, per workload.
    fn pooler_triples(&self) -> Vec<[&PoolerRow; 3]> {
        self.pooler
            .chunk_by(|a, b| a.workload == b.workload && a.tier == b.tier)
            .filter_map(|rows| match rows {
                [a, b, c] => Some([a, b, c]),
                _ => None,
            })
            .collect()
    }
}

/// What going from `from` to `to` did: requests/s, PostgreSQL's CPU per request, and
/// PgBouncer's when `to` has one.
fn step(from: &PoolerRow, to: &PoolerRow) -> String {
    let mut parts = vec![format!(
        "{} req/s ({})",
        signed_percent(to.rps / from.rps - 1.0),
        if from.rps > 0.0 {
            format!("{} to {}", thousands(from.rps), thousands(to.rps))
        } else {
            "-".to_owned()
        }
    )];
    if let (Some(a), Some(b)) = (from.postgres_cpu_us, to.postgres_cpu_us) {
        parts.push(format!(
            "{} µs of PostgreSQL CPU per request ({a:.0} to {b:.0})",
            signed(b - a)
        ));
    }
    if let Some(own) = to.pgbouncer_cpu_us {
        parts.push(format!("{own:.0} µs of its own CPU per request"));
    }
    parts.push(format!("p99 {} to {} ms", ms(from.p99_ms), ms(to.p99_ms)));
    parts.join(", ")
}

/// `+12 %`, `-8 %` (`-` when not a number).
fn signed_percent(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{:+.0} %", ratio * 100.0)
    } else {
        "-".to_owned()
    }
}

/// `+12`, `-3`.
fn signed(value: f64) -> String {
    format!("{value:+.0}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::TierKind;
    use crate::report::fixtures;

    /// tier-raw's three rows in `get` (PgBouncer's PostgreSQL figure missing in one
    /// round's worth: `None` stays `-`), and tier-sqlx's PgBouncer row only.
    fn report() -> Report {
        let mut report = fixtures::report();
        let mut results = Vec::new();
        for (label, rps, postgres, pgbouncer) in [
            ("tier-raw", 20_000.0, Some(30.0), None),
            ("tier-raw unnamed", 18_000.0, Some(42.0), None),
            ("tier-raw via PgBouncer", 12_000.0, Some(45.0), Some(25.0)),
            ("tier-sqlx via PgBouncer", 9_000.0, None, Some(31.0)),
        ] {
            let mut cell = fixtures::cell(label, Workload::Get, rps, 2.0);
            cell.summary.postgres_cpu_ms_per_1k = postgres;
            cell.summary.pgbouncer_cpu_ms_per_1k = pgbouncer;
            results.push(cell);
        }
        let tiers: Vec<TierSpec> = [TierKind::Raw, TierKind::Sqlx]
            .into_iter()
            .flat_map(TierKind::pooler_rows)
            .collect();
        report.pooler = compare(&tiers, &[Workload::Get, Workload::List], &results);
        report.tiers = results
            .iter()
            .map(|c| crate::report::TierFacts {
                label: c.tier.clone(),
                package: "tier-raw".into(),
                env: vec![],
                store_lines: None,
                binary_bytes: None,
            })
            .collect();
        report.results = results;
        report
    }

    #[test]
    fn rows_come_in_threes_against_the_named_row() {
        let report = report();
        let rows: Vec<(&str, Setup, Option<f64>)> = report
            .pooler
            .iter()
            .map(|r| (r.row.as_str(), r.setup, r.rps_vs_named))
            .collect();
        assert_eq!(
            rows,
            [
                ("tier-raw", Setup::DirectNamed, Some(1.0)),
                ("tier-raw unnamed", Setup::DirectUnnamed, Some(0.9)),
                ("tier-raw via PgBouncer", Setup::PgbouncerUnnamed, Some(0.6)),
                ("tier-sqlx via PgBouncer", Setup::PgbouncerUnnamed, None),
            ]
        );
        assert!(report.pooler.iter().all(|r| r.workload == Workload::Get));
        assert_eq!(report.pooler[2].pgbouncer_cpu_us, Some(25.0));
        assert_eq!(report.pooler_triples().len(), 1);
        // Without pooled rows there is nothing to compare, and no section.
        let plain = [TierKind::Raw.spec()];
        assert!(compare(&plain, &[Workload::Get], &report.results).is_empty());
        let mut md = String::new();
        fixtures::report().pooler_section(&mut md);
        assert_eq!(md, "");
        // The extra rows keep their measured targets, not the ones they did not measure.
        let mut report = report;
        report.check_targets();
        let of = |row: &str| {
            report
                .targets
                .iter()
                .filter(|t| t.name.starts_with(&format!("{row}: ")))
                .map(|t| t.value.is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(of("tier-raw unnamed"), [true], "peak RSS only");
        assert!(
            of("tier-raw").len() > 1,
            "the named row keeps all of its own"
        );
    }

    #[test]
    fn steps_say_what_changed() {
        let report = report();
        let [named, unnamed, pooled] = report.pooler_triples()[0];
        assert_eq!(
            step(named, unnamed),
            "-10 % req/s (20,000 to 18,000), +12 µs of PostgreSQL CPU per request (30 to 42), \
             p99 8.00 to 8.00 ms"
        );
        assert!(step(unnamed, pooled).contains("25 µs of its own CPU per request"));
        assert_eq!(signed_percent(f64::NAN), "-");
    }

    /// The section, byte for byte: update `report/snapshots/pooler.md` when a change of
    /// its layout is meant.
    #[test]
    fn the_section_matches_its_snapshot() {
        let mut md = String::new();
        report().pooler_section(&mut md);
        let expected = include_str!("snapshots/pooler.md");
        assert!(md == expected, "the section changed:\n{md}");
        let json = serde_json::to_string_pretty(&report().pooler).unwrap();
        let expected = include_str!("snapshots/pooler.json");
        assert!(json == expected, "the rows' JSON changed:\n{json}");
    }
}
