//! Program output on the slides, checked against the program that prints it.
//!
//! The deck quotes code from the sources ([`crate::anchors`]), and it shows what the
//! example programs print. Output is quoted the same way: a ```` ```text ```` block
//! preceded by a marker that names the program,
//!
//! ````markdown
//! <!-- output: examples/n_plus_one.rs --quick | grep 'tier-orm' -->
//! ```text
//! $ cargo run --example n_plus_one -- --quick | grep 'tier-orm'
//! tier-orm   naive loop            101 statements   202 round trips    67.0 ms
//! ```
//! ````
//!
//! The marker is `examples/NAME.rs`, the program's arguments if any, and optionally
//! `| grep 'TEXT'`, which keeps only the lines containing TEXT (a long output is shown a
//! part per slide). The block's first line is the command that reproduces it, exactly
//! as [`Invocation::command_line`] writes it; the rest is the program's standard output,
//! filtered. `tests/slide_outputs.rs` runs every program named this way and compares
//! its output with the block under [`mask`] (the masking rule is there), and
//! `cargo run --bin sync-slides -- --outputs` rewrites the blocks from a fresh run.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::anchors::Fence;

/// How a slide's output block says it was produced.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Invocation {
    /// The example's name: `n_plus_one` for `examples/n_plus_one.rs`.
    pub example: String,
    /// Its command-line arguments.
    pub args: Vec<String>,
    /// Only lines containing this text are shown (`| grep 'TEXT'`).
    pub grep: Option<String>,
}

impl Invocation {
    /// Reads the text of an `<!-- output: … -->` marker (what follows `output:`).
    pub fn parse(marker: &str) -> Result<Self, String> {
        let (command, grep) = match marker.split_once('|') {
            Some((command, filter)) => (command, Some(parse_grep(filter.trim())?)),
            None => (marker, None),
        };
        let mut words = command.split_whitespace();
        let path = words.next().unwrap_or_default();
        let example = path
            .strip_prefix("examples/")
            .and_then(|name| name.strip_suffix(".rs"))
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .ok_or_else(|| format!("expected `examples/NAME.rs`, found {path:?}"))?;
        Ok(Self {
            example: example.to_owned(),
            args: words.map(str::to_owned).collect(),
            grep,
        })
    }

    /// `$ cargo run --example NAME -- ARGS | grep 'TEXT'`: the block's first line.
    pub fn command_line(&self) -> String {
        let mut line = format!("$ cargo run --example {}", self.example);
        if !self.args.is_empty() {
            line.push_str(" -- ");
            line.push_str(&self.args.join(" "));
        }
        if let Some(text) = &self.grep {
            line.push_str(&format!(" | grep '{text}'"));
        }
        line
    }

    /// What the block must hold, given the program's standard output: the command
    /// line, then the output's lines (those with the grep text, when there is one).
    pub fn block_for(&self, stdout: &str) -> String {
        let mut block = self.command_line();
        block.push('\n');
        let kept = stdout
            .lines()
            .filter(|line| self.grep.as_ref().is_none_or(|text| line.contains(text)));
        for line in kept {
            block.push_str(line.trim_end());
            block.push('\n');
        }
        block
    }
}

/// `grep 'TEXT'`: TEXT is taken literally, so it may not hold what a basic regular
/// expression would read as special; the slide's command then does what the test does.
fn parse_grep(filter: &str) -> Result<String, String> {
    let text = filter
        .strip_prefix("grep '")
        .and_then(|rest| rest.strip_suffix('\''))
        .filter(|text| !text.is_empty())
        .ok_or_else(|| format!("expected `| grep 'TEXT'`, found {filter:?}"))?;
    if let Some(special) = text.chars().find(|c| ".[]*^$\\'".contains(*c)) {
        return Err(format!(
            "the grep text {text:?} holds {special:?}, which grep reads as a pattern"
        ));
    }
    Ok(text.to_owned())
}

/// A block of program output in the deck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputBlock {
    /// How it was produced.
    pub invocation: Invocation,
    /// 1-based line of the `<!-- output: … -->` marker.
    pub line: usize,
    /// The block's content, each line's trailing white space removed.
    pub text: String,
    /// 0-based indices of its opening and closing fence lines.
    fences: (usize, usize),
}

/// Every `<!-- output: … -->` block of `markdown`. A marker not followed by a fenced
/// block, or that names no example, is an error.
pub fn output_blocks(markdown: &str) -> Result<Vec<OutputBlock>, String> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut blocks = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(marker) = line
            .trim()
            .strip_prefix("<!-- output:")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            continue;
        };
        let number = index + 1;
        let invocation =
            Invocation::parse(marker).map_err(|err| format!("line {number}: {err}"))?;
        let opening = lines
            .get(index + 1)
            .and_then(|line| Fence::opening(line))
            .ok_or_else(|| {
                format!("line {number}: `<!-- output -->` must be followed by a ``` block")
            })?;
        let closing = opening
            .closing_in(&lines[index + 2..])
            .map(|offset| index + 2 + offset)
            .ok_or_else(|| format!("line {number}: the block is never closed"))?;
        let mut text = String::new();
        for line in &lines[index + 2..closing] {
            text.push_str(line.trim_end());
            text.push('\n');
        }
        blocks.push(OutputBlock {
            invocation,
            line: number,
            text,
            fences: (index + 1, closing),
        });
    }
    Ok(blocks)
}

