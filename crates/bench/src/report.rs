//! The report: what a run measured, as one value that becomes the Markdown on stdout
//! and in `report.md`, `report.json` (the same data through serde) and `report.svg`.
//!
//! The files of this module, in the order a report is made:
//!
//! * `report/figures.rs`: per-run figures, medians over rounds, the cells and their key;
//! * `report/assemble.rs`: the report as a function of the measured results;
//! * `report/generators.rs`: the bench's load generator against wrk, same rounds;
//! * `report/targets.rs`: the course's targets, checked against the results;
//! * `report/explain.rs`: why a missed throughput target is missed, part by part;
//! * `report/posts.rs`: posts with their authors against users, and why the gap;
//! * `report/batch.rs`: batches against single creates, users written per second;
//! * `report/export.rs`: the export's rows per second and memory growth;
//! * `report/open_loop.rs`: tails at a fixed rate (open loop) against the closed loop's;
//! * `report/pooler.rs`: `--pooler`'s rows side by side: named, unnamed, PgBouncer;
//! * `report/fastapi.rs`: `--fastapi`: each tier against its FastAPI original;
//! * `report/soak.rs`: the soak's samples, growth and targets (a report of its own);
//! * `report/markdown.rs`: the Markdown, section by section;
//! * `report/format.rs`: the table writer and number formats the Markdown uses;
//! * `report/files.rs`: writing `report.md`, `report.json` and `report.svg`.

use serde::{Deserialize, Serialize};

use crate::cli::TierLabel;
use crate::machine::Machine;
use crate::pgbench::Ceilings;
use crate::tiers::LineCount;
use crate::workload::Workload;

mod assemble;
mod batch;
mod explain;
mod export;
mod fastapi;
mod figures;
mod files;
#[cfg(test)]
pub(crate) mod fixtures;
mod format;
mod generators;
mod markdown;
mod open_loop;
mod pooler;
mod posts;
mod soak;
mod targets;

pub use assemble::{Header, Measurements};
pub use batch::{BATCH_TO_CREATE_GOAL, BatchGain};
pub use explain::Explanation;
pub use export::{EXPORT_GROWTH_GOAL_MB, ExportCell, ExportRun, ExportSummary};
pub use fastapi::{FASTAPI_GOAL, FastapiPair, compare as compare_fastapi};
pub use figures::{Cell, CellKey, RunFigures, Summary, median};
pub use files::write_files;
pub use format::thousands;
pub(crate) use format::{Align, num, table};
pub use generators::{GENERATORS_GOAL_PERCENT, GeneratorRatio, GeneratorRow, Generators};
pub use open_loop::{TailCell, TailRun};
pub use pooler::{PoolerRow, Setup, compare as compare_pooler};
pub use posts::{PageCost, PostsGap};
pub use soak::{SOAK_GROWTH_GOAL_PERCENT, SoakReport, SoakSample, SoakTier};
pub use targets::Target;

/// Facts about a tier that do not depend on the workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TierFacts {
    /// The row's label.
    pub label: TierLabel,
    /// Its Cargo package (and binary).
    pub package: String,
    /// The environment that makes this variant.
    pub env: Vec<String>,
    /// Lines of its `store.rs`.
    pub store_lines: Option<LineCount>,
    /// Size of its release binary, bytes.
    pub binary_bytes: Option<u64>,
}

/// What the run was asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// Seeded users.
    pub rows: u64,
    /// Seeded posts per user.
    pub posts_per_user: u64,
    /// HTTP connections and pgbench clients.
    pub connections: usize,
    /// Warm-up seconds per run.
    pub warmup_s: f64,
    /// Measured seconds per run.
    pub duration_s: f64,
    /// Rounds.
    pub rounds: usize,
    /// `--quick`.
    pub quick: bool,
    /// Workloads, in order.
    pub workloads: Vec<Workload>,
    /// Tier rows, in order.
    pub tiers: Vec<TierLabel>,
    /// Extra environment given to every tier (`--env`).
    pub tier_env: Vec<String>,
    /// The bench database, without password.
    pub database: String,
    /// Sequential requests per round-trip count.
    pub round_trip_requests: usize,
    /// Workloads whose round trips were also counted under load.
    pub round_trip_load: Vec<Workload>,
}

/// The whole report. Read back by `cargo run -p bench --bin figures`; the lists added
/// after the first reports were committed default to empty, so older reports still read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// When the run ended, RFC 3339.
    pub date: String,
    /// The exact command line.
    pub command_line: String,
    /// The machine.
    pub machine: Machine,
    /// The settings.
    pub settings: Settings,
    /// Per-tier facts.
    pub tiers: Vec<TierFacts>,
    /// Per tier and workload, in the plan's order: workload by workload, and within
    /// one the tiers in the order they ran (the order of every table). Look a cell up
    /// by name with [`Report::cell`].
    pub results: Vec<Cell>,
    /// `--open-loop`: per tier and level, the fixed-rate runs after the closed-loop
    /// `get` (left out of the JSON when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tails: Vec<TailCell>,
    /// The exports, per tier in the plan's order (the `export` workload is not a request
    /// rate, so it is not among `results`).
    #[serde(default)]
    pub exports: Vec<ExportCell>,
    /// `--pooler`: each tier named, unnamed and through PgBouncer, side by side (empty
    /// without it).
    #[serde(default)]
    pub pooler: Vec<PoolerRow>,
    /// `--fastapi`: each tier against its FastAPI original, per workload (empty
    /// without it).
    #[serde(default)]
    pub fastapi: Vec<FastapiPair>,
    /// pgbench's ceilings.
    pub pgbench: Ceilings,
    /// The bench's generator against wrk (`None` before it is compared).
    pub generators: Option<Generators>,
    /// The course's targets, checked against this run.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Why each missed throughput target was missed, from this run's CPU figures.
    #[serde(default)]
    pub explanations: Vec<Explanation>,
    /// Warnings gathered during the run.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Wall-clock seconds the whole run took.
    pub elapsed_s: f64,
}

impl Report {
    /// The cell of `tier` and `workload`, if measured.
    pub fn cell(&self, tier: &str, workload: Workload) -> Option<&Cell> {
        self.results
            .iter()
            .find(|c| c.tier == tier && c.workload == workload)
    }
}
