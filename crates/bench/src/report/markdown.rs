//! The report as Markdown: what goes to stdout and into `report.md`.
//!
//! One method per section, in the order they appear: the header (machine, load,
//! settings), the results, tails at a fixed rate (`report/open_loop.rs`), where the
//! CPU goes, the two load generators (`report/generators.rs`), pgbench's ceilings,
//! the tiers, what a
//! request costs on the wire, posts against users (`report/posts.rs`), batches against
//! creates (`report/batch.rs`), the export (`report/export.rs`), `--pooler`'s rows
//! side by side (`report/pooler.rs`), each tier against its FastAPI original
//! (`report/fastapi.rs`), the course's targets,
//! and the notes. A section with
//! nothing to show (no CPU figures, no round trips, no notes) is left out. Every table
//! goes through the one writer in `report/format.rs`; a snapshot test below pins the
//! whole output, so a change of layout is always a deliberate one.

use std::fmt::Write as _;

use super::Report;
use super::format::Align::{Left, Right};
use super::format::{messages, ms, num, opt, table, thousands};
use crate::pgbench::Ceiling;

impl Report {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        self.header_section(&mut md);
        self.results_section(&mut md);
        self.tails_section(&mut md);
        self.cpu_section(&mut md);
        self.generators_section(&mut md);
        self.ceilings_section(&mut md);
        self.tiers_section(&mut md);
        self.wire_section(&mut md);
        self.posts_section(&mut md);
        self.batch_section(&mut md);
        self.export_section(&mut md);
        self.pooler_section(&mut md);
        self.fastapi_section(&mut md);
        self.targets_section(&mut md);
        self.notes_section(&mut md);
        md
    }

    /// The title, and what the figures were taken on and with.
    fn header_section(&self, md: &mut String) {
        let s = &self.settings;
        let m = &self.machine;
        let _ = writeln!(md, "# Benchmark: the /users API on three database tiers\n");
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
        if let Some(load) = m.load_average {
            let busy = if load > m.cpus as f64 {
                ": the machine was busy with other work, so figures are low and noisy; \
                 compare ratios within this run only"
            } else {
                ""
            };
            let _ = writeln!(md, "- load average (1 min) at the start: {load:.2}{busy}");
        }
        let _ = writeln!(md, "- database: {}", m.postgres);
        let _ = writeln!(
            md,
            "- load: {} users with {} posts each, {} keep-alive HTTP/1.1 connections (closed \
             loop), {} s warm-up + {} s measured per run, {} round{} of every tier in turn{}",
            thousands(s.rows as f64),
            s.posts_per_user,
            s.connections,
            s.warmup_s,
            s.duration_s,
            s.rounds,
            if s.rounds == 1 { "" } else { "s" },
            if s.rounds > 1 { " (medians shown)" } else { "" }
        );
        if !s.tier_env.is_empty() {
            let _ = writeln!(md, "- tier environment: `{}`", s.tier_env.join(" "));
        }
        let _ = writeln!(md, "- run took {:.0} s\n", self.elapsed_s);
    }

    /// The main table: throughput, latencies, errors, memory, CPU and round trips.
    fn results_section(&self, md: &mut String) {
        let _ = writeln!(md, "## Results\n");
        table(
            md,
            &[
                ("workload", Left),
                ("tier", Left),
                ("req/s", Right),
                ("p50 ms", Right),
                ("p99 ms", Right),
                ("p99.9 ms", Right),
                ("errors", Right),
                ("peak RSS MB", Right),
                ("CPU ms / 1k req", Right),
                ("DB round trips / req", Right),
            ],
            self.results.iter().map(|cell| {
                let x = &cell.summary;
                vec![
                    cell.workload.name().to_owned(),
                    cell.tier.to_string(),
                    thousands(x.rps),
                    ms(x.p50_ms),
                    ms(x.p99_ms),
                    ms(x.p999_ms),
                    x.errors.to_string(),
                    opt(x.peak_rss_bytes.map(|b| b as f64 / 1e6), 1),
                    opt(x.cpu_ms_per_1k, 0),
                    opt(cell.round_trips.as_ref().map(|r| r.round_trips), 2),
                ]
            }),
        );
    }

    /// "Where the CPU goes": per request, who spent the machine's CPU. The machine is
    /// the limit (the tier, the database and the load generator share its cores), so
    /// this is what the throughput figures come from.
    fn cpu_section(&self, md: &mut String) {
        if !self
            .results
            .iter()
            .any(|c| c.summary.machine_cpu_ms_per_1k.is_some())
        {
            return;
        }
        let _ = writeln!(md, "\n## Where the CPU goes\n");
        let _ = writeln!(
            md,
            "CPU ms per 1,000 requests in the measured window, by who spent it. Tier, \
             database and load generator share the machine's cores, so a request costs \
             what all three spend on it: requests/s is about (cores x 1,000,000 x busy share) \
             / (whole machine ms per 1k). pgbench's ceilings, for comparison, pay only for \
             the database and a client written in C.\n"
        );
        let tiers = self.results.iter().map(|cell| {
            let x = &cell.summary;
            vec![
                cell.workload.name().to_owned(),
                cell.tier.to_string(),
                opt(x.cpu_ms_per_1k, 0),
                opt(x.db_cpu_ms_per_1k, 0),
                opt(x.loadgen_cpu_ms_per_1k, 0),
                opt(x.machine_cpu_ms_per_1k, 0),
                x.machine_busy_percent
                    .map_or("-".to_owned(), |p| format!("{p:.0} %")),
            ]
        });
        let pgbench = self.pgbench.measured().filter_map(|c| {
            let ms = c.machine_cpu_ms_per_1k?;
            // PostgreSQL's part, and pgbench's (with whatever else was awake) as the rest.
            let rest = c.postgres_cpu_ms_per_1k.map(|pg| ms - pg);
            Some(vec![
                "get".to_owned(),
                format!("pgbench {} ({} clients)", c.mode, c.clients),
                "-".to_owned(),
                opt(c.postgres_cpu_ms_per_1k, 0),
                format!("{} (pgbench and the rest)", opt(rest, 0)),
                format!("{} per 1k queries", opt(Some(ms), 0)),
                "-".to_owned(),
            ])
        });
        table(
            md,
            &[
                ("workload", Left),
                ("tier", Left),
                ("tier", Right),
                ("database", Right),
                ("load generator", Right),
                ("whole machine", Right),
                ("machine busy", Right),
            ],
            tiers.chain(pgbench),
        );
    }

    /// pgbench's ceilings with the commands that measured them, or why they are missing.
    fn ceilings_section(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "\n## The database's own ceilings for the get query (pgbench)\n"
        );
        if let Some(version) = &self.pgbench.version {
            let _ = writeln!(md, "{version}\n");
        }
        let ceilings: Vec<&Ceiling> = self.pgbench.measured().collect();
        if !ceilings.is_empty() {
            table(
                md,
                &[
                    ("ceiling", Left),
                    ("clients", Right),
                    ("queries / transaction", Right),
                    ("queries/s", Right),
                    ("latency ms", Right),
                    ("failed", Right),
                ],
                ceilings.iter().map(|c| {
                    vec![
                        c.mode.clone(),
                        c.clients.to_string(),
                        c.queries_per_transaction.to_string(),
                        thousands(c.queries_per_second),
                        opt(c.latency_ms, 3),
                        c.failed.to_string(),
                    ]
                }),
            );
            let _ = writeln!(md);
            for c in &ceilings {
                let _ = writeln!(md, "- `{}`", c.command);
            }
        }
        if let Some(note) = &self.pgbench.note {
            let _ = writeln!(md, "\n{note}");
        }
    }

    /// The tiers that ran: their environment, store size and binary size.
    fn tiers_section(&self, md: &mut String) {
        let _ = writeln!(md, "\n## Tiers\n");
        table(
            md,
            &[
                ("tier", Left),
                ("environment", Left),
                ("store.rs lines (code / all)", Right),
                ("release binary MB", Right),
            ],
            self.tiers.iter().map(|t| {
                vec![
                    t.label.to_string(),
                    if t.env.is_empty() {
                        "".to_owned()
                    } else {
                        format!("`{}`", t.env.join(" "))
                    },
                    t.store_lines
                        .map_or("-".to_owned(), |l| format!("{} / {}", l.code, l.total)),
                    opt(t.binary_bytes.map(|b| b as f64 / 1e6), 1),
                ]
            }),
        );
    }

    /// What one request costs on the wire to PostgreSQL, when the proxy counted it.
    fn wire_section(&self, md: &mut String) {
        if !self.results.iter().any(|c| c.round_trips.is_some()) {
            return;
        }
        let s = &self.settings;
        let _ = writeln!(
            md,
            "\n## What one request costs on the wire to PostgreSQL\n"
        );
        let _ = writeln!(
            md,
            "Counted by a TCP proxy between the tier and PostgreSQL, averaged over {} \
             sequential requests after a warm-up. A round trip is a turn of the \
             conversation from the tier sending to the server answering. \"Under \
             load\" counts the same through a 1 s window with all {} connections \
             busy, divided by the requests completed in it: a tier that sends the \
             queries of several requests in one burst needs fewer round trips than \
             requests.\n",
            s.round_trip_requests, s.connections
        );
        table(
            md,
            &[
                ("workload", Left),
                ("tier", Left),
                ("round trips", Right),
                ("under load", Right),
                ("tier sends", Left),
                ("server answers", Left),
            ],
            self.results.iter().filter_map(|cell| {
                let rt = cell.round_trips.as_ref()?;
                let under_load = cell.round_trips_under_load.as_ref();
                Some(vec![
                    cell.workload.name().to_owned(),
                    cell.tier.to_string(),
                    num(rt.round_trips, 2),
                    under_load.map_or("-".to_owned(), |l| num(l.round_trips, 2)),
                    messages(&rt.client),
                    messages(&rt.server),
                ])
            }),
        );
    }

    /// The course's targets: goal, measured value, met or not, and why not measured.
    fn targets_section(&self, md: &mut String) {
        if self.targets.is_empty() {
            return;
        }
        let _ = writeln!(md, "\n## The course's targets\n");
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
                    opt(t.value, 2),
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
        if self.explanations.is_empty() {
            return;
        }
        let _ = writeln!(md, "\n### What holds the missed targets back\n");
        for explanation in &self.explanations {
            let _ = writeln!(md, "- **{}**: {}", explanation.target, explanation.text);
        }
    }

    /// Warnings gathered during the run, one per line.
    fn notes_section(&self, md: &mut String) {
        if self.notes.is_empty() {
            return;
        }
        let _ = writeln!(md, "\n## Notes\n");
        for note in &self.notes {
            let _ = writeln!(md, "- {note}");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::report::fixtures::report;

    #[test]
    fn markdown_has_every_column_and_section() {
        let md = report().markdown();
        assert!(md.contains(
            "| workload | tier | req/s | p50 ms | p99 ms | p99.9 ms | errors | peak RSS MB | CPU ms / 1k req | DB round trips / req |"
        ));
        assert!(
            md.contains("| get | tier-raw | 20,000 | 2.00 | 8.00 | 16.0 | 3 | 30.0 | 50 | 1.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| prepared | 64 | 1 | 32,000 | 2.000 | 0 |"),
            "{md}"
        );
        assert!(md.contains("| tier-raw |  | 120 / 200 | 9.5 |"), "{md}");
        assert!(
            md.contains(
                "| get | tier-raw | 1 | 0.25 | Bind 1, Execute 1, Sync 1 | ReadyForQuery 1 |"
            ),
            "{md}"
        );
        assert!(md.contains("| **no** |"));
        assert!(md.contains("- a note"));
        assert!(
            md.contains("| get | tier-raw | 50 | 25 | 12 | 125 | 92 % |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| get | pgbench prepared (64 clients) | - | 30 | 25 (pgbench and the rest) | 55 per 1k queries | - |"
            ),
            "{md}"
        );
        let json = serde_json::to_value(report()).unwrap();
        assert_eq!(json["results"][0]["summary"]["rps"], 20_000.0);
        assert_eq!(json["results"][0]["round_trips"]["client"]["Bind"], 1.0);
    }

    /// The whole Markdown of the fixture report, byte for byte. When a change of the
    /// layout is meant, update `report/snapshots/report.md` with the new output.
    #[test]
    fn markdown_matches_its_snapshot() {
        let expected = include_str!("snapshots/report.md");
        let md = report().markdown();
        assert!(md == expected, "the Markdown changed:\n{md}");
    }

    /// `report.json`, byte for byte: its shape is what other tools read.
    #[test]
    fn json_matches_its_snapshot() {
        let expected = include_str!("snapshots/report.json");
        let json = serde_json::to_string_pretty(&report()).unwrap();
        assert!(json == expected, "report.json changed:\n{json}");
    }
}
