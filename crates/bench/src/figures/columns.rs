//! The report read as the documents' columns: the Rust tier rows (a table's columns),
//! their FastAPI originals, and the few number formats every table shares.
//!
//! Everything is looked up by name (tier label, workload), never by position, and a
//! figure the report lacks prints as `-`: a table from a shorter run still renders,
//! and says what is missing instead of inventing it.

use chrono::DateTime;

use crate::report::{Cell, FastapiPair, Report, TierFacts, thousands};
use crate::workload::Workload;

/// What a table prints for a figure the report does not have.
pub const MISSING: &str = "-";

/// The Rust tier rows of the report, in its order: every row but the FastAPI
/// originals (`--fastapi` files them under the package `baseline/fastapi`).
pub fn rust_tiers(report: &Report) -> Vec<&TierFacts> {
    report
        .tiers
        .iter()
        .filter(|t| !t.package.starts_with("baseline/"))
        .collect()
}

/// The three tiers proper: Rust rows started without extra environment (no variant).
pub fn plain_tiers(report: &Report) -> Vec<&TierFacts> {
    rust_tiers(report)
        .into_iter()
        .filter(|t| t.env.is_empty())
        .collect()
}

/// A tier's column heading: its label, or for a variant its package and environment
/// (`tier-raw, `DB_PIPELINE=true``).
pub fn heading(tier: &TierFacts) -> String {
    if tier.env.is_empty() {
        tier.label.to_string()
    } else {
        format!("{}, `{}`", tier.package, tier.env.join(" "))
    }
}

/// The cell of `tier` in `workload`, if it ran.
pub fn cell<'a>(report: &'a Report, tier: &TierFacts, workload: Workload) -> Option<&'a Cell> {
    report.cell(tier.label.as_str(), workload)
}

/// The pair of `tier` and its FastAPI original in `workload`, if both ran.
pub fn original<'a>(
    report: &'a Report,
    tier: &TierFacts,
    workload: Workload,
) -> Option<&'a FastapiPair> {
    report
        .fastapi
        .iter()
        .find(|p| p.tier == tier.label && p.workload == workload)
}

/// How the course names a FastAPI original's database library.
pub fn stack_name(pair: &FastapiPair) -> String {
    match pair.stack.as_str() {
        "fastapi-asyncpg" => "asyncpg".into(),
        "fastapi-databases" => "`databases`".into(),
        "fastapi-sqlalchemy" => "SQLAlchemy".into(),
        other => other.to_owned(),
    }
}

/// `19,575`, or [`MISSING`].
pub fn rps(value: Option<f64>) -> String {
    value.map_or(MISSING.into(), thousands)
}

/// Bytes as megabytes (10^6, as the report prints them) with one decimal.
pub fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1e6)
}

/// A tier's peak resident memory over every workload it ran: `11.1–11.7 MB`, the
/// lowest workload's peak to the highest's.
pub fn rss_range(report: &Report, tier: &TierFacts) -> String {
    let peaks: Vec<u64> = report
        .results
        .iter()
        .filter(|c| c.tier == tier.label)
        .filter_map(|c| c.summary.peak_rss_bytes)
        .collect();
    match (peaks.iter().min(), peaks.iter().max()) {
        (Some(low), Some(high)) if mb(*low) == mb(*high) => format!("{} MB", mb(*high)),
        (Some(low), Some(high)) => format!("{}–{} MB", mb(*low), mb(*high)),
        _ => MISSING.into(),
    }
}

/// Round trips per request, one request at a time: whole numbers in practice (a
/// stray new connection during the count can add a hundredth), so one decimal at most.
pub fn round_trips(cell: Option<&Cell>) -> String {
    cell.and_then(|c| c.round_trips.as_ref())
        .map_or(MISSING.into(), |r| crate::report::num(r.round_trips, 1))
}

/// `a / b` of two optional figures, each formatted by `f`.
pub fn pair(a: Option<f64>, b: Option<f64>, f: impl Fn(f64) -> String) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{} / {}", f(a), f(b)),
        _ => MISSING.into(),
    }
}

/// When the run took place: `2026-12-04, 28 minutes to 14:02 UTC` (the report keeps
/// when it ended and how long it took).
pub fn run_time(report: &Report) -> String {
    let Ok(ended) = DateTime::parse_from_rfc3339(&report.date) else {
        return report.date.clone();
    };
    let minutes = (report.elapsed_s / 60.0).round();
    format!(
        "{}, {minutes:.0} minutes to {} UTC",
        ended.format("%Y-%m-%d"),
        ended.format("%H:%M")
    )
}

/// A tier's short name in running text: `raw` for `tier-raw`.
pub fn short(label: &str) -> &str {
    label.strip_prefix("tier-").unwrap_or(label)
}
