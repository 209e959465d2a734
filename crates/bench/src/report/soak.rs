//! The soak's report: what a tier looked like minute after minute under a steady mixed
//! load (`crate::soak` drives it and takes the samples), and whether it held still.
//!
//! A soak asks a different question from the timed rounds: not "how fast" but "does
//! anything grow". So each tier gets a table of samples (resident memory, open file
//! descriptors, database sessions, requests and errors so far) and two targets:
//!
//! * **memory**: the resident set after the last sample is within [`SOAK_GROWTH_GOAL_PERCENT`]
//!   of the one after the first sample under load (minute 1, or 10 s into a short run).
//!   The first sample, not the start: the first minute fills the pools, the prepared
//!   statement caches and the allocator's arenas, which is warm-up, not a leak;
//! * **errors**: none at all, over the whole soak.
//!
//! A missed target is said in the report, not in the exit code: a soak is read, like
//! the other targets of the bench.

use std::fmt::Write as _;

use serde::Serialize;

use super::Target;
use super::format::Align::{Left, Right};
use super::format::{num, table, thousands};
use crate::cli::TierLabel;
use crate::machine::Machine;

/// The goal: memory after the last sample at most this many percent above the first.
pub const SOAK_GROWTH_GOAL_PERCENT: f64 = 5.0;

/// What one tier looked like at one moment of its soak.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SoakSample {
    /// Seconds since the load began (0: the tier just started, no load yet).
    pub elapsed_s: f64,
    /// `VmRSS`, bytes (`None` if it could not be read).
    pub rss_bytes: Option<u64>,
    /// Entries of `/proc/PID/fd`.
    pub fds: Option<u64>,
    /// The tier's sessions in `pg_stat_activity` (its `application_name`, the bench database).
    pub db_connections: Option<u64>,
    /// Requests answered so far (errors included).
    pub requests: u64,
    /// Requests that failed so far (wrong status, transport error, timeout).
    pub errors: u64,
}

/// One tier's soak.
#[derive(Debug, Clone, Serialize)]
pub struct SoakTier {
    /// The tier row's label.
    pub label: TierLabel,
    /// The samples in order: the start, then each one under load, the last at the end.
    pub samples: Vec<SoakSample>,
    /// Requests answered over the whole soak, counted after the last connection
    /// finished (a second after the last sample).
    pub requests: u64,
    /// Of those, failed.
    pub errors: u64,
    /// The first few failures, as text.
    pub error_samples: Vec<String>,
    /// Exports streamed whole (one line per user at least) during the soak.
    pub exports: u64,
}

impl SoakTier {
    /// The first sample taken under load: the baseline of the memory target.
    pub fn baseline(&self) -> Option<&SoakSample> {
        self.samples.iter().find(|s| s.elapsed_s > 0.0)
    }

    /// The last sample, if it is a later one than the baseline.
    pub fn last(&self) -> Option<&SoakSample> {
        let last = self.samples.last()?;
        (last.elapsed_s > self.baseline()?.elapsed_s).then_some(last)
    }

    /// Memory after the last sample against after the first under load, percent
    /// (negative when it shrank).
    pub fn growth_percent(&self) -> Option<f64> {
        let base = self.baseline()?.rss_bytes? as f64;
        let last = self.last()?.rss_bytes? as f64;
        (base > 0.0).then(|| (last - base) / base * 100.0)
    }

    /// Memory after the last sample minus after the first under load, MB (10^6 bytes).
    pub fn growth_mb(&self) -> Option<f64> {
        let base = self.baseline()?.rss_bytes? as f64;
        let last = self.last()?.rss_bytes? as f64;
        Some((last - base) / 1e6)
    }

    /// The most database sessions any sample saw.
    pub fn max_db_connections(&self) -> Option<u64> {
        self.samples.iter().filter_map(|s| s.db_connections).max()
    }
}

/// The whole soak report.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// When the soak ended, RFC 3339.
    pub date: String,
    /// The command line, without a password.
    pub command_line: String,
    /// The machine.
    pub machine: Machine,
    /// Seconds of load per tier.
    pub seconds: u64,
    /// Seconds between samples.
    pub sample_every_s: u64,
    /// Keep-alive HTTP connections of the mixed load (plus one that exports).
    pub connections: usize,
    /// Seeded users.
    pub rows: u64,
    /// Seeded posts per user.
    pub posts_per_user: u64,
    /// Each tier's soak, in the order they ran.
    pub tiers: Vec<SoakTier>,
    /// The targets, per tier.
    pub targets: Vec<Target>,
    /// Tiers left out, and why.
    pub notes: Vec<String>,
}

