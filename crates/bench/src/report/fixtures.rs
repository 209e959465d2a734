//! Test fixtures: a report with known figures, shared by the report's tests and the
//! chart's, so every test reads the same numbers.

use super::{Cell, Report, RunFigures, Settings, Summary, TierFacts};
use crate::machine::Machine;
use crate::pgbench::{Ceiling, Ceilings};
use crate::proxy::{Counts, PerRequest};
use crate::tiers::LineCount;
use crate::workload::Workload;

/// One round's figures, derived from `rps` and `p50` so every column differs.
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

/// A cell of three rounds (the second one slow) with round trips counted.
pub(crate) fn cell(tier: &str, workload: Workload, rps: f64, p50: f64) -> Cell {
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
        workload,
        runs,
        summary,
        round_trips: Some(PerRequest::new(&counts, 10)),
        round_trips_under_load: Some(PerRequest::new(&counts, 40)),
    }
}

/// A full report of two tiers in `get`, with a pgbench ceiling and a note, its
/// targets checked.
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
            posts_per_user: 10,
            connections: 64,
            warmup_s: 2.0,
            duration_s: 8.0,
            rounds: 3,
            quick: false,
            workloads: vec![Workload::Get],
            tiers: vec!["tier-raw".into(), "tier-sqlx".into()],
            tier_env: vec![],
            database: "postgres://postgres@127.0.0.1:5432/users_bench".into(),
            round_trip_requests: 10,
            round_trip_load: vec![Workload::Get],
        },
        tiers: vec![facts("tier-raw"), facts("tier-sqlx")],
        results: vec![
            cell("tier-raw", Workload::Get, 20_000.0, 2.0),
            cell("tier-sqlx", Workload::Get, 14_000.0, 3.0),
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
