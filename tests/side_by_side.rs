//! The side-by-side view finds every section in every tier, and its two outputs work.

// Test code: a panic with a message is how a failed expectation is reported, in the
// helpers too (clippy.toml allows unwrap/expect only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use users_course::anchors::workspace_root;
use users_course::side_by_side::marks::{Mark, count, mark_lines};
use users_course::side_by_side::{SECTIONS, TIERS, panels, section};

#[test]
fn every_tier_marks_every_section() {
    let root = workspace_root();
    let mut missing = Vec::new();
    for section in &SECTIONS {
        for (tier, panel) in TIERS.iter().zip(panels(&root, section)) {
            if !panel.found {
                missing.push(format!(
                    "{} `{}`: {}",
                    tier.name,
                    section.anchor,
                    panel.code.lines().next().unwrap_or("")
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "regions missing from the side-by-side view:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_terminal_view_prints_three_columns_within_the_width() {
    let output = Command::new(env!("CARGO_BIN_EXE_side-by-side"))
        .args(["create", "--width", "120"])
        .output()
        .expect("run side-by-side");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    for tier in TIERS {
        assert!(text.contains(tier.title), "{text}");
    }
    assert!(text.contains("crates/tier-raw/src/store.rs:"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 120, "too wide: {line:?}");
    }
}

#[test]
fn the_html_page_has_every_section_of_every_tier() {
    let root = workspace_root();
    let path = std::env::temp_dir().join(format!("side-by-side-{}.html", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_side-by-side"))
        .arg("--html")
        .arg(&path)
        .output()
        .expect("run side-by-side");
    assert!(output.status.success(), "{output:?}");
    let html = std::fs::read_to_string(&path).expect("the page was written");
    let _ = std::fs::remove_file(&path);
    for section in &SECTIONS {
        assert!(html.contains(&format!("<section id=\"{}\">", section.anchor)));
    }
    for tier in TIERS {
        assert!(
            html.contains(&format!("crates/{}/src/store.rs:", tier.name)),
            "{}",
            tier.name
        );
    }
    // Self-contained: nothing is loaded from elsewhere.
    assert!(!html.contains("http://") && !html.contains("https://"));
    // Highlighted: Rust's keywords are coloured, and the migrations are shown as SQL.
    assert!(
        html.contains("<span style=\"color:"),
        "no syntax highlighting"
    );
    assert!(html.contains("migrations/0001_create_users.sql"));
    let sql = html
        .split("migrations/0001_create_users.sql")
        .nth(1)
        .expect("the migration's panel");
    assert!(
        sql.split("</pre>")
            .next()
            .unwrap()
            .contains("<span style=\"color:"),
        "the migration is not highlighted as SQL"
    );
    // The page marks exactly the lines the rule marks (checked on `create`), and the
    // legend says what the tints mean.
    let create = section("create").unwrap();
    let panels = panels(&root, create);
    let marks = mark_lines(&panels.iter().map(|p| p.code.as_str()).collect::<Vec<_>>());
    let shown = html
        .split("<section id=\"create\">")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .unwrap();
    for (mark, class) in [(Mark::Own, "l own"), (Mark::Shared, "l some")] {
        let expected: usize = marks.iter().map(|m| count(m, mark)).sum();
        // Three libraries cannot write `create` with the same lines.
        assert!(
            mark != Mark::Own || expected > 0,
            "no tier's own lines in `create`?"
        );
        assert_eq!(
            shown.matches(&format!("class=\"{class}\"")).count(),
            expected
        );
    }
    assert!(html.contains("only this tier has the line"));
    assert!(html.contains("two of the three tiers have it"));
}

#[test]
fn an_unknown_section_is_a_usage_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_side-by-side"))
        .arg("nonsense")
        .output()
        .expect("run side-by-side");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("sections: connect"));
}
