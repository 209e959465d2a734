//! `callgrind-split --tier raw --requests 500 --file callgrind.out.raw`: a callgrind
//! profile of a tier, as instructions per request per layer and per library.
//!
//! `scripts/profile-layers.sh` records the profile and calls this; the patterns and the
//! parsing are in `bench::callgrind` (with their tests). It runs `callgrind_annotate`
//! twice, for self and for inclusive costs, and prints two tables and `FIGURE` lines.

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use bench::callgrind::{Table, parse_table, split_by_group, split_by_layer};
use clap::Parser;

/// The options.
#[derive(Parser)]
struct Options {
    /// The tier's short name, for the FIGURE lines.
    #[arg(long)]
    tier: String,
    /// How many requests the profile holds.
    #[arg(long)]
    requests: u64,
    /// The callgrind output file.
    #[arg(long)]
    file: String,
}

fn main() -> ExitCode {
    match run(&Options::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("callgrind-split: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> anyhow::Result<()> {
    let own = annotate(&options.file, false)?;
    let inclusive = annotate(&options.file, true)?;
    if own.total == 0 || options.requests == 0 {
        bail!("the profile {} holds no instructions", options.file);
    }
    let per_request = |instructions: u64| instructions / options.requests;
    let percent = |instructions: u64| 100.0 * instructions as f64 / own.total as f64;
    let tier = &options.tier;

    println!(
        "tier-{tier}: {} instructions per request ({} requests; kernel time not counted)",
        per_request(own.total),
        options.requests
    );
    println!(
        "FIGURE profile tier={tier} group=total ir_per_request={}",
        per_request(own.total)
    );
    println!("\nSelf cost by source file (each instruction counted once):");
    println!("{:>10} {:>6}  group", "Ir/req", "%");
    for (group, instructions) in split_by_group(&own) {
        println!(
            "{:>10} {:>5.1}%  {group}",
            per_request(instructions),
            percent(instructions)
        );
        println!(
            "FIGURE profile tier={tier} group=\"{}\" ir_per_request={}",
            group.trim(),
            per_request(instructions)
        );
    }
    println!("\nInclusive cost per layer (call + poll, minus the layer below; '-' = inlined):");
    println!("{:>10} {:>10}  layer", "incl/req", "own/req");
    for layer in split_by_layer(&inclusive) {
        let show =
            |value: Option<u64>| value.map_or("-".to_owned(), |v| per_request(v).to_string());
        println!(
            "{:>10} {:>10}  {}",
            show(layer.inclusive),
            show(layer.exclusive),
            layer.name
        );
        if let Some(exclusive) = layer.exclusive {
            println!(
                "FIGURE profile tier={tier} layer=\"{}\" ir_per_request={}",
                layer.name,
                per_request(exclusive)
            );
        }
    }
    Ok(())
}

/// `callgrind_annotate`'s table of every function (threshold 100 %: none left out).
fn annotate(file: &str, inclusive: bool) -> anyhow::Result<Table> {
    let output = Command::new("callgrind_annotate")
        .arg(format!(
            "--inclusive={}",
            if inclusive { "yes" } else { "no" }
        ))
        .args(["--threshold=100", "--auto=no", file])
        .output()
        .context("running callgrind_annotate (apt-get install valgrind)")?;
    if !output.status.success() {
        bail!(
            "callgrind_annotate failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(parse_table(&String::from_utf8_lossy(&output.stdout)))
}
