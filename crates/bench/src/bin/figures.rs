//! `cargo run -p bench --bin figures [-- [--check] [REPORT]]`: writes the comparison
//! tables of the README and the slides from a committed bench report.
//!
//! REPORT is a `report.json` inside the workspace, from the workspace root; by default
//! the newest full run ([`bench::figures::DEFAULT_REPORT`]). Without `--check` it
//! rewrites every `<!-- figures: NAME -->` region of the documents
//! ([`bench::figures::FILES`]); with `--check` it changes nothing and fails, naming
//! each region, when a document disagrees with the report (as the test
//! `crates/bench/tests/figures.rs` does).

use std::path::PathBuf;
use std::process::ExitCode;

use bench::figures::{self, DEFAULT_REPORT, Source};
use bench::tiers::workspace_root;
use clap::Parser;

/// The options.
#[derive(Parser)]
#[command(about = "Writes the README's and the slides' comparison tables from a bench report")]
struct Options {
    /// Change nothing; fail if a document disagrees with the report.
    #[arg(long)]
    check: bool,
    /// The report.json, from the workspace root.
    #[arg(default_value = DEFAULT_REPORT)]
    report: PathBuf,
}

fn main() -> ExitCode {
    match run(&Options::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("figures: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes or checks; `Ok(false)` when the check found a disagreement.
fn run(options: &Options) -> anyhow::Result<bool> {
    let root = workspace_root();
    let source = Source::load(&root, &options.report)?;
    if options.check {
        let problems = figures::check(&root, &source)?;
        for problem in &problems {
            eprintln!("figures: {problem}");
        }
        if problems.is_empty() {
            eprintln!("figures: every region agrees with {}", source.path);
        } else {
            eprintln!("figures: {}", figures::fix(&source));
        }
        return Ok(problems.is_empty());
    }
    let changed = figures::write(&root, &source)?;
    if changed.is_empty() {
        eprintln!("figures: every region already agrees with {}", source.path);
    }
    for file in changed {
        eprintln!("figures: rewrote {file} from {}", source.path);
    }
    Ok(true)
}
