//! Copies the quoted source regions into `slides/lecture.md` again.
//!
//! ```text
//! cargo run --bin sync-slides
//! ```
//!
//! Run it when `cargo test` reports that a slide no longer matches the region it quotes
//! and the change in the source was intended; then review the deck's diff (`git diff
//! slides/`), since the prose around a block may need to change too. Only the content of
//! blocks marked `<!-- source: PATH#ANCHOR -->` is rewritten.

use std::process::ExitCode;

use users_course::anchors::{sync_quoted_blocks, workspace_root};

const DECK: &str = "slides/lecture.md";

fn main() -> ExitCode {
    let root = workspace_root();
    let path = root.join(DECK);
    let result = std::fs::read_to_string(&path)
        .map_err(|err| format!("cannot read {DECK}: {err}"))
        .and_then(|deck| {
            let synced =
                sync_quoted_blocks(&root, &deck).map_err(|err| format!("{DECK}: {err}"))?;
            if synced == deck {
                println!("{DECK}: every quoted block already matches its source");
                return Ok(());
            }
            std::fs::write(&path, synced).map_err(|err| format!("cannot write {DECK}: {err}"))?;
            println!("{DECK}: updated; review it with `git diff {DECK}`");
            Ok(())
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
