//! The counted rows of `docs/comparison.md` agree with the sources they count.
//!
//! * Between `<!-- tier-stats:begin -->` and `<!-- tier-stats:end -->` the document holds
//!   what `cargo run --bin tier-stats` prints: lines per region and per file, and the
//!   names met in `get`. Change a tier and this fails until `cargo run --bin tier-stats
//!   -- --write` puts the new figures in (then read the prose around them again).
//! * The scripted schema change's patches (`scripts/schema-change/*.patch`) are counted
//!   here too, cheaply, without running `scripts/schema-change.sh` (which builds three
//!   tiers and is not run in CI): each patch's summary line must appear in the document.
//! * The deck's "The course's table, with our evidence" is the document's "Slide
//!   version", word for word, so the slide cannot drift from the counted evidence.

// Test code: a panic with a message is how a failed expectation is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use users_course::anchors::workspace_root;
use users_course::{diff_stats, tier_stats};

fn doc() -> String {
    std::fs::read_to_string(workspace_root().join("docs/comparison.md"))
        .expect("docs/comparison.md is readable")
}

#[test]
fn the_document_holds_the_current_counts() {
    let doc = doc();
    let begin = "<!-- tier-stats:begin -->\n";
    let start = doc.find(begin).expect("the begin marker") + begin.len();
    let end = doc.find("<!-- tier-stats:end -->").expect("the end marker");
    let fresh = tier_stats::report(&workspace_root());
    assert_eq!(
        &doc[start..end],
        fresh,
        "docs/comparison.md is stale: run `cargo run --bin tier-stats -- --write`"
    );
}

#[test]
fn the_document_quotes_each_schema_change_patch_as_counted() {
    let doc = doc();
    for name in [
        "migration",
        "users-api",
        "tier-raw",
        "tier-sqlx",
        "tier-orm",
    ] {
        let path = workspace_root().join(format!("scripts/schema-change/{name}.patch"));
        let patch = std::fs::read_to_string(&path).expect("the patch is readable");
        let files = diff_stats::parse(&patch);
        assert!(!files.is_empty(), "{name}.patch changes no file");
        let summary = diff_stats::summary(&files);
        assert!(
            doc.contains(&format!("`{name}.patch`: {summary}")),
            "docs/comparison.md should quote `{name}.patch`: {summary}"
        );
    }
}

/// The first Markdown table after the line that starts with `heading`.
fn table_after(text: &str, heading: &str) -> Vec<String> {
    let from = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} heading"));
    text[from..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_slide_quotes_the_slide_version_word_for_word() {
    let deck = std::fs::read_to_string(workspace_root().join("slides/lecture.md"))
        .expect("slides/lecture.md is readable");
    let slide = table_after(&deck, "## The course's table, with our evidence");
    let version = table_after(&doc(), "## Slide version");
    assert!(
        slide.len() >= 9,
        "the slide's table has {} lines",
        slide.len()
    );
    assert_eq!(
        slide, version,
        "slides/lecture.md's \"The course's table\" differs from docs/comparison.md's \
         \"Slide version\": change both together"
    );
}
