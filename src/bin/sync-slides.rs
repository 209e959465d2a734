//! Copies the quoted source regions into `slides/lecture.md` again, and with
//! `--outputs`, the examples' output too.
//!
//! ```text
//! cargo run --bin sync-slides                # code blocks (`<!-- source: … -->`)
//! cargo run --bin sync-slides -- --outputs   # output blocks (`<!-- output: … -->`), needs PostgreSQL
//! ```
//!
//! Run it when `cargo test` reports that a slide no longer matches the region it quotes
//! and the change in the source was intended; then review the deck's diff (`git diff
//! slides/`), since the prose around a block may need to change too. Only the content of
//! blocks marked `<!-- source: PATH#ANCHOR -->` is rewritten.
//!
//! `--outputs` runs the examples the deck shows, as the test that checks them does and
//! with the same database set-up: it runs that test, `tests/slide_outputs.rs`, with
//! `SYNC_SLIDE_OUTPUTS=1`, which makes it write each output into its blocks instead of
//! comparing. It needs `DATABASE_URL` (or `.env`) to name a PostgreSQL server, as the
//! tests do, and takes about a minute.

use std::process::{Command, ExitCode};

use users_course::anchors::{sync_quoted_blocks, workspace_root};

const DECK: &str = "slides/lecture.md";

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|arg| arg == "--outputs") {
        return sync_outputs();
    }
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

/// Runs `tests/slide_outputs.rs` in its writing mode (see the module docs).
fn sync_outputs() -> ExitCode {
    // `cargo run` tells the program which cargo started it.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // `cargo test --test slide_outputs` alone would not rebuild the examples it runs.
    let built = Command::new(&cargo)
        .current_dir(workspace_root())
        .args(["build", "-p", "users-course", "--examples"])
        .status();
    let status = built.and_then(|built| {
        if !built.success() {
            return Ok(built);
        }
        Command::new(&cargo)
            .current_dir(workspace_root())
            .args(["test", "-p", "users-course", "--test", "slide_outputs"])
            .args(["--", "--nocapture"])
            .env("SYNC_SLIDE_OUTPUTS", "1")
            .status()
    });
    match status {
        Ok(status) if status.success() => {
            println!("{DECK}: output blocks refreshed; review them with `git diff {DECK}`");
            ExitCode::SUCCESS
        }
        Ok(status) => {
            eprintln!("the examples' run failed ({status}); {DECK} may be partly refreshed");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("could not start cargo: {err}");
            ExitCode::FAILURE
        }
    }
}
