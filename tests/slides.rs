//! The deck quotes the sources, and this test keeps the quotes true.
//!
//! Every code block of `slides/lecture.md` that shows project code is preceded by
//! `<!-- source: PATH#ANCHOR -->`, and must equal the `// ANCHOR: ANCHOR` region of PATH
//! (both with their common indentation removed). Change one line inside a quoted region
//! and this test fails until the slide is updated to match.

// Test code: a panic with a message is how a failed expectation is reported, in the
// helpers too (clippy.toml allows unwrap/expect only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bench::figures::regions::find;
use users_course::anchors::{quoted_blocks, read_region, workspace_root};

const DECK: &str = "slides/lecture.md";

fn deck() -> String {
    std::fs::read_to_string(workspace_root().join(DECK)).expect("read slides/lecture.md")
}

#[test]
fn every_quoted_block_equals_its_anchor_region() {
    let root = workspace_root();
    let blocks = quoted_blocks(&deck()).unwrap_or_else(|err| panic!("{DECK}: {err}"));
    assert!(
        blocks.len() >= 10,
        "the deck quotes only {} blocks",
        blocks.len()
    );
    let mut failures = Vec::new();
    for block in &blocks {
        let quoted = format!(
            "{DECK}:{} quotes {}#{}",
            block.line, block.path, block.anchor
        );
        match read_region(&root, &block.path, &block.anchor) {
            Ok(region) if region.text == block.code => {}
            Ok(region) => failures.push(format!(
                "{quoted}, but the block differs from the region (which starts on line {}):\n{}",
                region.first_line,
                first_difference(&region.text, &block.code)
            )),
            Err(err) => failures.push(format!("{quoted}: {err}")),
        }
    }
    assert!(
        failures.is_empty(),
        "\n{}\n\nIf the source change is intended, run `cargo run --bin sync-slides` and review \
         `git diff slides/`; otherwise fix the source.",
        failures.join("\n\n")
    );
}

/// The first line where the source and the slide differ, both shown.
fn first_difference(source: &str, slide: &str) -> String {
    let mut source_lines = source.lines();
    let mut slide_lines = slide.lines();
    for number in 1.. {
        match (source_lines.next(), slide_lines.next()) {
            (Some(a), Some(b)) if a == b => continue,
            (None, None) => break,
            (a, b) => {
                return format!(
                    "  region line {number}\n    source: {}\n    slide:  {}",
                    a.unwrap_or("(end of region)"),
                    b.unwrap_or("(end of block)")
                );
            }
        }
    }
    "  (they differ only in white space at line ends)".into()
}

#[test]
fn every_rust_block_says_where_it_comes_from() {
    // A Rust block without a source marker would be code nobody checks. The only
    // exception is a block explicitly marked as an illustration, not project code.
    let deck = deck();
    let lines: Vec<&str> = deck.lines().collect();
    let mut in_block = false;
    let mut unmarked = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let fence = line.trim_start().starts_with("```");
        if fence && !in_block {
            in_block = true;
            let previous = index.checked_sub(1).map_or("", |i| lines[i].trim());
            let is_rust = line
                .trim_start()
                .trim_start_matches('`')
                .starts_with("rust");
            let marked =
                previous.starts_with("<!-- source:") || previous.starts_with("<!-- illustration");
            if is_rust && !marked {
                unmarked.push(index + 1);
            }
        } else if fence {
            in_block = false;
        }
    }
    assert!(
        unmarked.is_empty(),
        "{DECK}: Rust blocks on lines {unmarked:?} need `<!-- source: PATH#ANCHOR -->` \
         (or `<!-- illustration -->` if they are not project code)"
    );
}

#[test]
fn the_deck_is_a_marp_gaia_deck() {
    let deck = deck();
    let front_matter = deck
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map(|(front, _)| front)
        .expect("the deck starts with a --- front matter block");
    for setting in ["marp: true", "theme: gaia", "paginate: true"] {
        assert!(
            front_matter.lines().any(|line| line.trim() == setting),
            "front matter lacks {setting:?}"
        );
    }
}

