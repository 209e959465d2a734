//! The counted rows of the tier comparison (`docs/comparison.md`).
//!
//! ```text
//! cargo run --bin tier-stats            # lines per region and per file, names met in `get`
//! cargo run --bin tier-stats -- --write # the same, written into docs/comparison.md
//! git diff A B | cargo run --bin tier-stats -- diff   # files and lines of a change
//! ```
//!
//! The first form prints what `docs/comparison.md` holds between its
//! `<!-- tier-stats:begin -->` and `<!-- tier-stats:end -->` markers; `tests/tier_stats.rs`
//! fails when the two differ, and `--write` puts the fresh figures in. The `diff` form
//! is what `scripts/posts-cost.sh` and `scripts/schema-change.sh` count with.

use std::io::Read as _;
use std::process::ExitCode;

use users_course::anchors::workspace_root;
use users_course::{diff_stats, tier_stats};

/// The document, and the markers around its generated part.
const DOC: &str = "docs/comparison.md";
const BEGIN: &str = "<!-- tier-stats:begin -->\n";
const END: &str = "<!-- tier-stats:end -->";

fn write_into_doc(report: &str) -> Result<(), String> {
    let path = workspace_root().join(DOC);
    let doc = std::fs::read_to_string(&path).map_err(|err| format!("cannot read {DOC}: {err}"))?;
    let (Some(begin), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        return Err(format!(
            "{DOC} has no `{}` … `{END}` markers",
            BEGIN.trim_end()
        ));
    };
    let updated = format!("{}{BEGIN}{report}{}", &doc[..begin], &doc[end..]);
    std::fs::write(&path, updated).map_err(|err| format!("cannot write {DOC}: {err}"))?;
    println!("{DOC}: updated; review it with `git diff {DOC}`");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {
            print!("{}", tier_stats::report(&workspace_root()));
            Ok(())
        }
        ["--write"] => write_into_doc(&tier_stats::report(&workspace_root())),
        ["diff"] => {
            let mut diff = String::new();
            std::io::stdin()
                .read_to_string(&mut diff)
                .map_err(|err| format!("cannot read the diff from stdin: {err}"))
                .map(|_| print!("{}", diff_stats::table(&diff_stats::parse(&diff))))
        }
        _ => Err("usage: tier-stats [--write | diff < a.patch]".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
