//! The three tiers side by side, read from their `// ANCHOR:` regions.
//!
//! ```text
//! cargo run --bin side-by-side -- create            # one operation, three columns
//! cargo run --bin side-by-side -- create list --width 200
//! cargo run --bin side-by-side -- all               # every section, one after another
//! cargo run --bin side-by-side -- --html target/side-by-side.html
//! cargo run --bin side-by-side -- --list            # the section names
//! ```
//!
//! The terminal view fits the width given by `--width`, else `$COLUMNS`, else the
//! terminal's (asked with `stty size`), else 160 columns. Long lines wrap, marked `↪`.

use std::process::{Command, ExitCode, Stdio};

use users_course::anchors::workspace_root;
use users_course::side_by_side::{SECTIONS, panels, render_columns, render_html, section};

const USAGE: &str = "\
usage: side-by-side SECTION... [--width N]
       side-by-side all [--width N]
       side-by-side --html PATH
       side-by-side --list";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}\n\nsections: {}", section_names());
            ExitCode::from(2)
        }
    }
}

fn section_names() -> String {
    SECTIONS
        .iter()
        .map(|section| section.anchor)
        .collect::<Vec<_>>()
        .join(", ")
}

fn run(args: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let mut names = Vec::new();
    let mut width = None;
    let mut html = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}\n\nsections: {}", section_names());
                return Ok(());
            }
            "--list" => {
                for section in &SECTIONS {
                    println!("{:<12} {}", section.anchor, section.about);
                }
                return Ok(());
            }
            "--width" => {
                let value = iter.next().ok_or("--width needs a number")?;
                width = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| format!("--width: not a number: {value:?}"))?,
                );
            }
            "--html" => html = Some(iter.next().ok_or("--html needs a file path")?),
            "all" => names.extend(SECTIONS.iter().map(|section| section.anchor.to_owned())),
            name if name.starts_with('-') => return Err(format!("unknown option {name:?}")),
            name => names.push(name.to_owned()),
        }
    }
    if let Some(path) = html {
        if !names.is_empty() {
            return Err("--html writes every section; give no section names with it".into());
        }
        let path = std::path::Path::new(path);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|err| format!("cannot create {}: {err}", parent.display()))?;
        }
        std::fs::write(path, render_html(&root))
            .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
        println!("wrote {}", path.display());
        return Ok(());
    }
    if names.is_empty() {
        return Err("which section?".into());
    }
    let width = width.or_else(terminal_width).unwrap_or(160);
    for (index, name) in names.iter().enumerate() {
        let section = section(name).ok_or_else(|| format!("no section named {name:?}"))?;
        if index > 0 {
            println!();
        }
        print!(
            "{}",
            render_columns(section, &panels(&root, section), width)
        );
    }
    Ok(())
}

/// `$COLUMNS` if set (shells set it, but often do not export it), else what `stty`
/// says about the terminal on standard input. Asking a child process keeps this file
/// free of `unsafe` ioctl calls.
fn terminal_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|value| value.parse().ok())
    {
        return Some(columns);
    }
    let output = Command::new("stty")
        .arg("size")
        .stdin(Stdio::inherit())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}
