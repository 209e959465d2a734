//! The report as a function of what a run measured: [`Report::assemble`].
//!
//! The rounds and the round-trip counts file their figures under a [`CellKey`] (tier
//! label and workload), in maps; the report's tables want rows in the plan's order
//! (workload by workload, tiers in the order they ran). Assembling walks the plan and
//! looks every cell up by name, so the order of the tables is the plan's and never
//! the map's, and a tier that was left out leaves a gap rather than shifting the rest.
//! It also adds the notes only the whole picture shows (failed requests, failed
//! exports, connections opened while counting, no memory figures), and checks the
//! targets.

use std::collections::BTreeMap;

use super::{
    Cell, CellKey, ExportCell, ExportRun, Report, RunFigures, Settings, Summary, TailRun, TierFacts,
};
use crate::cli::{Plan, TierSpec};
use crate::machine::Machine;
use crate::pgbench::Ceilings;
use crate::tiers;
use crate::wire_cost::WireCost;
use crate::workload::Workload;
use crate::wrk::WrkRun;

/// What the report's header says about the run itself.
#[derive(Debug, Clone)]
pub struct Header {
    /// When the run ended, RFC 3339.
    pub date: String,
    /// The command line, shell-quoted, without a password.
    pub command_line: String,
    /// The machine, with the PostgreSQL version filled in.
    pub machine: Machine,
}

/// Everything a run measured, filed by tier label and workload.
#[derive(Debug, Clone, Default)]
pub struct Measurements {
    /// Every round's figures of each tier and request-rate workload.
    pub runs: BTreeMap<CellKey, Vec<RunFigures>>,
    /// Every round's export of each tier (filed under the `export` workload).
    pub exports: BTreeMap<CellKey, Vec<ExportRun>>,
    /// Every round's open-loop runs after the closed-loop `get` (`--open-loop`).
    pub tails: Vec<TailRun>,
    /// Messages and round trips per request, through the counting proxy.
    pub wire_costs: BTreeMap<CellKey, WireCost>,
    /// pgbench's ceilings, or why there are none.
    pub ceilings: Ceilings,
    /// The tiers that were measured (built and started), in the plan's order.
    pub tiers: Vec<TierFacts>,
    /// Notes gathered so far: tiers left out, counts that failed.
    pub notes: Vec<String>,
    /// wrk's runs of the `get` workload, per tier.
    pub wrk: BTreeMap<CellKey, Vec<WrkRun>>,
    /// Why wrk did not run, if it did not.
    pub wrk_note: Option<String>,
}

impl TierFacts {
    /// The facts of `spec` that do not depend on a workload: its store's lines and
    /// its release binary's size, read from the workspace.
    pub fn of(spec: &TierSpec) -> Self {
        Self {
            label: spec.label.clone(),
            package: spec.package().unwrap_or("baseline/fastapi").to_owned(),
            env: spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            store_lines: spec.package().and_then(tiers::store_lines),
            binary_bytes: spec.package().and_then(tiers::binary_size),
        }
    }
}

impl Settings {
    /// What `plan` asked for, with `tiers` the labels of the tiers measured.
    pub fn of(plan: &Plan, tiers: &[TierFacts]) -> Self {
        Self {
            rows: plan.rows,
            posts_per_user: plan.posts_per_user,
            connections: plan.connections,
            warmup_s: plan.warmup.as_secs_f64(),
            duration_s: plan.duration.as_secs_f64(),
            rounds: plan.rounds,
            quick: plan.quick,
            workloads: plan.workloads.clone(),
            tiers: tiers.iter().map(|t| t.label.clone()).collect(),
            tier_env: plan.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            database: plan.bench_db.to_string(),
            round_trip_requests: plan.round_trip_requests,
            round_trip_load: plan.round_trip_load.clone(),
        }
    }
}

