//! The README and the slides quote the committed bench report, never figures typed by
//! hand: every `<!-- figures: NAME -->` region must be what
//! `cargo run -p bench --bin figures` writes from it.

// Test code: a panic with a message is how a failed expectation is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use bench::figures::{self, DEFAULT_REPORT, Source, TUNING_REPORT};
use bench::report::Report;
use bench::tiers::workspace_root;

#[test]
fn the_documents_agree_with_the_committed_report() {
    let root = workspace_root();
    let source =
        Source::load(&root, Path::new(DEFAULT_REPORT)).unwrap_or_else(|err| panic!("{err:#}"));
    let problems = figures::check(&root, &source).unwrap_or_else(|err| panic!("{err:#}"));
    assert!(
        problems.is_empty(),
        "\n{}\n\n{}",
        problems.join("\n\n"),
        figures::fix(&source)
    );
}

#[test]
fn the_committed_report_reads_back_whole() {
    // The figures are read through the report's own serde types: reading the JSON
    // into them and writing it again must lose nothing, or a table could print a
    // default where the report has a figure. Both committed reports the documents quote.
    for path in [DEFAULT_REPORT, TUNING_REPORT] {
        let text = std::fs::read_to_string(workspace_root().join(path)).unwrap();
        let report: Report = serde_json::from_str(&text).unwrap();
        let original: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_value(&report).unwrap(), original, "{path}");
    }
}
