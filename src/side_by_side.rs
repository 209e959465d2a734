//! The three tiers next to each other: one operation in three terminal columns, or every
//! operation on one static HTML page. Used by `cargo run --bin side-by-side`.
//!
//! Nothing here is copied out of the sources: every panel is read from the tiers'
//! `// ANCHOR:` regions (through [`crate::anchors`]) when the tool runs, so the view
//! cannot go stale. A region a tier does not have yet is shown as a note saying which
//! marker is missing, never as an error that hides the other panels.
//!
//! This file holds the sections, the panels and the terminal view; the HTML page
//! (highlighted, its columns aligned) is in `side_by_side/html.rs`, and the rule that
//! marks the lines where the tiers differ in [`marks`].

use std::fmt::Write as _;
use std::path::Path;

use crate::anchors::read_region;

mod html;
pub mod marks;

pub use html::{Highlighter, render_html};

/// One database tier: a column of the view.
#[derive(Debug, Clone, Copy)]
pub struct Tier {
    /// The column's heading, e.g. `I. raw driver`.
    pub title: &'static str,
    /// The crate, e.g. `tier-raw`; its sources are under `crates/<name>/src/`.
    pub name: &'static str,
    /// The libraries it is built on.
    pub stack: &'static str,
}

/// The three tiers, in the lecture's order.
pub const TIERS: [Tier; 3] = [
    Tier {
        title: "I. raw driver",
        name: "tier-raw",
        stack: "tokio-postgres + deadpool-postgres",
    },
    Tier {
        title: "II. query layer",
        name: "tier-sqlx",
        stack: "sqlx, checked query_as!",
    },
    Tier {
        title: "III. full ORM",
        name: "tier-orm",
        stack: "SeaORM entities",
    },
];

/// One row of the view: an anchor that every tier has in the same file.
#[derive(Debug, Clone, Copy)]
pub struct Section {
    /// The anchor name, which is also what the user types: `create`, `list`, …
    pub anchor: &'static str,
    /// The file inside `crates/<tier>/src/`.
    pub file: &'static str,
    /// What the section shows.
    pub about: &'static str,
}

/// Every section, in reading order: set-up first, then the store as `store.rs` has it.
pub const SECTIONS: [Section; 19] = [
    Section {
        anchor: "connect",
        file: "lib.rs",
        about: "connecting: the pool and its settings",
    },
    Section {
        anchor: "schema",
        file: "lib.rs",
        about: "applying the schema of migrations/ at start-up",
    },
    Section {
        anchor: "create",
        file: "store.rs",
        about: "POST /users: insert, return the stored row",
    },
    Section {
        anchor: "list",
        file: "store.rs",
        about: "GET /users: one keyset-paginated page",
    },
    Section {
        anchor: "get",
        file: "store.rs",
        about: "GET /users/{id}",
    },
    Section {
        anchor: "update",
        file: "store.rs",
        about: "PATCH /users/{id}: change only the members sent",
    },
    Section {
        anchor: "delete",
        file: "store.rs",
        about: "DELETE /users/{id} (the foreign key deletes their posts)",
    },
    Section {
        anchor: "create_batch",
        file: "store.rs",
        about: "POST /users/batch: one transaction, one INSERT, commit or roll back",
    },
    Section {
        anchor: "export",
        file: "store.rs",
        about: "GET /users/export: rows streamed in batches, stopped when dropped",
    },
    Section {
        anchor: "create_post",
        file: "store.rs",
        about: "POST /users/{id}/posts: the foreign key decides whether the author exists",
    },
    Section {
        anchor: "list_user_posts",
        file: "store.rs",
        about: "GET /users/{id}/posts: the page first, the user only when it is empty",
    },
    Section {
        anchor: "list_posts",
        file: "store.rs",
        about: "GET /posts: every post with its author in one statement (no N+1)",
    },
    Section {
        anchor: "get_post",
        file: "store.rs",
        about: "GET /posts/{id}: the post and its author, one join",
    },
    Section {
        anchor: "delete_post",
        file: "store.rs",
        about: "DELETE /posts/{id}",
    },
    Section {
        anchor: "ping",
        file: "store.rs",
        about: "GET /health: does the database answer?",
    },
    Section {
        anchor: "close",
        file: "store.rs",
        about: "shutdown: close the pool",
    },
    Section {
        anchor: "row_mapping",
        file: "store.rs",
        about: "turning a database row into a UserRead",
    },
    Section {
        anchor: "post_row_mapping",
        file: "store.rs",
        about: "a row of the posts-join-users query into a PostWithAuthor",
    },
    Section {
        anchor: "errors",
        file: "store.rs",
        about: "driver errors onto the store's vocabulary (409, 503, 500)",
    },
];

