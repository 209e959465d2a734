//! The README's generated regions in "Comparing the tiers": the measured comparison
//! (`readme-comparison`), the report's chart (`readme-chart`), the course's targets
//! (`readme-targets`) and the CPU per request by process (`readme-cpu`).
//!
//! Each row says in its first cell what it shows, in the README's words; each figure
//! comes from the report, formatted as the report's own Markdown formats it (the
//! report was the source of the figures pasted here before).

use crate::figures::columns::{
    MISSING, cell, heading, original, pair, plain_tiers, round_trips, rps, rss_range, rust_tiers,
    short, stack_name,
};
use crate::figures::{Source, provenance};
use crate::report::{Align, Report, Target, num, table};
use crate::workload::Workload;

/// `readme-comparison`: one column per Rust tier row, one row per measured figure.
pub fn comparison(source: &Source, up: &str) -> String {
    let report = &source.report;
    let tiers = rust_tiers(report);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |label: &str, value: &dyn Fn(&crate::report::TierFacts) -> String| {
        let mut cells = vec![label.to_owned()];
        cells.extend(tiers.iter().map(|t| value(t)));
        rows.push(cells);
    };
    row(
        "DB round trips per request, counted on the wire (get / update)",
        &|t| {
            let get = cell(report, t, Workload::Get);
            let mut text = format!(
                "{} / {}",
                round_trips(get),
                round_trips(cell(report, t, Workload::Update))
            );
            // A tier that shares connections sends several requests' queries in one
            // burst under load: say so where it is well below the sequential count.
            let sequential = get.and_then(|c| c.round_trips.as_ref());
            let loaded = get.and_then(|c| c.round_trips_under_load.as_ref());
            if let (Some(s), Some(l)) = (sequential, loaded)
                && l.round_trips < s.round_trips / 2.0
            {
                text += &format!("; under load {} per `get`", num(l.round_trips, 2));
            }
            text
        },
    );
    row("`get`: requests/s (p99)", &|t| {
        cell(report, t, Workload::Get).map_or(MISSING.into(), |c| {
            format!("{} ({:.1} ms)", rps(Some(c.summary.rps)), c.summary.p99_ms)
        })
    });
    if let Some(level) = report.tails.iter().map(|t| t.level_percent).min() {
        row(
            &format!("`get`, open loop at {level} % of that rate: p99 / p99.9"),
            &|t| {
                report
                    .tails
                    .iter()
                    .find(|c| c.tier == t.label && c.level_percent == level)
                    .map_or(MISSING.into(), |c| {
                        format!("{:.1} / {:.1} ms", c.p99_ms, c.p999_ms)
                    })
            },
        );
    }
    for (label, workload) in [
        ("`list` (50 rows): requests/s", Workload::List),
        ("`create`: requests/s", Workload::Create),
        ("`update`: requests/s", Workload::Update),
    ] {
        row(label, &|t| {
            rps(cell(report, t, workload).map(|c| c.summary.rps))
        });
    }
    row(
        "CPU ms per 1,000 `get`s: the server / the whole machine",
        &|t| {
            let s = cell(report, t, Workload::Get).map(|c| &c.summary);
            pair(
                s.and_then(|s| s.cpu_ms_per_1k),
                s.and_then(|s| s.machine_cpu_ms_per_1k),
                |v| format!("{v:.0}"),
            )
        },
    );
    row("peak RSS under load", &|t| rss_range(report, t));
    if !report.fastapi.is_empty() {
        row(
            "the course's FastAPI original, `get` requests/s (tier / original)",
            &|t| {
                original(report, t, Workload::Get).map_or(String::new(), |p| {
                    let ratio = p.ratio.map_or(MISSING.into(), |r| format!("{r:.1}"));
                    format!("{}: {} ({ratio})", stack_name(p), rps(Some(p.stack_rps)))
                })
            },
        );
        row(
            &format!(
                "the original's peak RSS (its {} uvicorn workers and parent)",
                report.machine.cpus
            ),
            &|t| {
                original(report, t, Workload::Get)
                    .and_then(|p| p.stack_peak_rss_bytes)
                    .map_or(String::new(), |b| format!("{:.0} MB", b as f64 / 1e6))
            },
        );
    }
    row("`store.rs`: lines of code / all", &|t| {
        let plain = plain_tiers(report);
        match plain.iter().find(|p| p.package == t.package) {
            Some(p) if p.label != t.label => format!("as {}", p.label),
            _ => t
                .store_lines
                .map_or(MISSING.into(), |l| format!("{} / {}", l.code, l.total)),
        }
    });
    let headings: Vec<String> = std::iter::once(String::new())
        .chain(tiers.iter().map(|t| heading(t)))
        .collect();
    render(&headings, Align::Left, rows, source, up)
}

