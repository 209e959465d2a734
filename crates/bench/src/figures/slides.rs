//! The deck's generated regions: the measured rows of "Comparing the tiers"
//! (`slides-comparison`), the small print that says where they come from
//! (`slides-provenance`), the chart on "The comparison, charted" (`slides-chart`), and
//! tier-raw pooled against pipelined on "Pipelining, measured" (`slides-pipelining`).
//!
//! A slide has room for four rows and three columns: the three tiers proper (no
//! variants), named by their library as the rest of the deck names them. The
//! judgements (abstraction, learning curve) are a table of their own, written by hand.

use crate::figures::columns::{
    MISSING, cell, original, pair, plain_tiers, round_trips, rps, rust_tiers, stack_name,
};
use crate::figures::{COMMAND, Source};
use crate::report::{Align, Report, TierFacts, table};
use crate::workload::Workload;

/// The deck's name for a tier: its numeral and library.
fn library(tier: &TierFacts) -> String {
    match tier.package.as_str() {
        "tier-raw" => "I. tokio-postgres".into(),
        "tier-sqlx" => "II. sqlx".into(),
        "tier-orm" => "III. SeaORM".into(),
        other => other.to_owned(),
    }
}

/// `slides-comparison`: throughput, the FastAPI original, round trips, peak memory.
pub fn comparison(source: &Source, _up: &str) -> String {
    let report = &source.report;
    let tiers = plain_tiers(report);
    let get = |t: &TierFacts| cell(report, t, Workload::Get);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |label: String, value: &dyn Fn(&TierFacts) -> String| {
        rows.push(
            std::iter::once(label)
                .chain(tiers.iter().map(|t| value(t)))
                .collect(),
        );
    };
    row(
        format!(
            "Throughput, `GET /users/{{id}}` (bench, {} conns)",
            report.settings.connections
        ),
        &|t| {
            get(t).map_or(MISSING.into(), |c| {
                format!("{} req/s", rps(Some(c.summary.rps)))
            })
        },
    );
    if !report.fastapi.is_empty() {
        row("The course's FastAPI original, same run".into(), &|t| {
            original(report, t, Workload::Get).map_or(MISSING.into(), |p| {
                let ratio = p.ratio.map_or(MISSING.into(), |r| format!("{r:.1}"));
                format!("{}: {} (×{ratio})", stack_name(p), rps(Some(p.stack_rps)))
            })
        });
    }
    row("DB round trips per `get` (bench)".into(), &|t| {
        round_trips(get(t))
    });
    row("Peak memory (RSS), any workload".into(), &|t| {
        peak_mb(report, t).map_or(MISSING.into(), |mb| {
            match original(report, t, Workload::Get).and_then(|p| p.stack_peak_rss_bytes) {
                Some(theirs) => format!("{mb:.1} MB (original: {:.0})", theirs as f64 / 1e6),
                None => format!("{mb:.1} MB"),
            }
        })
    });
    let headings: Vec<String> = std::iter::once("measured".to_owned())
        .chain(tiers.iter().map(|t| library(t)))
        .collect();
    let columns: Vec<(&str, Align)> = headings.iter().map(|h| (h.as_str(), Align::Left)).collect();
    let mut md = String::new();
    table(&mut md, &columns, rows);
    md
}

/// A tier's highest peak resident memory over every workload, MB.
fn peak_mb(report: &Report, tier: &TierFacts) -> Option<f64> {
    report
        .results
        .iter()
        .filter(|c| c.tier == tier.label)
        .filter_map(|c| c.summary.peak_rss_bytes)
        .max()
        .map(|b| b as f64 / 1e6)
}

/// `slides-provenance`: the run, its conditions and its report, in small print.
pub fn provenance(source: &Source, _up: &str) -> String {
    let r = &source.report;
    let s = &r.settings;
    let load = r
        .machine
        .load_average
        .map_or(String::new(), |l| format!(", load {l:.2} at the start"));
    let postgres = r
        .machine
        .postgres
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = format!(
        "Measured by `{}` ({}; {} cores{load}, {postgres}, {} rows, {} connections, \
         medians of {} rounds; `{}`).",
        r.command_line,
        super::columns::run_time(r),
        r.machine.cpus,
        crate::report::thousands(s.rows as f64),
        s.connections,
        s.rounds,
        source.dir(),
    );
    if let Some(c) = &r.pgbench.prepared {
        text += &format!(
            " pgbench, the same SELECT: {}/s.",
            rps(Some(c.queries_per_second))
        );
    }
    let variants: Vec<String> = r
        .tiers
        .iter()
        .filter(|t| !t.env.is_empty())
        .filter_map(|t| {
            let c = cell(r, t, Workload::Get)?;
            Some(format!(
                "{} with `{}`: {}/s",
                t.package,
                t.env.join(" "),
                rps(Some(c.summary.rps))
            ))
        })
        .collect();
    if !variants.is_empty() {
        text += &format!(" {}.", variants.join("; "));
    }
    format!("<small>{text} Written by `{COMMAND}`.</small>")
}

/// `slides-chart`: the report's chart, sized to fit under a slide's heading
/// (`slides/render.mjs` inlines it, so the rendered deck needs no other file).
pub fn chart(source: &Source, up: &str) -> String {
    format!(
        "![h:480 Requests/s and p99 of every tier in every workload]({up}{})",
        source.chart()
    )
}

/// `slides-pipelining`: tier-raw pooled against its `DB_PIPELINE=true` variant, `get`.
/// A report without the variant gives a one-column table that says so (`—`).
pub fn pipelining(source: &Source, _up: &str) -> String {
    let report = &source.report;
    let pooled = plain_tiers(report)
        .into_iter()
        .find(|t| t.package == "tier-raw");
    let pipelined = rust_tiers(report)
        .into_iter()
        .find(|t| t.package == "tier-raw" && t.env.iter().any(|e| e == "DB_PIPELINE=true"));
    let columns = [pooled, pipelined];
    let row = |label: &str, value: &dyn Fn(&TierFacts) -> String| -> Vec<String> {
        std::iter::once(label.to_owned())
            .chain(columns.iter().map(|t| t.map_or(MISSING.into(), value)))
            .collect()
    };
    let get = |t: &TierFacts| cell(report, t, Workload::Get);
    let rows = vec![
        row("requests/s (p99)", &|t| {
            get(t).map_or(MISSING.into(), |c| {
                format!("{} ({:.1} ms)", rps(Some(c.summary.rps)), c.summary.p99_ms)
            })
        }),
        row(
            "round trips per request: one at a time / under load",
            &|t| {
                let loaded = get(t)
                    .and_then(|c| c.round_trips_under_load.as_ref())
                    .map_or(MISSING.into(), |l| crate::report::num(l.round_trips, 2));
                format!("{} / {loaded}", round_trips(get(t)))
            },
        ),
        row("CPU ms per 1,000 requests: server / whole machine", &|t| {
            let s = get(t).map(|c| &c.summary);
            pair(
                s.and_then(|s| s.cpu_ms_per_1k),
                s.and_then(|s| s.machine_cpu_ms_per_1k),
                |v| format!("{v:.0}"),
            )
        }),
    ];
    let heading = format!(
        "`GET /users/{{id}}`, {} connections",
        report.settings.connections
    );
    let columns = [
        (heading.as_str(), Align::Left),
        ("tier-raw, pooled", Align::Right),
        ("tier-raw, `DB_PIPELINE=true`", Align::Right),
    ];
    let mut md = String::new();
    table(&mut md, &columns, rows);
    md
}