/// Looks a section up by its anchor name.
pub fn section(anchor: &str) -> Option<&'static Section> {
    SECTIONS.iter().find(|section| section.anchor == anchor)
}

/// One panel: a tier's code for a section, or a note saying why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panel {
    /// `crates/tier-raw/src/store.rs:47`, or just the path when the region is missing.
    pub location: String,
    /// The region's text, or the note.
    pub code: String,
    /// `false` when `code` is a note about a missing region.
    pub found: bool,
}

/// Reads the section's region from each tier, in [`TIERS`] order.
pub fn panels(root: &Path, section: &Section) -> [Panel; 3] {
    TIERS.map(|tier| {
        let path = format!("crates/{}/src/{}", tier.name, section.file);
        match read_region(root, &path, section.anchor) {
            Ok(region) => Panel {
                location: format!("{path}:{}", region.first_line),
                code: region.text,
                found: true,
            },
            Err(why) => Panel {
                location: path,
                code: format!(
                    "(not available: {why})\n\nAdd `// ANCHOR: {0}` and `// ANCHOR_END: {0}`\naround this tier's code to show it here.\n",
                    section.anchor
                ),
                found: false,
            },
        }
    })
}

/// Splits `line` into pieces of at most `width` characters; continuation pieces start
/// with `↪ ` so a wrapped line is not mistaken for a new one.
fn wrap(line: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= width || width < 4 {
        return vec![line.to_owned()];
    }
    let mut pieces = vec![chars[..width].iter().collect::<String>()];
    let mut rest = &chars[width..];
    let inner = width - 2;
    while !rest.is_empty() {
        let take = rest.len().min(inner);
        pieces.push(format!("↪ {}", rest[..take].iter().collect::<String>()));
        rest = &rest[take..];
    }
    pieces
}

/// Pads `text` with spaces to `width` characters.
fn pad(text: &str, width: usize) -> String {
    let len = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(len)))
}

/// Renders one section as three columns fitting `width` terminal columns.
pub fn render_columns(section: &Section, panels: &[Panel; 3], width: usize) -> String {
    const GAP: &str = " │ ";
    // Three columns and two three-character gaps.
    let column = (width.saturating_sub(6) / 3).max(20);
    let mut out = String::new();
    let _ = writeln!(out, "== {}: {} ==", section.anchor, section.about);
    let headings: Vec<Vec<String>> = TIERS
        .iter()
        .zip(panels)
        .map(|(tier, panel)| {
            let mut lines = wrap(&format!("{} ({})", tier.title, tier.stack), column);
            lines.extend(wrap(&panel.location, column));
            lines
        })
        .collect();
    let bodies: Vec<Vec<String>> = panels
        .iter()
        .map(|panel| {
            panel
                .code
                .lines()
                .flat_map(|line| wrap(line, column))
                .collect()
        })
        .collect();
    let rule = ["─"; 3].map(|dash| dash.repeat(column)).join("─┼─");
    for (index, rows) in [headings, bodies].iter().enumerate() {
        if index > 0 {
            let _ = writeln!(out, "{rule}");
        }
        let height = rows.iter().map(Vec::len).max().unwrap_or(0);
        for row in 0..height {
            let cells: Vec<String> = rows
                .iter()
                .map(|lines| pad(lines.get(row).map_or("", String::as_str), column))
                .collect();
            let _ = writeln!(out, "{}", cells.join(GAP).trim_end());
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(code: &str) -> Panel {
        Panel {
            location: "x.rs:1".into(),
            code: code.into(),
            found: true,
        }
    }

    #[test]
    fn columns_fit_the_width_and_wrap_long_lines() {
        let long = "x".repeat(200);
        let panels = [panel("a\nb\n"), panel(&long), panel("c\n")];
        let text = render_columns(&SECTIONS[2], &panels, 90);
        for line in text.lines() {
            assert!(line.chars().count() <= 90, "{line:?} is too wide");
        }
        // All 200 characters survive the wrapping.
        let xs: usize = text.matches('x').count();
        assert!(xs >= 200, "{text}");
        assert!(text.contains("↪ "), "{text}");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn a_missing_region_becomes_a_note() {
        let root = std::env::temp_dir().join("side-by-side-test-no-such-root");
        let panels = panels(&root, &SECTIONS[0]);
        assert!(panels.iter().all(|panel| !panel.found));
        assert!(
            panels[0].code.contains("ANCHOR: connect"),
            "{}",
            panels[0].code
        );
    }

    #[test]
    fn sections_have_unique_names() {
        for (index, section) in SECTIONS.iter().enumerate() {
            assert!(SECTIONS[..index].iter().all(|s| s.anchor != section.anchor));
        }
    }
}
