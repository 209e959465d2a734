//! Reading the `// ANCHOR: name` … `// ANCHOR_END: name` regions of the sources.
//!
//! The tiers mark each operation of their `store.rs` (and their set-up in `lib.rs`) with
//! anchor comments, the convention of mdBook's `{{#include file:name}}`. Two tools quote
//! those regions, and both read them through this module, so the parsing exists once:
//!
//! * the slide test (`tests/slides.rs`) checks that every code block of
//!   `slides/lecture.md` marked `<!-- source: PATH#NAME -->` equals the region it quotes;
//! * the side-by-side view (`cargo run --bin side-by-side`) prints one region of the
//!   three tiers next to each other.
//!
//! A marker is a line whose only content is a comment (`//`, `--` or `#`) followed by
//! `ANCHOR: name` or `ANCHOR_END: name`. A region is every line strictly between its two
//! markers, minus the marker lines of other regions nested in it, with the indentation
//! the lines share removed (a method quoted from an `impl` block starts at column 0).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a region could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorError {
    /// The file holds no `ANCHOR: name` marker.
    Missing {
        /// The region asked for.
        name: String,
    },
    /// `ANCHOR: name` has no `ANCHOR_END: name` after it.
    Unclosed {
        /// The region.
        name: String,
        /// 1-based line of its opening marker.
        line: usize,
    },
    /// `ANCHOR_END: name` with no open region of that name.
    UnexpectedEnd {
        /// The region.
        name: String,
        /// 1-based line of the stray marker.
        line: usize,
    },
    /// The same name is opened twice in one file.
    Duplicate {
        /// The region.
        name: String,
        /// 1-based line of the second opening marker.
        line: usize,
    },
}

impl fmt::Display for AnchorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { name } => write!(f, "no `// ANCHOR: {name}` marker"),
            Self::Unclosed { name, line } => write!(
                f,
                "`ANCHOR: {name}` on line {line} has no `ANCHOR_END: {name}`"
            ),
            Self::UnexpectedEnd { name, line } => write!(
                f,
                "`ANCHOR_END: {name}` on line {line} closes no open region"
            ),
            Self::Duplicate { name, line } => {
                write!(f, "`ANCHOR: {name}` is opened a second time on line {line}")
            }
        }
    }
}

impl std::error::Error for AnchorError {}

/// One anchored region of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// 1-based line of the first line inside the region.
    pub first_line: usize,
    /// The region's text, common indentation removed, ending in a newline.
    pub text: String,
}

/// What a marker line says.
enum Marker<'a> {
    Start(&'a str),
    End(&'a str),
}

/// Recognises `// ANCHOR: name`, `-- ANCHOR_END: name`, `# ANCHOR: name` lines.
fn marker(line: &str) -> Option<Marker<'_>> {
    let line = line.trim();
    let comment = ["//", "--", "#"]
        .iter()
        .find_map(|prefix| line.strip_prefix(prefix))?
        .trim_start();
    let named = |rest: &'static str| {
        comment
            .strip_prefix(rest)
            .map(str::trim)
            .filter(|name| !name.is_empty() && !name.contains(char::is_whitespace))
    };
    // `ANCHOR_END:` first: `ANCHOR:` is not a prefix of it, but be explicit anyway.
    if let Some(name) = named("ANCHOR_END:") {
        Some(Marker::End(name))
    } else {
        named("ANCHOR:").map(Marker::Start)
    }
}

