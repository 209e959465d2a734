//! The figures that the README and the slides quote, written from a committed bench
//! report instead of pasted by hand: `cargo run -p bench --bin figures`.
//!
//! A document marks each generated block with `<!-- figures: NAME -->` and
//! `<!-- /figures: NAME -->` ([`regions`]); [`REGIONS`] says what each name holds, and
//! [`FILES`] which documents hold regions. [`write`] rewrites the regions of every
//! file from one `report.json`; [`check`] says which regions disagree with it, which is
//! what the test `crates/bench/tests/figures.rs` asserts. A figure edited by hand in a
//! region is therefore a failing test, and a new bench report reaches every table by
//! one command.
//!
//! The module's files:
//!
//! * `figures/regions.rs`: finding, replacing and comparing the marked regions;
//! * `figures/columns.rs`: the report read as columns (tiers, their FastAPI originals)
//!   and the number formats the tables share;
//! * `figures/readme.rs`: the README's tables of "Comparing the tiers";
//! * `figures/slides.rs`: the deck's measured comparison and its chart;
//! * `figures/tuning.rs`: the deck's pool sizes and shared clients, from the tuning run.

use std::path::{Component, Path};

use anyhow::{Context as _, bail};

use crate::report::Report;

mod columns;
mod readme;
pub mod regions;
mod slides;
mod tuning;

/// The report the figures come from unless another is named: the newest full run.
pub const DEFAULT_REPORT: &str = "crates/bench/reports/2026-12-04-full/report.json";

/// The command that writes the regions (quoted in every region and every error).
pub const COMMAND: &str = "cargo run -p bench --bin figures";

/// The documents that hold regions, from the workspace root. A region may stand in any
/// of them: a section moved to another file keeps its region, once that file is here.
pub const FILES: &[&str] = &["README.md", "docs/benchmark.md", "slides/lecture.md"];

/// The report of the tuning run: `get` with pool sizes 4, 8 and 16 in every tier and
/// 1, 2 and 4 shared clients in tier-raw's pipelined mode. The deck's "Pool size,
/// measured" and "Pipelining, measured" quote it. Unlike [`DEFAULT_REPORT`], the command
/// line does not replace it: a new tuning run is committed and named here.
pub const TUNING_REPORT: &str = "crates/bench/reports/2026-12-04-tuning/report.json";

/// Which report a region is written from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// The full run: [`DEFAULT_REPORT`], or the report named on the command line.
    Main,
    /// The tuning run, [`TUNING_REPORT`].
    Tuning,
}

/// Makes one region's Markdown from the report, for a document `up` (`""` or `"../"`)
/// below the workspace root, so that its links are relative to that document.
type Generate = fn(&Source, &str) -> String;

/// Every region by name, the report it is written from, and what writes it.
pub const REGIONS: &[(&str, From, Generate)] = &[
    ("readme-comparison", From::Main, readme::comparison),
    ("readme-chart", From::Main, readme::chart),
    ("readme-targets", From::Main, readme::targets),
    ("readme-cpu", From::Main, readme::cpu),
    ("slides-comparison", From::Main, slides::comparison),
    ("slides-provenance", From::Main, slides::provenance),
    ("slides-chart", From::Main, slides::chart),
    ("slides-pipelining", From::Main, slides::pipelining),
    ("slides-pool-size", From::Tuning, tuning::pool_size),
    (
        "slides-shared-clients",
        From::Tuning,
        tuning::shared_clients,
    ),
];

/// A report and where it is committed.
pub struct Source {
    /// The report.
    pub report: Report,
    /// Its `report.json`, from the workspace root, with `/` separators.
    pub path: String,
}