/// `readme-chart`: the report's chart, linked from the README.
pub fn chart(source: &Source, up: &str) -> String {
    format!(
        "![Requests/s and p99 of every tier in every workload, from {}]({up}{})",
        source.path,
        source.chart()
    )
}

/// `readme-targets`: the course's targets for `get`, as the report checked them.
pub fn targets(source: &Source, up: &str) -> String {
    let report = &source.report;
    let s = &report.settings;
    let mut rows = Vec::new();
    let ratio_rows = [
        (
            "tier-raw requests/s against pgbench's prepared transactions/s",
            "get: tier-raw req/s / pgbench prepared tps",
        ),
        (
            "tier-sqlx against tier-raw",
            "get: tier-sqlx / tier-raw req/s",
        ),
        (
            "tier-orm against tier-raw",
            "get: tier-orm / tier-raw req/s",
        ),
        (
            "tier-raw pipelined against pgbench's prepared transactions/s",
            "get: tier-raw (pipelined) req/s / pgbench prepared tps",
        ),
    ];
    for (words, name) in ratio_rows {
        if let Some(t) = report.targets.iter().find(|t| t.name == name) {
            let value = t.value.map_or(MISSING.into(), |v| format!("{v:.2}"));
            rows.push(vec![words.into(), goal(&t.goal, ""), value, met(&[t])]);
        }
    }
    let originals = matching(report, |n| {
        n.starts_with("get: ") && n.contains(" / fastapi-")
    });
    if let Some(first) = originals.first() {
        let values: Vec<String> = originals
            .iter()
            .map(|t| t.value.map_or(MISSING.into(), |v| format!("{v:.1}")))
            .collect();
        rows.push(vec![
            "each tier against its FastAPI original".into(),
            goal(&first.goal, ""),
            values.join(" / "),
            met_each(&originals),
        ]);
    }
    let rss = matching(report, |n| n.ends_with(": peak RSS, MB (any workload)"));
    let highest = rss
        .iter()
        .filter_map(|t| Some((t.value?, *t)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((value, t)) = highest {
        let tier = t.name.split(':').next().unwrap_or_default();
        rows.push(vec![
            "peak RSS of each tier, any workload".into(),
            goal(&t.goal, " MB"),
            format!("{value:.1} MB ({tier})"),
            met(&rss),
        ]);
    }
    let generators = report.generators.as_ref().and_then(|g| {
        let ratio = g.ratios.iter().find(|r| r.tier == "tier-raw")?;
        Some((ratio.bench?, ratio.wrk?, ratio.difference_percent?))
    });
    let generator_target = matching(report, |n| n.contains("bench generator vs wrk"));
    if let (Some((bench, wrk, difference)), Some(t)) = (generators, generator_target.first()) {
        rows.push(vec![
            "tier-raw/pgbench by the bench's generator against wrk's".into(),
            goal(&t.goal, " %").replace("at most", "within"),
            format!("{bench:.2} and {wrk:.2}: {:.0} %", difference.abs()),
            met(&generator_target),
        ]);
    }
    let posts = matching(report, |n| n.ends_with(": posts / list req/s"));
    let values: Vec<f64> = posts.iter().filter_map(|t| t.value).collect();
    if let (Some(t), Some(low), Some(high)) = (
        posts.first(),
        values.iter().copied().reduce(f64::min),
        values.iter().copied().reduce(f64::max),
    ) {
        rows.push(vec![
            "posts with their authors against users".into(),
            goal(&t.goal, ""),
            format!("{low:.2}–{high:.2}"),
            met(&posts),
        ]);
    }
    let first = format!(
        "target (`get`, {} connections, {} rows)",
        s.connections,
        crate::report::thousands(s.rows as f64)
    );
    let columns = [
        (first.as_str(), Align::Left),
        ("goal", Align::Left),
        ("measured", Align::Right),
        ("met", Align::Left),
    ];
    let mut md = String::new();
    table(&mut md, &columns, rows);
    format!("{md}\n{}", provenance(source, up))
}

/// `readme-cpu`: CPU per 1,000 `get`s split by process, for every row that ran `get`,
/// and pgbench's per 1,000 queries.
pub fn cpu(source: &Source, up: &str) -> String {
    let report = &source.report;
    let mut rows = Vec::new();
    let whole = crate::report::thousands;
    // The Rust rows first, then the FastAPI originals, as the prose reads them.
    let (rust, originals): (Vec<_>, Vec<_>) = report
        .tiers
        .iter()
        .partition(|t| rust_tiers(report).iter().any(|r| r.label == t.label));
    for tier in rust.into_iter().chain(originals) {
        let Some(s) = cell(report, tier, Workload::Get).map(|c| &c.summary) else {
            continue;
        };
        let (Some(server), Some(postgres), Some(client), Some(machine)) = (
            s.cpu_ms_per_1k,
            s.postgres_cpu_ms_per_1k,
            s.loadgen_cpu_ms_per_1k,
            s.machine_cpu_ms_per_1k,
        ) else {
            continue;
        };
        let name = match report.fastapi.iter().find(|p| p.stack == tier.label) {
            Some(p) => format!(
                "FastAPI + {} ({} uvicorn workers)",
                stack_name(p),
                report.machine.cpus
            ),
            None => heading(tier),
        };
        // What none of the named processes account for, as the report's explanations
        // count it (never below zero: the parts are sampled apart).
        let rest = (machine - server - postgres - client).max(0.0);
        rows.push(vec![
            name,
            whole(server),
            whole(postgres),
            whole(client),
            whole(rest),
            whole(machine),
        ]);
    }
    if let Some(c) = &report.pgbench.prepared
        && let (Some(machine), Some(postgres)) = (c.machine_cpu_ms_per_1k, c.postgres_cpu_ms_per_1k)
    {
        rows.push(vec![
            format!(
                "pgbench, {}, {} clients (per 1,000 queries)",
                c.mode, c.clients
            ),
            String::new(),
            whole(postgres),
            format!("{} (pgbench itself)", whole(machine - postgres)),
            String::new(),
            whole(machine),
        ]);
    }
    let headings: Vec<String> = [
        "CPU ms per 1,000 `get`s",
        "server",
        "PostgreSQL",
        "load generator",
        "rest",
        "whole machine",
    ]
    .map(String::from)
    .to_vec();
    render(&headings, Align::Right, rows, source, up)
}

/// A table whose first column is text and the others aligned `align`, with the
/// provenance line under it.
fn render(
    headings: &[String],
    align: Align,
    rows: Vec<Vec<String>>,
    source: &Source,
    up: &str,
) -> String {
    let columns: Vec<(&str, Align)> = headings
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), if i == 0 { Align::Left } else { align }))
        .collect();
    let mut md = String::new();
    table(&mut md, &columns, rows);
    format!("{}\n{}", empty_cells(&md), provenance(source, up))
}