/// Every region of `source`, by name.
pub fn regions(source: &str) -> Result<BTreeMap<String, Region>, AnchorError> {
    // name -> (first line inside, lines collected so far)
    let mut open: BTreeMap<&str, (usize, Vec<&str>)> = BTreeMap::new();
    let mut done: BTreeMap<String, Region> = BTreeMap::new();
    for (index, line) in source.lines().enumerate() {
        let number = index + 1;
        match marker(line) {
            Some(Marker::Start(name)) => {
                if open.contains_key(name) || done.contains_key(name) {
                    return Err(AnchorError::Duplicate {
                        name: name.to_owned(),
                        line: number,
                    });
                }
                open.insert(name, (number + 1, Vec::new()));
            }
            Some(Marker::End(name)) => {
                let (first_line, lines) =
                    open.remove(name)
                        .ok_or_else(|| AnchorError::UnexpectedEnd {
                            name: name.to_owned(),
                            line: number,
                        })?;
                done.insert(
                    name.to_owned(),
                    Region {
                        first_line,
                        text: dedent(&lines),
                    },
                );
            }
            None => {
                for (_, lines) in open.values_mut() {
                    lines.push(line);
                }
            }
        }
    }
    if let Some((name, (first_line, _))) = open.into_iter().next() {
        return Err(AnchorError::Unclosed {
            name: name.to_owned(),
            line: first_line - 1,
        });
    }
    Ok(done)
}

/// The region `name` of `source`.
pub fn region(source: &str, name: &str) -> Result<Region, AnchorError> {
    regions(source)?
        .remove(name)
        .ok_or_else(|| AnchorError::Missing {
            name: name.to_owned(),
        })
}

/// Removes the leading white space that all non-blank lines share, drops leading and
/// trailing blank lines and trailing white space, and ends the text with one newline.
pub fn dedent<S: AsRef<str>>(lines: &[S]) -> String {
    let lines: Vec<&str> = lines.iter().map(|line| line.as_ref().trim_end()).collect();
    let start = lines.iter().position(|line| !line.is_empty());
    let end = lines.iter().rposition(|line| !line.is_empty());
    let (Some(start), Some(end)) = (start, end) else {
        return String::new();
    };
    let lines = &lines[start..=end];
    let indent = lines
        .iter()
        .filter(|line| !line.is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut text = String::new();
    for line in lines {
        // Every non-blank line has at least `indent` bytes of white space in front.
        text.push_str(line.get(indent..).unwrap_or(""));
        text.push('\n');
    }
    text
}

/// The workspace root: this package's manifest directory. `cargo test` and `cargo run`
/// also set it at run time, and that wins: worktrees sharing one target directory may
/// have compiled this library in another worktree.
pub fn workspace_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// Reads `path` (relative to the workspace root) and returns its region `name`.
/// The error says which file and which region.
pub fn read_region(root: &Path, path: &str, name: &str) -> Result<Region, String> {
    let source = std::fs::read_to_string(root.join(path))
        .map_err(|err| format!("{path}: cannot read: {err}"))?;
    region(&source, name).map_err(|err| format!("{path}: {err}"))
}

/// A code block of a Markdown file that says where it was copied from, with an HTML
/// comment on the line just before its opening fence:
///
/// ````markdown
/// <!-- source: crates/tier-raw/src/store.rs#create -->
/// ```rust
/// async fn create(…)
/// ```
/// ````
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotedBlock {
    /// The file, relative to the workspace root.
    pub path: String,
    /// The anchor name.
    pub anchor: String,
    /// 1-based line of the `<!-- source: … -->` comment in the Markdown file.
    pub line: usize,
    /// The block's content, dedented like a region.
    pub code: String,
}

/// A code fence, by CommonMark's rule: up to three spaces of indentation, then three or
/// more backticks or tildes (an info string may follow an opening fence). A closing
/// fence uses the same character, at least as many of it, and nothing after it but
/// spaces. So a ```` fence can hold ``` lines, as the example above does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fence {
    /// `` ` `` or `~`.
    marker: char,
    /// How many of them opened the block.
    len: usize,
}

impl Fence {
    /// The fence this line opens, if it opens one.
    pub(crate) fn opening(line: &str) -> Option<Self> {
        let (marker, len, rest) = Self::parse(line)?;
        // A backtick fence's info string may not contain a backtick.
        (marker != '`' || !rest.contains('`')).then_some(Self { marker, len })
    }

    /// The index, within `lines`, of the line that closes this fence.
    pub(crate) fn closing_in(self, lines: &[&str]) -> Option<usize> {
        lines.iter().position(|line| {
            Self::parse(line).is_some_and(|(marker, len, rest)| {
                marker == self.marker && len >= self.len && rest.trim().is_empty()
            })
        })
    }

