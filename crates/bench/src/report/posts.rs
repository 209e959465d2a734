//! Posts with their authors against users: what embedding the author costs.
//!
//! `GET /posts?limit=50` (the `posts` workload) and `GET /users?limit=50` (`list`) are
//! the same request shape: a keyset page of 50 rows from a random start. The posts page
//! joins each post's author in, so the difference between the two is the price of the
//! relation. The course's target is that `posts` keeps at least a third of `list`'s
//! requests/s in every tier; this file puts the figures that explain the gap next to
//! the ratio: round trips (a join is one statement: the same as `list`, where an N+1
//! loop would make 51), rows (the same 50), and bytes (each row is wider: 9 columns
//! and a body of text instead of 4 short columns), plus the CPU the tier and the
//! database spend per request, which is where bytes turn into time on a machine whose
//! cores are all busy. (Measured at 1,000 users with 10 posts each: the database's CPU
//! per request grows about 5x, with the author lookups and the bytes, the tier's about
//! 2x; the round trips do not change.)

use std::fmt::Write as _;

use serde::Serialize;

use super::format::Align::{Left, Right};
use super::format::{num, opt, table, thousands};
use super::{Cell, Report};
use crate::cli::TierLabel;
use crate::workload::Workload;

/// The goal: `posts` reaches at least this share of `list`'s requests/s.
pub const POSTS_TO_LIST_GOAL: f64 = 1.0 / 3.0;

/// One tier's `posts` against its `list`.
#[derive(Debug, Clone, Serialize)]
pub struct PostsGap {
    /// The tier row's label.
    pub tier: TierLabel,
    /// `posts` req/s over `list` req/s.
    pub ratio: f64,
    /// The `list` side.
    pub list: PageCost,
    /// The `posts` side.
    pub posts: PageCost,
}

/// What one page request costs, from the rounds and the counting proxy.
#[derive(Debug, Clone, Serialize)]
pub struct PageCost {
    /// Median requests per second.
    pub rps: f64,
    /// Round trips to PostgreSQL per request (one request at a time).
    pub round_trips: Option<f64>,
    /// The same with every connection busy: lower where a tier sends the statements of
    /// several requests in one burst (the pipelined variant).
    pub round_trips_under_load: Option<f64>,
    /// Rows PostgreSQL sent per request (`DataRow` messages).
    pub rows: Option<f64>,
    /// Bytes between the tier and PostgreSQL per request, both directions.
    pub bytes: Option<f64>,
    /// The tier's CPU ms per 1,000 requests.
    pub tier_cpu_ms_per_1k: Option<f64>,
    /// The database's CPU ms per 1,000 requests.
    pub db_cpu_ms_per_1k: Option<f64>,
}

impl PageCost {
    fn of(cell: &Cell) -> Self {
        let wire = cell.round_trips.as_ref();
        Self {
            rps: cell.summary.rps,
            round_trips: wire.map(|w| w.round_trips),
            round_trips_under_load: cell.round_trips_under_load.as_ref().map(|w| w.round_trips),
            rows: wire.map(|w| w.server.get("DataRow").copied().unwrap_or(0.0)),
            bytes: wire.map(|w| w.bytes),
            tier_cpu_ms_per_1k: cell.summary.cpu_ms_per_1k,
            db_cpu_ms_per_1k: cell.summary.db_cpu_ms_per_1k,
        }
    }
}

impl PostsGap {
    /// Why the ratio is what it is, in one line: what `posts` costs more than `list`.
    pub fn explanation(&self) -> String {
        let (l, p) = (&self.list, &self.posts);
        let mut parts = vec![format!(
            "{}: posts reaches {} of list's requests/s",
            self.tier,
            num(self.ratio, 2)
        )];
        if let (Some(a), Some(b)) = (l.round_trips, p.round_trips) {
            parts.push(if (b - a).abs() < 0.05 {
                format!("the same round trips ({})", num(b, 2))
            } else {
                format!("{} round trips against {}", num(b, 2), num(a, 2))
            });
        }
        if let (Some(a), Some(b)) = (l.round_trips_under_load, p.round_trips_under_load)
            && (b - a).abs() >= 0.05
        {
            parts.push(format!(
                "under load {} round trips against {} (list shares them between requests \
                 more than posts does)",
                num(b, 2),
                num(a, 2)
            ));
        }
        if let (Some(a), Some(b)) = (l.rows, p.rows) {
            parts.push(if (b - a).abs() < 0.5 {
                format!("the same rows ({})", num(b, 1))
            } else {
                format!("{} rows against {}", num(b, 1), num(a, 1))
            });
        }
        let times = |what: &str, a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if a > 0.0 => Some(format!("{}x the {what}", num(b / a, 1))),
            _ => None,
        };
        parts.extend(times("bytes from PostgreSQL", l.bytes, p.bytes));
        parts.extend(times(
            "tier's CPU per request",
            l.tier_cpu_ms_per_1k,
            p.tier_cpu_ms_per_1k,
        ));
        parts.extend(times(
            "database's CPU per request",
            l.db_cpu_ms_per_1k,
            p.db_cpu_ms_per_1k,
        ));
        parts.join("; ")
    }
}