impl Report {
    /// The report of a run of `plan` that measured `measured`, its targets checked.
    /// `elapsed_s` is left at 0 for the caller to set once the run is over.
    pub fn assemble(plan: &Plan, header: Header, measured: Measurements) -> Self {
        let Measurements {
            mut runs,
            mut exports,
            tails,
            mut wire_costs,
            ceilings,
            tiers,
            mut notes,
            wrk,
            wrk_note,
        } = measured;
        let mut results = Vec::new();
        for workload in &plan.workloads {
            for spec in &plan.tiers {
                let key = CellKey::new(&spec.label, *workload);
                let Some(tier_runs) = runs.remove(&key) else {
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
                let (sequential, under_load) = match wire_costs.remove(&key) {
                    Some(cost) => (Some(cost.sequential), cost.under_load),
                    None => (None, None),
                };
                results.push(Cell {
                    tier: key.tier,
                    workload: key.workload,
                    summary: Summary::of(&tier_runs),
                    runs: tier_runs,
                    round_trips: sequential,
                    round_trips_under_load: under_load,
                });
            }
        }
        let mut export_cells = Vec::new();
        for spec in &plan.tiers {
            let key = CellKey::new(&spec.label, Workload::Export);
            let Some(runs) = exports.remove(&key) else {
                continue;
            };
            for run in &runs {
                if let Some(error) = &run.error {
                    notes.push(format!(
                        "{} export of round {} failed: {error}",
                        spec.label, run.round
                    ));
                }
            }
            let mut cell = ExportCell::new(spec.label.clone(), runs);
            cell.round_trips = wire_costs.remove(&key).map(|cost| cost.sequential);
            export_cells.push(cell);
        }
        for cell in &results {
            if let Some(rt) = &cell.round_trips
                && rt.new_connections > 0
            {
                notes.push(format!(
                    "{} {}: {} new database connection(s) opened while counting round trips \
                     (their start-up messages are included)",
                    cell.tier,
                    cell.workload.name(),
                    rt.new_connections
                ));
            }
        }
        if !results.iter().any(|c| c.summary.peak_rss_bytes.is_some()) {
            notes.push("peak RSS could not be read from /proc (not Linux?)".into());
        }
        let pooler = super::compare_pooler(&plan.tiers, &plan.workloads, &results);
        let tails = super::open_loop::cells(&plan.tiers, &plan.open_loop_levels, tails, &results);
        for tail in tails.iter().filter(|t| t.errors > 0) {
            notes.push(format!(
                "{} open loop at {} %: {} failed requests, e.g. {}",
                tail.tier,
                tail.level_percent,
                tail.errors,
                tail.runs
                    .iter()
                    .flat_map(|r| r.error_samples.first())
                    .next()
                    .map_or("?", String::as_str)
            ));
        }
        let fastapi = super::compare_fastapi(&results);
        let mut report = Report {
            date: header.date,
            command_line: header.command_line,
            machine: header.machine,
            settings: Settings::of(plan, &tiers),
            tiers,
            results,
            tails,
            exports: export_cells,
            pooler,
            fastapi,
            pgbench: ceilings,
            generators: None,
            targets: Vec::new(),
            explanations: Vec::new(),
            notes,
            elapsed_s: 0.0,
        };
        report.generators = Some(super::Generators::compare(&report, wrk, wrk_note));
        report.check_targets();
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Options;
    use crate::report::fixtures::{cell, run};
    use crate::workload::Workload;
    use clap::Parser as _;

    fn plan() -> Plan {
        Options::try_parse_from(["bench", "--tiers", "raw,sqlx", "--workloads", "get,list"])
            .unwrap()
            .plan(None, std::path::Path::new("/ws"))
            .unwrap()
    }

    fn facts(label: &str) -> TierFacts {
        TierFacts {
            label: label.into(),
            package: "tier-raw".into(),
            env: vec![],
            store_lines: None,
            binary_bytes: None,
        }
    }

    /// Cells come out in the plan's order whatever the map's order, each with its own
    /// round trips; a failed request and an opened connection become notes.
    #[test]
    fn cells_follow_the_plan_and_keep_their_own_figures() {
        let plan = plan();
        let mut measured = Measurements {
            tiers: vec![facts("tier-raw"), facts("tier-sqlx")],
            notes: vec!["tier-orm did not build".into()],
            ..Measurements::default()
        };
        // Filed in an order that is neither the plan's nor the map's.
        for (tier, workload, rps) in [
            ("tier-sqlx", Workload::List, 4.0),
            ("tier-raw", Workload::Get, 1.0),
            ("tier-sqlx", Workload::Get, 2.0),
            ("tier-raw", Workload::List, 3.0),
        ] {
            let key = CellKey::new(&tier.into(), workload);
            measured.runs.insert(key.clone(), vec![run(1, rps, 1.0)]);
            let mut cost = cell(tier, workload, rps, 1.0);
            if let Some(sequential) = cost.round_trips.as_mut() {
                sequential.round_trips = rps;
                sequential.new_connections = u64::from(tier == "tier-sqlx");
            }
            measured.wire_costs.insert(
                key,
                WireCost {
                    sequential: cost.round_trips.take().unwrap(),
                    under_load: None,
                },
            );
        }
        measured
            .runs
            .get_mut(&CellKey::new(&"tier-raw".into(), Workload::List))
            .unwrap()[0]
            .errors = 2;
        let header = Header {
            date: "2026-11-26T05:14:52Z".into(),
            command_line: "bench".into(),
            machine: crate::report::fixtures::report().machine,
        };
        let report = Report::assemble(&plan, header, measured);

        let order: Vec<(String, &str, f64)> = report
            .results
            .iter()
            .map(|c| (c.tier.to_string(), c.workload.name(), c.summary.rps))
            .collect();
        assert_eq!(
            order,
            [
                ("tier-raw".to_owned(), "get", 1.0),
                ("tier-sqlx".to_owned(), "get", 2.0),
                ("tier-raw".to_owned(), "list", 3.0),
                ("tier-sqlx".to_owned(), "list", 4.0),
            ]
        );
        for c in &report.results {
            assert_eq!(c.round_trips.as_ref().unwrap().round_trips, c.summary.rps);
        }
        let sqlx_get = report.cell("tier-sqlx", Workload::Get).unwrap();
        assert_eq!(sqlx_get.summary.rps, 2.0);
        assert_eq!(report.notes[0], "tier-orm did not build");
        assert!(report.notes[1].starts_with("tier-raw list: 2 failed requests"));
        assert!(report.notes[2].starts_with("tier-sqlx get: 1 new database connection(s)"));
        assert!(report.notes[3].starts_with("tier-sqlx list: 1 new database connection(s)"));
        assert_eq!(report.notes.len(), 4);
        assert_eq!(report.settings.tiers, ["tier-raw", "tier-sqlx"]);
        assert_eq!(report.settings.workloads, [Workload::Get, Workload::List]);
        assert!(!report.targets.is_empty());
    }

    /// Exports are filed apart from the request rates, in the plan's order of tiers,
    /// with their round trips; a failed export becomes a note.
    #[test]
    fn exports_get_cells_of_their_own() {
        use crate::report::fixtures::export_run;
        let plan =
            Options::try_parse_from(["bench", "--tiers", "raw,sqlx", "--workloads", "export"])
                .unwrap()
                .plan(None, std::path::Path::new("/ws"))
                .unwrap();
        let mut measured = Measurements {
            tiers: vec![facts("tier-raw"), facts("tier-sqlx")],
            ..Measurements::default()
        };
        let mut failed = export_run(2, 1.0, 0);
        failed.error = Some("9999 lines, expected 10000".into());
        for (tier, runs) in [
            ("tier-sqlx", vec![export_run(1, 0.5, 1_000_000), failed]),
            ("tier-raw", vec![export_run(1, 0.5, 2_000_000)]),
        ] {
            let key = CellKey::new(&tier.into(), Workload::Export);
            measured.exports.insert(key.clone(), runs);
            let wire = cell(tier, Workload::Get, 1.0, 1.0).round_trips.unwrap();
            measured.wire_costs.insert(
                key,
                WireCost {
                    sequential: wire,
                    under_load: None,
                },
            );
        }
        let header = Header {
            date: "2026-12-03T00:00:00Z".into(),
            command_line: "bench".into(),
            machine: crate::report::fixtures::report().machine,
        };
        let report = Report::assemble(&plan, header, measured);
        assert!(report.results.is_empty(), "an export is not a request rate");
        let tiers: Vec<&str> = report.exports.iter().map(|c| c.tier.as_str()).collect();
        assert_eq!(tiers, ["tier-raw", "tier-sqlx"]);
        assert!(report.exports.iter().all(|c| c.round_trips.is_some()));
        assert_eq!(report.exports[1].failed(), 1);
        assert_eq!(
            report.notes[0],
            "tier-sqlx export of round 2 failed: 9999 lines, expected 10000"
        );
        let growth = report
            .targets
            .iter()
            .find(|t| t.name == "tier-raw: RSS growth during export, MB")
            .unwrap();
        assert_eq!(growth.value, Some(2.0));
    }
}
