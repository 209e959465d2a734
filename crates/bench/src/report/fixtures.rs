//! Test fixtures: a report with known figures, shared by the report's tests and the
//! chart's, so every test reads the same numbers.

use super::{Cell, ExportCell, ExportRun, Report, RunFigures, Settings, Summary, TierFacts};
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
        loadgen_cpu_ms: Some(rps / 40.0),
        db_cpu_ms: Some(rps / 20.0),
        machine_cpu_ms: Some(rps / 4.0),
        machine_busy_percent: Some(90.0 + round as f64),
        postgres_cpu_ms: Some(rps / 16.0),
        pgbouncer_cpu_ms: None,
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
    Cell {
        tier: tier.into(),
        workload,
        runs,
        summary,
        round_trips: Some(wire(10)),
        round_trips_under_load: Some(wire(40)),
    }
}

/// Ten round trips (each a Bind, an Execute and a Sync answered by a ReadyForQuery)
/// shared by `requests` requests.
fn wire(requests: usize) -> PerRequest {
    let mut counts = Counts::default();
    counts.client.insert(b'B', 10);
    counts.client.insert(b'E', 10);
    counts.client.insert(b'S', 10);
    counts.server.insert(b'Z', 10);
    counts.round_trips = 10;
    PerRequest::new(&counts, requests)
}

/// One export of 10,000 rows (1 MB) in `seconds`, from 30 MB of resident memory:
/// the samples saw two thirds of `growth`, `VmHWM` all of it.
pub(crate) fn export_run(round: usize, seconds: f64, growth: u64) -> ExportRun {
    let before = 30_000_000;
    ExportRun {
        round,
        rows: 10_000,
        bytes: 1_000_000,
        seconds,
        first_line_ms: Some(12.5),
        rss_before_bytes: Some(before),
        rss_sampled_peak_bytes: Some(before + growth * 2 / 3),
        rss_samples: 12,
        rss_hwm_bytes: Some(before + growth),
        error: None,
    }
}

/// tier-raw's three exports grow 12 MB at most (the target met); tier-sqlx's 25 MB
/// (missed), and its third export failed.
fn exports() -> Vec<ExportCell> {
    let mut raw = ExportCell::new(
        "tier-raw".into(),
        vec![
            export_run(1, 0.0625, 12_000_000),
            export_run(2, 0.078125, 10_000_000),
            export_run(3, 0.0625, 8_000_000),
        ],
    );
    raw.round_trips = Some(wire(1));
    let mut failed = export_run(3, 0.5, 0);
    failed.rows = 4_000;
    failed.error = Some("the export broke off after 4000 lines".into());
    let sqlx = ExportCell::new(
        "tier-sqlx".into(),
        vec![
            export_run(1, 0.0625, 25_000_000),
            export_run(2, 0.0625, 20_000_000),
            failed,
        ],
    );
    vec![raw, sqlx]
}

/// A full report of two tiers in `get`, `create`, `batch` and `export`, with a
/// pgbench ceiling and a note, its targets checked. tier-raw meets the batch and
/// export targets, tier-sqlx misses both.
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
            workloads: vec![
                Workload::Get,
                Workload::Create,
                Workload::Batch,
                Workload::Export,
            ],
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
            cell("tier-raw", Workload::Create, 2_000.0, 4.0),
            cell("tier-sqlx", Workload::Create, 1_500.0, 5.0),
            // 100 users a request: 30,000 users/s (15x) and 12,000 (8x).
            cell("tier-raw", Workload::Batch, 300.0, 20.0),
            cell("tier-sqlx", Workload::Batch, 120.0, 30.0),
        ],
        tails: vec![],
        exports: exports(),
        pooler: vec![],
        fastapi: vec![],
        pgbench: Ceilings {
            version: Some("pgbench (PostgreSQL) 15.20".into()),
            note: None,
            prepared: Some(Ceiling {
                mode: "prepared".into(),
                clients: 64,
                queries_per_transaction: 1,
                tps: 32_000.0,
                queries_per_second: 32_000.0,
                latency_ms: Some(2.0),
                failed: 0,
                command: "pgbench -n".into(),
                machine_cpu_ms_per_1k: Some(55.0),
                postgres_cpu_ms_per_1k: Some(30.0),
            }),
            pipelined: None,
        },
        generators: None,
        targets: vec![],
        explanations: vec![],
        notes: vec!["a note".into()],
        elapsed_s: 42.0,
    };
    report.check_targets();
    report
}