#[test]
fn the_comparison_table_invents_no_performance_figures() {
    // The measured rows of "Comparing the tiers" are written from the committed bench
    // report by `cargo run -p bench --bin figures`, into a region between
    // `<!-- figures: slides-comparison -->` markers (crates/bench/tests/figures.rs fails
    // when a region disagrees with the report). Here: the measured table is such a
    // region, no table row of the slide holds a figure outside one, and the report's
    // chart has a slide of its own right after.
    let deck = deck();
    let slides: Vec<&str> = deck.split("\n---\n").collect();
    let at = slides
        .iter()
        .position(|s| s.trim_start().starts_with("## Comparing the tiers"))
        .expect("the deck has a slide `## Comparing the tiers`");
    let slide = slides[at];
    let regions = find(slide).unwrap_or_else(|err| panic!("{DECK}, Comparing the tiers: {err}"));
    let measured = regions
        .iter()
        .find(|r| r.name == "slides-comparison")
        .expect("the measured table stands between `<!-- figures: slides-comparison -->` markers");
    assert!(
        slide[measured.body.clone()]
            .lines()
            .any(|line| line.starts_with("| Throughput")),
        "the region slides-comparison has no `| Throughput` row"
    );
    let mut outside = String::new();
    let mut from = 0;
    for region in &regions {
        outside.push_str(&slide[from..region.body.start]);
        from = region.body.end;
    }
    outside.push_str(&slide[from..]);
    let typed: Vec<&str> = outside
        .lines()
        .filter(|line| line.starts_with('|') && line.chars().any(|c| c.is_ascii_digit()))
        .collect();
    assert!(
        typed.is_empty(),
        "table rows with figures outside a generated region (put them in the report and a \
         region of crates/bench/src/figures.rs):\n{}",
        typed.join("\n")
    );
    let next = slides.get(at + 1).copied().unwrap_or_default();
    assert!(
        next.trim_start().starts_with("## The comparison, charted"),
        "the slide after `Comparing the tiers` must be `## The comparison, charted`"
    );
    let chart = find(next)
        .unwrap_or_else(|err| panic!("{DECK}, The comparison, charted: {err}"))
        .into_iter()
        .find(|r| r.name == "slides-chart")
        .expect("the chart stands between `<!-- figures: slides-chart -->` markers");
    assert!(
        next[chart.body].contains("report.svg)"),
        "the chart region shows no report.svg"
    );
}

/// The slides of the deck, front matter left out: split at `---` lines outside code
/// blocks, with the 1-based line each slide starts on.
fn slides(deck: &str) -> Vec<(usize, String)> {
    let mut slides = vec![(1, String::new())];
    let mut in_block = false;
    let mut front_matter_done = false;
    for (index, line) in deck.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        }
        if line == "---" && !in_block {
            if index > 0 {
                front_matter_done = true;
            }
            slides.push((index + 2, String::new()));
            continue;
        }
        if let Some((_, text)) = slides.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    assert!(front_matter_done, "the deck has no slide separators");
    // Before the opening `---`, and the front matter between the first two.
    slides.drain(..2);
    slides
}

#[test]
fn every_slide_has_speaker_notes_with_a_question_for_the_room() {
    // Marp shows an HTML comment that is not a directive as the slide's presenter
    // notes. Ours start with `Notes:`, say what the presenter tells the room, and
    // end with a question to ask it (at least one `?`).
    let deck = deck();
    let slides = slides(&deck);
    assert!(
        slides.len() >= 40,
        "the deck has only {} slides",
        slides.len()
    );
    let missing: Vec<String> = slides
        .iter()
        .filter_map(|(line, text)| {
            let notes = text
                .split("<!-- Notes:")
                .nth(1)
                .and_then(|rest| rest.split_once("-->"))
                .map(|(notes, _)| notes.trim());
            let heading = text.lines().find(|l| l.starts_with('#')).unwrap_or("");
            match notes {
                None => Some(format!("line {line} ({heading}): no `<!-- Notes: … -->`")),
                Some(notes) if notes.len() < 80 || !notes.contains('?') => Some(format!(
                    "line {line} ({heading}): notes too short or without a question"
                )),
                Some(_) => None,
            }
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{DECK}: every slide needs speaker notes:\n{}",
        missing.join("\n")
    );
}