impl Source {
    /// Reads `path` (absolute, or from `root`), which must lie inside `root`: the
    /// documents link to it, so it must be a committed file of the workspace.
    pub fn load(root: &Path, path: &Path) -> anyhow::Result<Self> {
        let full = root.join(path);
        let text = std::fs::read_to_string(&full)
            .with_context(|| format!("reading the report {}", full.display()))?;
        let report: Report = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a bench report.json", full.display()))?;
        let relative = full
            .canonicalize()?
            .strip_prefix(root.canonicalize()?)
            .map(Path::to_path_buf)
            .with_context(|| {
                format!(
                    "{} is outside the workspace: the figures must come from a committed \
                     report (crates/bench/reports/DATE-NAME/report.json)",
                    full.display()
                )
            })?;
        let parts: Vec<&str> = relative
            .components()
            .filter_map(|c| match c {
                Component::Normal(part) => part.to_str(),
                _ => None,
            })
            .collect();
        let source = Self {
            report,
            path: parts.join("/"),
        };
        let chart = root.join(source.chart());
        if !chart.is_file() {
            bail!("{} is missing: the documents show it", chart.display());
        }
        Ok(source)
    }

    /// The report's directory, from the workspace root.
    pub fn dir(&self) -> &str {
        self.path.rsplit_once('/').map_or("", |(dir, _)| dir)
    }

    /// The report's chart (`report.svg` beside it), from the workspace root.
    pub fn chart(&self) -> String {
        format!("{}/report.svg", self.dir())
    }
}

/// What `--check` found: for each file, its regions that disagree with the report,
/// with their first differing line. Empty when every document agrees; otherwise show
/// [`fix`] after them.
pub fn check(root: &Path, source: &Source) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    for (file, text, expected) in generate_all(root, source)? {
        for difference in regions::differences(&text, &expected)? {
            problems.push(format!("{file}: {difference}"));
        }
    }
    Ok(problems)
}

/// What to do about a region that disagrees with the report.
pub fn fix(source: &Source) -> String {
    format!(
        "The figures come from {}: run `{COMMAND}` (or `{COMMAND} -- REPORT` for another \
         report), review `git diff`, and commit the result; never edit a region by hand.",
        source.path
    )
}

/// Rewrites the regions of every file in [`FILES`] from the report; returns the files
/// it changed.
pub fn write(root: &Path, source: &Source) -> anyhow::Result<Vec<&'static str>> {
    let mut changed = Vec::new();
    for (file, text, expected) in generate_all(root, source)? {
        if text != expected {
            std::fs::write(root.join(file), expected).with_context(|| format!("writing {file}"))?;
            changed.push(file);
        }
    }
    Ok(changed)
}

/// Each file of [`FILES`] with its text now and its text with every region generated.
/// Errors when a file names a region [`REGIONS`] does not know, or a region of
/// [`REGIONS`] stands in no file (a section moved to a file missing from [`FILES`]).
fn generate_all(
    root: &Path,
    source: &Source,
) -> anyhow::Result<Vec<(&'static str, String, String)>> {
    let tuning = Source::load(root, Path::new(TUNING_REPORT))?;
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for &file in FILES {
        let text =
            std::fs::read_to_string(root.join(file)).with_context(|| format!("reading {file}"))?;
        let up = "../".repeat(file.matches('/').count());
        let expected = regions::rewrite(&text, |name| {
            let (_, from, generate) = REGIONS
                .iter()
                .find(|(known, _, _)| *known == name)
                .with_context(|| {
                    format!("unknown region `{name}` (the regions are in bench's figures.rs)")
                })?;
            seen.push(name.to_owned());
            let report = match from {
                From::Main => source,
                From::Tuning => &tuning,
            };
            Ok(generate(report, &up))
        })
        .with_context(|| format!("in {file}"))?;
        out.push((file, text, expected));
    }
    let missing: Vec<&str> = REGIONS
        .iter()
        .map(|(name, _, _)| *name)
        .filter(|name| !seen.iter().any(|s| s == name))
        .collect();
    if !missing.is_empty() {
        bail!(
            "regions {missing:?} stand in none of {FILES:?}: if a section moved, add its \
             file to FILES in crates/bench/src/figures.rs"
        );
    }
    Ok(out)
}

/// The provenance line under a generated table: which report, which run, which command.
pub(crate) fn provenance(source: &Source, up: &str) -> String {
    let report = &source.report;
    format!(
        "<sub>Generated by `{COMMAND}` from [`{path}`]({up}{path}), the report of \
         `{command}` ({ended}): change the report, not this table.</sub>",
        path = source.path,
        command = report.command_line,
        ended = columns::run_time(report),
    )
}
