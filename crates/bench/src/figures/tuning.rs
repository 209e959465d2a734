//! The deck's tuning tables, from the tuning run ([`super::TUNING_REPORT`]): `get` with
//! each tier's pool at 4, 8 and 16 connections (`slides-pool-size`), and tier-raw's
//! pipelined mode with 1, 2 and 4 shared clients (`slides-shared-clients`).
//!
//! The run makes every setting a row of its own (`--variant raw:DB_POOL_SIZE=4`, ...),
//! so a row's setting is read back from its environment; a row started without it has
//! the tier's default (`users_api::pool::DEFAULT_POOL_SIZE`, one shared client).

use crate::figures::columns::{MISSING, cell, rps, rust_tiers};
use crate::figures::{COMMAND, Source};
use crate::report::{Align, Report, TierFacts, table, thousands};
use crate::workload::Workload;

/// The value of `key` in the row's environment, parsed; `default` when it is not set.
fn setting(tier: &TierFacts, key: &str, default: usize) -> Option<usize> {
    let prefix = format!("{key}=");
    match tier.env.iter().find_map(|e| e.strip_prefix(&prefix)) {
        Some(value) => value.parse().ok(),
        None => Some(default),
    }
}

/// Whether the row runs tier-raw's pipelined read path.
fn pipelined(tier: &TierFacts) -> bool {
    tier.env.iter().any(|e| e == "DB_PIPELINE=true")
}

/// The distinct values of a setting over `rows`, in increasing order.
fn values(rows: &[(&TierFacts, usize)]) -> Vec<usize> {
    let mut values: Vec<usize> = rows.iter().map(|(_, v)| *v).collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// `get` requests/s of a row, with its p99.
fn get_rps(report: &Report, tier: &TierFacts) -> String {
    cell(report, tier, Workload::Get).map_or(MISSING.into(), |c| {
        format!("{} ({:.1} ms)", rps(Some(c.summary.rps)), c.summary.p99_ms)
    })
}

/// `slides-pool-size`: one row per tier, one column per pool size.
pub fn pool_size(source: &Source, _up: &str) -> String {
    let report = &source.report;
    let rows: Vec<(&TierFacts, usize)> = rust_tiers(report)
        .into_iter()
        .filter(|t| !pipelined(t))
        .filter_map(|t| {
            setting(t, "DB_POOL_SIZE", users_api::pool::DEFAULT_POOL_SIZE).map(|v| (t, v))
        })
        .collect();
    let sizes = values(&rows);
    // The tiers in the order the run first met them (variants come after all three).
    let mut packages: Vec<&str> = Vec::new();
    for (tier, _) in &rows {
        if !packages.contains(&tier.package.as_str()) {
            packages.push(&tier.package);
        }
    }
    let body = packages
        .iter()
        .map(|package| {
            std::iter::once((*package).to_owned())
                .chain(sizes.iter().map(|size| {
                    rows.iter()
                        .find(|(t, v)| t.package == *package && v == size)
                        .map_or(MISSING.into(), |(t, _)| get_rps(report, t))
                }))
                .collect()
        })
        .collect();
    let headings: Vec<String> = std::iter::once("`get`, requests/s (p99)".to_owned())
        .chain(sizes.iter().map(|s| format!("pool of {s}")))
        .collect();
    render(source, &headings, body)
}

/// `slides-shared-clients`: the pooled tier-raw, then one column per number of shared
/// clients in the pipelined mode.
pub fn shared_clients(source: &Source, _up: &str) -> String {
    let report = &source.report;
    let rows: Vec<(&TierFacts, usize)> = rust_tiers(report)
        .into_iter()
        .filter(|t| pipelined(t))
        .filter_map(|t| setting(t, "DB_PIPELINE_CLIENTS", 1).map(|v| (t, v)))
        .collect();
    let pooled = rust_tiers(report)
        .into_iter()
        .find(|t| t.package == "tier-raw" && t.env.is_empty());
    let clients = values(&rows);
    let row: Vec<String> = std::iter::once("`get`, requests/s (p99)".to_owned())
        .chain(std::iter::once(
            pooled.map_or(MISSING.into(), |t| get_rps(report, t)),
        ))
        .chain(clients.iter().map(|n| {
            rows.iter()
                .find(|(_, v)| v == n)
                .map_or(MISSING.into(), |(t, _)| get_rps(report, t))
        }))
        .collect();
    let headings: Vec<String> = ["tier-raw".to_owned(), "pooled".to_owned()]
        .into_iter()
        .chain(
            clients
                .iter()
                .map(|n| format!("{n} shared client{}", if *n == 1 { "" } else { "s" })),
        )
        .collect();
    render(source, &headings, vec![row])
}

/// The table, then the run it comes from in small print.
fn render(source: &Source, headings: &[String], rows: Vec<Vec<String>>) -> String {
    let r = &source.report;
    let columns: Vec<(&str, Align)> = headings
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), if i == 0 { Align::Left } else { Align::Right }))
        .collect();
    let mut md = String::new();
    table(&mut md, &columns, rows);
    let load = r
        .machine
        .load_average
        .map_or(String::new(), |l| format!(", load {l:.2} at the start"));
    // The run's whole command line is too long for a slide: its report.md gives it.
    md += &format!(
        "\n<small>The tuning run ({}; {} cores{load}, {} rows, {} client connections, \
         medians of {} rounds): `{}/report.md` gives its command. Written by \
         `{COMMAND}`.</small>\n",
        super::columns::run_time(r),
        r.machine.cpus,
        thousands(r.settings.rows as f64),
        r.settings.connections,
        r.settings.rounds,
        source.dir(),
    );
    md
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::Path;

    use super::*;
    use crate::figures::TUNING_REPORT;
    use crate::tiers::workspace_root;

    fn rows_of(md: &str) -> Vec<&str> {
        md.lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| ---"))
            .collect()
    }

    /// Whether a table row has a cell that says a figure is missing.
    fn has_missing(row: &str) -> bool {
        row.split('|').any(|cell| cell.trim() == MISSING)
    }

    #[test]
    fn one_row_per_tier_and_one_column_per_pool_size() {
        let source = Source::load(&workspace_root(), Path::new(TUNING_REPORT)).unwrap();
        let md = pool_size(&source, "");
        let rows = rows_of(&md);
        // The heading, then each tier once, although the run lists variants after the
        // three tiers (a first cut printed every tier twice).
        assert_eq!(rows.len(), 4, "{md}");
        assert!(
            rows[0].contains("pool of 4") && rows[0].contains("pool of 16"),
            "{md}"
        );
        for (row, tier) in rows[1..].iter().zip(["tier-raw", "tier-sqlx", "tier-orm"]) {
            assert!(row.starts_with(&format!("| {tier} |")), "{md}");
            assert!(!has_missing(row), "{md}");
        }
    }

    #[test]
    fn the_pooled_tier_then_each_number_of_shared_clients() {
        let source = Source::load(&workspace_root(), Path::new(TUNING_REPORT)).unwrap();
        let md = shared_clients(&source, "");
        let rows = rows_of(&md);
        assert_eq!(rows.len(), 2, "{md}");
        assert!(
            rows[0].contains("| pooled | 1 shared client | 2 shared clients |"),
            "{md}"
        );
        assert!(!has_missing(rows[1]), "{md}");
    }
}