impl Report {
    /// Every tier that ran both `list` and `posts`, in the order of the tiers.
    pub fn posts_gaps(&self) -> Vec<PostsGap> {
        self.tiers
            .iter()
            .filter_map(|t| {
                let list = self.cell(t.label.as_str(), Workload::List)?;
                let posts = self.cell(t.label.as_str(), Workload::Posts)?;
                (list.summary.rps > 0.0).then(|| PostsGap {
                    tier: t.label.clone(),
                    ratio: posts.summary.rps / list.summary.rps,
                    list: PageCost::of(list),
                    posts: PageCost::of(posts),
                })
            })
            .collect()
    }

    /// "Posts with their authors against users": the ratio and what explains it.
    pub(super) fn posts_section(&self, md: &mut String) {
        let gaps = self.posts_gaps();
        if gaps.is_empty() {
            return;
        }
        let _ = writeln!(md, "\n## Posts with their authors against users\n");
        let _ = writeln!(
            md,
            "`GET /posts?limit=50` (posts) against `GET /users?limit=50` (list), both from \
             a random start: the same page of 50 rows, but each post comes with its author \
             joined in. One join is one statement, so the round trips stay those of list \
             (an N+1 loop would make 51) and the rows stay 50. What grows is the work per \
             row: the database looks up each post's author and sends rows several times \
             wider, and the tier decodes them and writes the JSON. The \
             goal: posts keeps at least a third of list's requests/s. Per request: round \
             trips (one request at a time, and with every connection busy), rows and bytes \
             through the counting proxy; CPU ms per 1,000 requests from the timed rounds.\n"
        );
        let cost = |c: &PageCost| {
            [
                thousands(c.rps),
                opt(c.round_trips, 2),
                opt(c.round_trips_under_load, 2),
                opt(c.rows, 1),
                c.bytes.map_or("-".to_owned(), thousands),
                opt(c.tier_cpu_ms_per_1k, 0),
                opt(c.db_cpu_ms_per_1k, 0),
            ]
        };
        table(
            md,
            &[
                ("tier", Left),
                ("workload", Left),
                ("req/s", Right),
                ("round trips", Right),
                ("under load", Right),
                ("rows", Right),
                ("bytes", Right),
                ("tier CPU ms / 1k", Right),
                ("DB CPU ms / 1k", Right),
                ("posts / list", Right),
            ],
            gaps.iter().flat_map(|g| {
                let row = |workload: &str, c: &PageCost, ratio: String| {
                    let mut row = vec![g.tier.to_string(), workload.to_owned()];
                    row.extend(cost(c));
                    row.push(ratio);
                    row
                };
                [
                    row("list", &g.list, String::new()),
                    row("posts", &g.posts, num(g.ratio, 2)),
                ]
            }),
        );
        let _ = writeln!(md);
        for gap in &gaps {
            let _ = writeln!(md, "- {}", gap.explanation());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{cell, report};

    /// A report with `list` and `posts` for tier-raw: posts at 40 % of list's rate,
    /// the same round trips and rows, four times the bytes, 2.5 times the tier's CPU.
    fn report_with_posts() -> Report {
        let mut report = report();
        let mut list = cell("tier-raw", Workload::List, 10_000.0, 4.0);
        let mut posts = cell("tier-raw", Workload::Posts, 4_000.0, 10.0);
        for (cell, bytes) in [(&mut list, 6_000.0), (&mut posts, 24_000.0)] {
            let wire = cell.round_trips.as_mut().unwrap();
            wire.server.insert("DataRow".into(), 50.0);
            wire.bytes = bytes;
        }
        posts.summary.cpu_ms_per_1k = Some(125.0);
        // `list` shares its round trips under load (as the pipelined variant does).
        list.round_trips_under_load.as_mut().unwrap().round_trips = 0.1;
        report.results.extend([list, posts]);
        report.check_targets();
        report
    }

    #[test]
    fn the_gap_is_explained_by_round_trips_rows_and_bytes() {
        let report = report_with_posts();
        let gaps = report.posts_gaps();
        assert_eq!(gaps.len(), 1, "only tier-raw ran both");
        let gap = &gaps[0];
        assert_eq!(gap.ratio, 0.4);
        assert_eq!(
            gap.explanation(),
            "tier-raw: posts reaches 0.4 of list's requests/s; the same round trips (1); \
             under load 0.25 round trips against 0.1 (list shares them between requests \
             more than posts does); the same rows (50); 4x the bytes from PostgreSQL; 2.5x the tier's CPU per \
             request; 1x the database's CPU per request"
        );
        let md = report.markdown();
        assert!(
            md.contains("\n## Posts with their authors against users\n"),
            "{md}"
        );
        assert!(
            md.contains("| tier-raw | list | 10,000 | 1.00 | 0.10 | 50.0 | 6,000 | 50 | 25 |  |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| tier-raw | posts | 4,000 | 1.00 | 0.25 | 50.0 | 24,000 | 125 | 25 | 0.4 |"
            ),
            "{md}"
        );
        let target = report
            .targets
            .iter()
            .find(|t| t.name == "tier-raw: posts / list req/s")
            .unwrap();
        assert_eq!((target.value, target.met), (Some(0.4), Some(true)));
        let sqlx = report
            .targets
            .iter()
            .find(|t| t.name == "tier-sqlx: posts / list req/s")
            .unwrap();
        assert_eq!(sqlx.met, None);
        assert_eq!(sqlx.note, "needs the list and posts workloads");
    }

    /// Without both workloads there is nothing to compare: no section.
    #[test]
    fn no_section_without_both_workloads() {
        assert!(report().posts_gaps().is_empty());
        assert!(!report().markdown().contains("Posts with their authors"));
    }
}