impl SoakReport {
    /// Fills [`SoakReport::targets`]: memory growth and errors, per tier.
    pub fn check_targets(&mut self) {
        let mut targets = Vec::new();
        for tier in &self.tiers {
            let growth = tier.growth_percent();
            targets.push(Target {
                name: format!(
                    "{}: memory, last sample vs first under load (%)",
                    tier.label
                ),
                goal: format!("<= {SOAK_GROWTH_GOAL_PERCENT}"),
                value: growth,
                met: growth.map(|g| g <= SOAK_GROWTH_GOAL_PERCENT),
                note: match (tier.baseline(), tier.last()) {
                    (Some(base), Some(last)) => format!(
                        "{} MB at {} -> {} MB at {}",
                        mb(base.rss_bytes),
                        clock(base.elapsed_s),
                        mb(last.rss_bytes),
                        clock(last.elapsed_s)
                    ),
                    _ => "needs two samples under load".to_owned(),
                },
            });
            targets.push(Target {
                name: format!("{}: errors", tier.label),
                goal: "0".to_owned(),
                value: Some(tier.errors as f64),
                met: Some(tier.errors == 0),
                note: format!("of {} requests", thousands(tier.requests as f64)),
            });
        }
        self.targets = targets;
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(md, "# Soak: the /users API under a steady mixed load\n");
        let _ = writeln!(md, "- date: {}", self.date);
        let _ = writeln!(md, "- command: `{}`", self.command_line);
        let _ = writeln!(
            md,
            "- machine: {} CPUs ({}), {:.1} GiB memory, Linux {}",
            m.cpus,
            m.cpu_model,
            m.memory_mib as f64 / 1024.0,
            m.kernel
        );
        let _ = writeln!(md, "- database: {}", m.postgres);
        let _ = writeln!(
            md,
            "- load: {} users with {} posts each; {} keep-alive connections (closed loop) of \
             reads, lists, creates, updates, deletes, posts and batches, plus one that \
             streams an export now and then; {} s per tier, sampled every {} s\n",
            thousands(self.rows as f64),
            self.posts_per_user,
            self.connections,
            self.seconds,
            self.sample_every_s
        );
        self.summary_section(&mut md);
        for tier in &self.tiers {
            let _ = writeln!(md, "\n## {}\n", tier.label);
            tier_table(&mut md, tier);
            for sample in &tier.error_samples {
                let _ = writeln!(md, "\n- error: {sample}");
            }
        }
        self.targets_section(&mut md);
        if !self.notes.is_empty() {
            let _ = writeln!(md, "\n## Notes\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        md
    }

    /// One line per tier: growth, errors, the resources at the start and the end.
    fn summary_section(&self, md: &mut String) {
        let _ = writeln!(md, "## Summary\n");
        table(
            md,
            &[
                ("tier", Left),
                ("RSS first (MB)", Right),
                ("RSS last (MB)", Right),
                ("growth", Right),
                ("fds start -> end", Right),
                ("DB sessions max", Right),
                ("requests", Right),
                ("errors", Right),
                ("exports", Right),
            ],
            self.tiers.iter().map(|t| {
                let fds = |s: Option<&SoakSample>| {
                    s.and_then(|s| s.fds).map_or("-".into(), |n| n.to_string())
                };
                vec![
                    t.label.to_string(),
                    mb(t.baseline().and_then(|s| s.rss_bytes)),
                    mb(t.last().and_then(|s| s.rss_bytes)),
                    match (t.growth_percent(), t.growth_mb()) {
                        (Some(p), Some(m)) => format!("{p:+.1} % ({m:+.1} MB)"),
                        _ => "-".to_owned(),
                    },
                    format!("{} -> {}", fds(t.samples.first()), fds(t.samples.last())),
                    t.max_db_connections().map_or("-".into(), |n| n.to_string()),
                    thousands(t.requests as f64),
                    thousands(t.errors as f64),
                    t.exports.to_string(),
                ]
            }),
        );
    }

    /// The targets: goal, measured value, met or not.
    fn targets_section(&self, md: &mut String) {
        if self.targets.is_empty() {
            return;
        }
        let _ = writeln!(md, "\n## Targets\n");
        table(
            md,
            &[
                ("target", Left),
                ("goal", Left),
                ("measured", Right),
                ("met", Left),
                ("note", Left),
            ],
            self.targets.iter().map(|t| {
                vec![
                    t.name.clone(),
                    t.goal.clone(),
                    t.value.map_or("-".to_owned(), |v| num(v, 1)),
                    match t.met {
                        Some(true) => "yes",
                        Some(false) => "**no**",
                        None => "not measured",
                    }
                    .to_owned(),
                    t.note.clone(),
                ]
            }),
        );
    }
}

/// A tier's samples, one line each, with the request rate since the line before.
fn tier_table(md: &mut String, tier: &SoakTier) {
    let rows = tier.samples.iter().enumerate().map(|(i, s)| {
        let rate = i
            .checked_sub(1)
            .map(|before| &tier.samples[before])
            .filter(|before| s.elapsed_s > before.elapsed_s)
            .map_or("-".to_owned(), |before| {
                thousands(
                    (s.requests - before.requests.min(s.requests)) as f64
                        / (s.elapsed_s - before.elapsed_s),
                )
            });
        let count = |n: Option<u64>| n.map_or("-".to_owned(), |n| n.to_string());
        vec![
            if s.elapsed_s > 0.0 {
                clock(s.elapsed_s)
            } else {
                "start".to_owned()
            },
            mb(s.rss_bytes),
            count(s.fds),
            count(s.db_connections),
            thousands(s.requests as f64),
            thousands(s.errors as f64),
            rate,
        ]
    });
    table(
        md,
        &[
            ("time", Left),
            ("RSS (MB)", Right),
            ("fds", Right),
            ("DB sessions", Right),
            ("requests", Right),
            ("errors", Right),
            ("req/s since last", Right),
        ],
        rows,
    );
}

/// `m:ss` of seconds.
fn clock(seconds: f64) -> String {
    let whole = seconds.round() as u64;
    format!("{}:{:02}", whole / 60, whole % 60)
}

/// Bytes as MB (10^6) with one decimal, `-` if unknown.
fn mb(bytes: Option<u64>) -> String {
    bytes.map_or("-".to_owned(), |b| format!("{:.1}", b as f64 / 1e6))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(elapsed_s: f64, rss_mb: u64, requests: u64, errors: u64) -> SoakSample {
        SoakSample {
            elapsed_s,
            rss_bytes: Some(rss_mb * 1_000_000),
            fds: Some(40 + rss_mb % 3),
            db_connections: Some(10),
            requests,
            errors,
        }
    }

    /// A tier that grew from 20 MB at 1:00 to 22 MB at 3:00: +10 %, missed.
    fn growing() -> SoakTier {
        SoakTier {
            label: "tier-raw".into(),
            samples: vec![
                sample(0.0, 8, 0, 0),
                sample(60.0, 20, 60_000, 0),
                sample(120.0, 21, 120_000, 0),
                sample(180.0, 22, 180_000, 0),
            ],
            requests: 180_010,
            errors: 0,
            error_samples: vec![],
            exports: 9,
        }
    }

    /// A tier that held at 30 MB (+1 %) but failed 2 requests.
    fn erring() -> SoakTier {
        SoakTier {
            label: "tier-sqlx".into(),
            samples: vec![
                sample(0.0, 9, 0, 0),
                sample(60.0, 30, 30_000, 1),
                sample(150.0, 30, 75_000, 2),
            ],
            requests: 75_004,
            errors: 2,
            error_samples: vec!["GET /users/7 answered 503".into()],
            exports: 7,
        }
        .with_last_rss(30_300_000)
    }

    impl SoakTier {
        fn with_last_rss(mut self, bytes: u64) -> Self {
            if let Some(last) = self.samples.last_mut() {
                last.rss_bytes = Some(bytes);
            }
            self
        }
    }

    fn report(tiers: Vec<SoakTier>) -> SoakReport {
        let mut report = SoakReport {
            date: "2026-12-04T05:00:00Z".into(),
            command_line: "bench --soak 180".into(),
            machine: crate::report::fixtures::report().machine,
            seconds: 180,
            sample_every_s: 60,
            connections: 16,
            rows: 10_000,
            posts_per_user: 10,
            tiers,
            targets: vec![],
            notes: vec!["tier-orm did not start: boom".into()],
        };
        report.check_targets();
        report
    }

    #[test]
    fn growth_is_the_last_sample_against_the_first_under_load() {
        let tier = growing();
        assert_eq!(tier.baseline().unwrap().elapsed_s, 60.0);
        assert!((tier.growth_percent().unwrap() - 10.0).abs() < 1e-9);
        assert!((tier.growth_mb().unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(tier.max_db_connections(), Some(10));
        let sqlx = erring();
        assert!((sqlx.growth_percent().unwrap() - 1.0).abs() < 1e-9);
        // Shrinking is negative growth, and meets the target.
        let shrunk = growing().with_last_rss(19_000_000);
        assert!((shrunk.growth_percent().unwrap() + 5.0).abs() < 1e-9);
    }

    #[test]
    fn growth_needs_two_samples_under_load_and_a_memory_figure() {
        let mut tier = growing();
        tier.samples.truncate(2);
        assert!(tier.last().is_none() && tier.growth_percent().is_none());
        let mut unread = growing();
        unread.samples[1].rss_bytes = None;
        assert_eq!(unread.growth_percent(), None);
        let mut report = report(vec![tier]);
        report.check_targets();
        assert_eq!(report.targets[0].met, None);
        assert_eq!(report.targets[0].note, "needs two samples under load");
    }

    #[test]
    fn targets_say_met_or_missed_per_tier() {
        let report = report(vec![growing(), erring()]);
        let met: Vec<_> = report.targets.iter().map(|t| t.met).collect();
        assert_eq!(met, [Some(false), Some(true), Some(true), Some(false)]);
        assert_eq!(report.targets[0].note, "20.0 MB at 1:00 -> 22.0 MB at 3:00");
        assert_eq!(report.targets[3].value, Some(2.0));
        // Exactly at the goal is met.
        let at_goal = growing().with_last_rss(21_000_000);
        assert_eq!(report_of(at_goal).targets[0].met, Some(true));
    }

    fn report_of(tier: SoakTier) -> SoakReport {
        report(vec![tier])
    }

    #[test]
    fn markdown_has_a_table_per_tier_and_the_targets() {
        let md = report(vec![growing(), erring()]).markdown();
        for expected in [
            "# Soak: the /users API under a steady mixed load",
            "16 keep-alive connections",
            "180 s per tier, sampled every 60 s",
            "| tier-raw | 20.0 | 22.0 | +10.0 % (+2.0 MB) | 42 -> 41 | 10 | 180,010 | 0 | 9 |",
            "| tier-sqlx | 30.0 | 30.3 | +1.0 % (+0.3 MB) | 40 -> 40 | 10 | 75,004 | 2 | 7 |",
            "## tier-raw\n",
            "| time | RSS (MB) | fds | DB sessions | requests | errors | req/s since last |",
            "| start | 8.0 | 42 | 10 | 0 | 0 | - |",
            "| 1:00 | 20.0 | 42 | 10 | 60,000 | 0 | 1,000 |",
            "| 2:30 | 30.3 | 40 | 10 | 75,000 | 2 | 500 |",
            "- error: GET /users/7 answered 503",
            "| tier-raw: memory, last sample vs first under load (%) | <= 5 | 10 | **no** |",
            "| tier-sqlx: memory, last sample vs first under load (%) | <= 5 | 1 | yes |",
            "| tier-sqlx: errors | 0 | 2 | **no** | of 75,004 requests |",
            "- tier-orm did not start: boom",
        ] {
            assert!(md.contains(expected), "missing {expected:?} in:\n{md}");
        }
        // The per-tier tables come in the order the tiers ran.
        assert!(md.find("## tier-raw").unwrap() < md.find("## tier-sqlx").unwrap());
    }

    #[test]
    fn times_read_as_a_clock() {
        assert_eq!(clock(0.4), "0:00");
        assert_eq!(clock(10.0), "0:10");
        assert_eq!(clock(599.6), "10:00");
        assert_eq!(clock(3_725.0), "62:05");
        assert_eq!(mb(None), "-");
    }

    #[test]
    fn json_carries_every_sample() {
        let json = serde_json::to_value(report(vec![growing()])).unwrap();
        assert_eq!(json["tiers"][0]["samples"].as_array().unwrap().len(), 4);
        assert_eq!(json["tiers"][0]["samples"][3]["rss_bytes"], 22_000_000);
        assert_eq!(json["targets"][1]["met"], true);
    }
}