/// The table with its empty cells written `| |`, as a person writes them.
fn empty_cells(md: &str) -> String {
    // Twice: two empty cells in a row share a `|`, so one pass leaves every other one.
    md.replace("|  |", "| |").replace("|  |", "| |")
}

/// The report's targets whose name passes `keep`, in the report's order.
fn matching(report: &Report, keep: impl Fn(&str) -> bool) -> Vec<&Target> {
    report.targets.iter().filter(|t| keep(&t.name)).collect()
}

/// A goal in words: `>= 0.85` is `at least 0.85`, `>= 0.33 (a third)` is `at least a
/// third`, `<= 50` with unit ` MB` is `at most 50 MB`.
fn goal(goal: &str, unit: &str) -> String {
    let (words, rest) = if let Some(rest) = goal.strip_prefix(">=") {
        ("at least", rest.trim())
    } else if let Some(rest) = goal.strip_prefix("<=") {
        ("at most", rest.trim())
    } else {
        return goal.to_owned();
    };
    match rest.split_once('(') {
        Some((_, named)) => format!("{words} {}", named.trim_end_matches(')')),
        None => format!("{words} {rest}{unit}"),
    }
}

/// `yes` when every target is met, `no` when one is missed, `-` when one is unmeasured.
fn met(targets: &[&Target]) -> String {
    if targets.iter().any(|t| t.met.is_none()) {
        MISSING.into()
    } else if targets.iter().all(|t| t.met == Some(true)) {
        "yes".into()
    } else {
        "no".into()
    }
}

/// Per tier where they differ: `raw and orm yes, sqlx no`.
fn met_each(targets: &[&Target]) -> String {
    let all = met(targets);
    if all != "no" || targets.iter().all(|t| t.met == Some(false)) {
        return all;
    }
    // The tier is the name's first operand: `get: tier-raw / fastapi-asyncpg req/s`.
    let tier = |t: &Target| {
        let after = t.name.strip_prefix("get: ").unwrap_or(&t.name);
        short(after.split(" / ").next().unwrap_or(after)).to_owned()
    };
    let names = |met: bool| {
        let list: Vec<String> = targets
            .iter()
            .filter(|t| t.met == Some(met))
            .map(|t| tier(t))
            .collect();
        list.join(" and ")
    };
    format!("{} yes, {} no", names(true), names(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_are_put_in_words() {
        assert_eq!(goal(">= 0.85", ""), "at least 0.85");
        assert_eq!(goal(">= 0.33 (a third)", ""), "at least a third");
        assert_eq!(goal("<= 50", " MB"), "at most 50 MB");
        assert_eq!(goal("about 3", ""), "about 3");
    }
}