    /// The fence character, its run length and the rest of the line.
    fn parse(line: &str) -> Option<(char, usize, &str)> {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > 3 {
            return None;
        }
        let text = &line[indent..];
        let marker = text.chars().next().filter(|c| matches!(c, '`' | '~'))?;
        let len = text.len() - text.trim_start_matches(marker).len();
        (len >= 3).then(|| (marker, len, &text[len..]))
    }
}

/// Every `<!-- source: PATH#ANCHOR -->` block of `markdown`. A marker that is not
/// followed by a fenced block, or that names no anchor, is an error: a slide must not
/// claim a source it does not quote.
pub fn quoted_blocks(markdown: &str) -> Result<Vec<QuotedBlock>, String> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut blocks = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index].trim();
        let Some(source) = line
            .strip_prefix("<!-- source:")
            .and_then(|rest| rest.strip_suffix("-->"))
            .map(str::trim)
        else {
            index += 1;
            continue;
        };
        let number = index + 1;
        let (path, anchor) = source
            .split_once('#')
            .filter(|(path, anchor)| !path.is_empty() && !anchor.is_empty())
            .ok_or_else(|| format!("line {number}: expected `<!-- source: PATH#ANCHOR -->`"))?;
        let opening = lines
            .get(index + 1)
            .and_then(|line| Fence::opening(line))
            .ok_or_else(|| {
                format!("line {number}: `<!-- source -->` must be followed by a ``` code block")
            })?;
        let closing = opening
            .closing_in(&lines[index + 2..])
            .ok_or_else(|| format!("line {number}: the code block is never closed"))?;
        let body = &lines[index + 2..index + 2 + closing];
        blocks.push(QuotedBlock {
            path: path.to_owned(),
            anchor: anchor.to_owned(),
            line: number,
            code: dedent(body),
        });
        index += 2 + closing + 1;
    }
    Ok(blocks)
}