/// `markdown` with the content of every block of `invocation` replaced by `block`.
pub fn replace_blocks(markdown: &str, invocation: &Invocation, block: &str) -> String {
    let lines: Vec<&str> = markdown.lines().collect();
    let Ok(blocks) = output_blocks(markdown) else {
        return markdown.to_owned();
    };
    let mut out = String::with_capacity(markdown.len());
    let mut next = 0;
    for found in blocks.iter().filter(|b| &b.invocation == invocation) {
        let (opening, closing) = found.fences;
        for line in &lines[next..=opening] {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(block);
        next = closing;
    }
    for line in &lines[next..] {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The text with what varies from run to run hidden, so that a block and a fresh run
/// can be compared. The rule:
///
/// * a timestamp (`2026-11-26T05:14:52.123456Z`: date, `T`, time, a zone) becomes
///   `<time>`;
/// * a decimal number (digits, a point, digits, with a `+` or `-` sign if it has one)
///   becomes `<n>`, and the spaces that pad it on the left become one space, since a
///   column of timings is aligned by padding that changes with the numbers' widths.
///
/// Those are the timings, memory sizes and ratios that a busy machine moves. Everything
/// else must match exactly, whole numbers included: the counts of rows, statements and
/// round trips, ids, error codes, are what the slides teach and the same in every run.
pub fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while at < chars.len() {
        if let Some(end) = timestamp_at(&chars, at) {
            out.push_str("<time>");
            at = end;
        } else if let Some((start, end)) = decimal_at(&chars, at) {
            if start > at {
                out.push(' ');
            }
            out.push_str("<n>");
            at = end;
        } else {
            out.push(chars[at]);
            at += 1;
        }
    }
    out
}

/// The end of a timestamp that starts at `at`, if one does (and no digit precedes it).
fn timestamp_at(chars: &[char], at: usize) -> Option<usize> {
    const SHAPE: &str = "dddd-dd-ddTdd:dd:dd";
    if at > 0 && chars[at - 1].is_ascii_digit() {
        return None;
    }
    for (offset, want) in SHAPE.chars().enumerate() {
        let got = *chars.get(at + offset)?;
        let fits = if want == 'd' {
            got.is_ascii_digit()
        } else {
            got == want
        };
        if !fits {
            return None;
        }
    }
    let mut end = at + SHAPE.len();
    if chars.get(end) == Some(&'.') {
        end += 1;
        while chars.get(end).is_some_and(char::is_ascii_digit) {
            end += 1;
        }
    }
    match chars.get(end) {
        Some('Z') => Some(end + 1),
        Some('+' | '-') => Some(end + 6).filter(|end| *end <= chars.len()),
        _ => Some(end),
    }
}

/// Where a decimal number starting at `at` (after any spaces that pad it) begins and
/// ends. A number inside a word or after another digit does not count.
fn decimal_at(chars: &[char], at: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while chars.get(start) == Some(&' ') {
        start += 1;
    }
    // Unpadded, the number must not continue a word or another number.
    let glued = at > 0 && (chars[at - 1].is_alphanumeric() || chars[at - 1] == '.');
    if start == at && glued {
        return None;
    }
    let mut end = start;
    if matches!(chars.get(end), Some('+' | '-')) {
        end += 1;
    }
    let digits = |mut i: usize| {
        let from = i;
        while chars.get(i).is_some_and(char::is_ascii_digit) {
            i += 1;
        }
        (i > from).then_some(i)
    };
    let end = digits(end)?;
    if chars.get(end) != Some(&'.') {
        return None;
    }
    let end = digits(end + 1)?;
    Some((start, end))
}

/// Compares a slide's block with what the program printed, both masked. The error
/// shows the first line that differs, unmasked, from both.
pub fn compare(block: &str, expected: &str) -> Result<(), String> {
    let (a, b) = (mask(block), mask(expected));
    if a == b {
        return Ok(());
    }
    let (mut slide, mut run) = (block.lines(), expected.lines());
    for number in 1.. {
        let (s, r) = (slide.next(), run.next());
        if s.is_none() && r.is_none() {
            break;
        }
        if s.map(mask) != r.map(mask) {
            return Err(format!(
                "  block line {number}\n    slide:   {}\n    program: {}",
                s.unwrap_or("(end of block)"),
                r.unwrap_or("(end of output)")
            ));
        }
    }
    Err("  (they differ only in line ends)".into())
}

/// The built binary of example `name`, next to the running test: a test binary lives
/// in `target/<profile>/deps/`, the examples in `target/<profile>/examples/`. It must
/// be newer than its source, or the comparison would be with an old program.
pub fn example_binary(name: &str) -> Result<PathBuf, String> {
    let test_exe = std::env::current_exe().map_err(|err| format!("the test's path: {err}"))?;
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or("the test does not run from target/<profile>/deps")?;
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let source = crate::anchors::workspace_root()
        .join("examples")
        .join(format!("{name}.rs"));
    let modified = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let rebuild = "run `cargo test` (which builds the examples) or `cargo build --examples`";
    match (modified(&binary), modified(&source)) {
        (Some(built), Some(written)) if built >= written => Ok(binary),
        (Some(_), Some(_)) => Err(format!(
            "{} is older than examples/{name}.rs: {rebuild}",
            binary.display()
        )),
        _ => Err(format!("{} is missing: {rebuild}", binary.display())),
    }
}

/// Runs an example to completion with no standard input and returns its output; an
/// error, with both its outputs, when it cannot start or exits with a failure. Both the
/// examples' tests (`tests/examples.rs`) and the slides' output check run them so.
pub fn run_example(name: &str, command: &mut Command) -> Result<Output, String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("could not start {name}: {err}"))?;
    if output.status.success() {
        return Ok(output);
    }
    Err(format!(
        "{name} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_parse_into_the_command_that_reproduces_them() {
        let plain = Invocation::parse(" examples/hello_async.rs ").unwrap();
        assert_eq!(plain.command_line(), "$ cargo run --example hello_async");
        let full = Invocation::parse("examples/n_plus_one.rs --quick | grep 'tier-orm '").unwrap();
        assert_eq!(full.args, ["--quick"]);
        assert_eq!(
            full.command_line(),
            "$ cargo run --example n_plus_one -- --quick | grep 'tier-orm '"
        );
        assert_eq!(
            full.block_for("tier-raw a\ntier-orm b  \ntier-orm c\n"),
            "$ cargo run --example n_plus_one -- --quick | grep 'tier-orm '\ntier-orm b\ntier-orm c\n"
        );
        assert!(Invocation::parse("src/main.rs").is_err());
        assert!(Invocation::parse("examples/a.rs | grep 'a.b'").is_err());
        assert!(Invocation::parse("examples/a.rs | sort").is_err());
    }

    #[test]
    fn masking_hides_timings_and_keeps_words_and_counts() {
        let run = "one after another: 3.00 s\nGET /std-sleep 9.02 s  8.9x, v1.2\n";
        let slide = "one after another: 3.01 s\nGET /std-sleep  10.02 s  8.7x, v1.2\n";
        assert_eq!(mask(run), mask(slide));
        assert_eq!(
            mask(run),
            "one after another: <n> s\nGET /std-sleep <n> s <n>x, v1.2\n"
        );
        assert_eq!(mask("peak +212.2 MB, -0.1"), "peak <n> MB, <n>");
        assert_eq!(
            mask(r#"{"id":1,"created_at":"2026-11-26T05:14:52.123456Z"}"#),
            r#"{"id":1,"created_at":"<time>"}"#
        );
        // Whole numbers are what the slides teach: they are compared.
        assert_ne!(mask("101 statements"), mask("102 statements"));
        assert_ne!(mask("error 23505"), mask("error 23514"));
        assert_ne!(mask("sqlx 0.9.0"), mask("sqlx 0.9.1"));
    }

    #[test]
    fn an_edited_word_fails_the_comparison() {
        let run = "sqlx dropped: 0 rows seen; session idle 0.002 s after\n";
        assert!(
            compare(
                "sqlx dropped: 0 rows seen; session idle 0.004 s after\n",
                run
            )
            .is_ok()
        );
        let err = compare(
            "sqlx dropped: 0 rows seen; session busy 0.002 s after\n",
            run,
        )
        .unwrap_err();
        assert!(err.contains("session busy"), "{err}");
        assert!(
            compare(
                "sqlx dropped: 1 rows seen; session idle 0.002 s after\n",
                run
            )
            .is_err()
        );
        assert!(compare("", run).is_err());
    }

    #[test]
    fn blocks_are_found_and_replaced() {
        let deck = "# A\n<!-- output: examples/a.rs -->\n```text\n$ old\nx 1.0\n```\n\n\
                    <!-- output: examples/b.rs -->\n```text\nkept\n```\n";
        let blocks = output_blocks(deck).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].line, 2);
        assert_eq!(blocks[0].text, "$ old\nx 1.0\n");
        let a = blocks[0].invocation.clone();
        let replaced = replace_blocks(deck, &a, &a.block_for("y 2.0\n"));
        assert_eq!(
            replaced,
            "# A\n<!-- output: examples/a.rs -->\n```text\n$ cargo run --example a\ny 2.0\n```\n\n\
             <!-- output: examples/b.rs -->\n```text\nkept\n```\n"
        );
        assert!(output_blocks("<!-- output: examples/a.rs -->\nno block\n").is_err());
    }
}