/// `markdown` with every quoted block's content replaced by the region it names, as it
/// is in the sources under `root` now. Everything else is kept as it is. Used by
/// `cargo run --bin sync-slides` after a quoted region changed on purpose.
pub fn sync_quoted_blocks(root: &Path, markdown: &str) -> Result<String, String> {
    let blocks = quoted_blocks(markdown)?;
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = String::with_capacity(markdown.len());
    let mut next = 0; // the first line not yet copied
    for block in &blocks {
        let region = read_region(root, &block.path, &block.anchor)
            .map_err(|err| format!("line {}: {err}", block.line))?;
        // The comment is on `block.line`, the opening fence on the next line.
        let opening = block.line; // 0-based index of the fence line
        // `quoted_blocks` found the block, so it is there; the same rule finds its end.
        let closing = lines
            .get(opening)
            .and_then(|line| Fence::opening(line))
            .and_then(|fence| fence.closing_in(&lines[opening + 1..]))
            .map(|offset| opening + 1 + offset)
            .ok_or_else(|| format!("line {}: the code block is never closed", block.line))?;
        for line in &lines[next..=opening] {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&region.text);
        next = closing;
    }
    for line in &lines[next..] {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "\
impl Store {
    // ANCHOR: outer
    // ANCHOR: inner
    fn a() {
        1
    }
    // ANCHOR_END: inner

    fn b() {}
    // ANCHOR_END: outer
}
-- ANCHOR: sql
SELECT 1;
-- ANCHOR_END: sql
";

    #[test]
    fn regions_are_dedented_and_nested_markers_dropped() {
        let all = regions(SOURCE).unwrap();
        assert_eq!(all["inner"].text, "fn a() {\n    1\n}\n");
        assert_eq!(all["inner"].first_line, 4);
        assert_eq!(all["outer"].text, "fn a() {\n    1\n}\n\nfn b() {}\n");
        assert_eq!(all["sql"].text, "SELECT 1;\n");
    }

    #[test]
    fn malformed_markers_are_reported() {
        assert_eq!(
            region(SOURCE, "nope"),
            Err(AnchorError::Missing {
                name: "nope".into()
            })
        );
        assert_eq!(
            regions("// ANCHOR: a\nx\n"),
            Err(AnchorError::Unclosed {
                name: "a".into(),
                line: 1
            })
        );
        assert_eq!(
            regions("x\n// ANCHOR_END: a\n"),
            Err(AnchorError::UnexpectedEnd {
                name: "a".into(),
                line: 2
            })
        );
        assert_eq!(
            regions("// ANCHOR: a\n// ANCHOR_END: a\n// ANCHOR: a\n// ANCHOR_END: a\n"),
            Err(AnchorError::Duplicate {
                name: "a".into(),
                line: 3
            })
        );
    }

    #[test]
    fn text_that_only_mentions_anchors_is_not_a_marker() {
        let source = "let s = \"// ANCHOR: x\";\n/// See ANCHOR: y\n";
        assert!(regions(source).unwrap().is_empty());
    }

    #[test]
    fn quoted_blocks_are_found_with_their_source() {
        let markdown = "# Slide\n\n<!-- source: a.rs#create -->\n```rust\n    fn a() {}\n```\n\n```text\nnot quoted\n```\n";
        let blocks = quoted_blocks(markdown).unwrap();
        assert_eq!(
            blocks,
            vec![QuotedBlock {
                path: "a.rs".into(),
                anchor: "create".into(),
                line: 3,
                code: "fn a() {}\n".into(),
            }]
        );
        assert!(quoted_blocks("<!-- source: a.rs -->\n```\nx\n```\n").is_err());
        assert!(quoted_blocks("<!-- source: a.rs#x -->\ntext\n").is_err());
        assert!(quoted_blocks("<!-- source: a.rs#x -->\n```\nx\n").is_err());
    }

    #[test]
    fn fences_follow_commonmark_in_both_directions() {
        // A four-backtick block quoting a three-backtick one: the inner fences are
        // content, and both the reader and the syncer end the block at the outer one.
        let markdown = "<!-- source: a.rs#x -->\n````markdown\n```rust\nold();\n```\n````\nafter\n";
        let blocks = quoted_blocks(markdown).unwrap();
        assert_eq!(blocks[0].code, "```rust\nold();\n```\n");
        let root = std::env::temp_dir().join(format!("anchors-fence-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("a.rs"),
            "// ANCHOR: x\nnew();\n// ANCHOR_END: x\n",
        )
        .unwrap();
        let synced = sync_quoted_blocks(&root, markdown).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            synced,
            "<!-- source: a.rs#x -->\n````markdown\nnew();\n````\nafter\n"
        );
        // Tildes, indentation, and what does not close a fence.
        assert_eq!(
            Fence::opening("  ~~~ rust"),
            Some(Fence {
                marker: '~',
                len: 3
            })
        );
        assert_eq!(
            Fence::opening("    ```"),
            None,
            "four spaces make an indented code block"
        );
        assert_eq!(Fence::opening("``"), None);
        assert_eq!(
            Fence::opening("``` a`b"),
            None,
            "backtick in a backtick info string"
        );
        let fence = Fence {
            marker: '`',
            len: 4,
        };
        assert_eq!(
            fence.closing_in(&["```", "~~~~", "```` x", "`````  "]),
            Some(3)
        );
    }

    #[test]
    fn sync_replaces_only_the_quoted_blocks() {
        let root = std::env::temp_dir().join(format!("anchors-sync-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("a.rs"),
            "// ANCHOR: x\n    new();\n// ANCHOR_END: x\n",
        )
        .unwrap();
        let deck =
            "# A\n<!-- source: a.rs#x -->\n```rust\nold();\nolder();\n```\n\n```text\nkept\n```\n";
        let synced = sync_quoted_blocks(&root, deck).unwrap();
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(
            synced,
            "# A\n<!-- source: a.rs#x -->\n```rust\nnew();\n```\n\n```text\nkept\n```\n"
        );
    }
}
