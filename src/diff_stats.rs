//! Counting what a change cost: the files and lines of a unified diff (`git diff`, a
//! `.patch` file), code and comments apart, for `docs/comparison.md`.
//!
//! Two measurements there are diffs: what posts cost each tier (`git diff` of each
//! tier's posts commit, `scripts/posts-cost.sh`) and what a new column costs
//! (`scripts/schema-change/*.patch`, applied by `scripts/schema-change.sh`). Both pipe
//! their diff into `cargo run --bin tier-stats -- diff`, which prints [`table`], so the
//! two are counted by the same rules as the regions of [`crate::tier_stats`]: a blank
//! line is not counted, a comment line is counted as comment, and files that a tool
//! generates (sqlx's `.sqlx/` query data) are listed but kept out of the hand-written
//! total.

use std::fmt::Write as _;

/// What one file of a diff changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The path on the new side (`b/…` without the `b/`), or the old one for a deletion.
    pub path: String,
    /// Lines added that are code.
    pub added_code: usize,
    /// Lines added that are only a comment.
    pub added_comments: usize,
    /// Lines removed that were code.
    pub removed_code: usize,
    /// Lines removed that were only a comment.
    pub removed_comments: usize,
}

impl FileChange {
    /// Whether a tool wrote the file (sqlx's offline query data), not a person.
    pub fn generated(&self) -> bool {
        self.path.contains(".sqlx/")
    }
}

/// Whether `line` (a diff line without its `+`/`-`) is only a comment in the language
/// of `path`: `//` in Rust, `--` in SQL, `#` in shell and TOML.
fn is_comment(path: &str, line: &str) -> bool {
    let line = line.trim_start();
    if path.ends_with(".sql") {
        line.starts_with("--")
    } else if path.ends_with(".sh") || path.ends_with(".toml") {
        line.starts_with('#')
    } else {
        line.starts_with("//") || line.starts_with("/*") || line.starts_with('*')
    }
}

/// `@@ -1,3 +1,4 @@` → the hunk's old and new line counts (3, 4); a count left out is 1.
fn hunk_lengths(header: &str) -> Option<(usize, usize)> {
    let mut ranges = header.strip_prefix("@@ ")?.split(' ');
    let length = |range: &str| match range.split_once(',') {
        Some((_, count)) => count.parse().ok(),
        None => Some(1),
    };
    let old = length(ranges.next()?.strip_prefix('-')?)?;
    let new = length(ranges.next()?.strip_prefix('+')?)?;
    Some((old, new))
}

/// Reads a unified diff and counts each file's added and removed lines.
///
/// It follows the hunk headers' line counts, so a removed SQL comment (`--- note` in
/// the diff) is read as a line of the hunk, not as the next file's header.
pub fn parse(diff: &str) -> Vec<FileChange> {
    let mut files: Vec<FileChange> = Vec::new();
    let mut old_path = String::new();
    // Lines of the current hunk still to come, old side and new side.
    let (mut old_left, mut new_left) = (0usize, 0usize);
    for line in diff.lines() {
        if old_left == 0 && new_left == 0 {
            if let Some(path) = line.strip_prefix("--- ") {
                old_path = path.strip_prefix("a/").unwrap_or(path).to_owned();
            } else if let Some(path) = line.strip_prefix("+++ ") {
                let path = path.strip_prefix("b/").unwrap_or(path);
                // A deleted file's new side is /dev/null: name it by its old path.
                let path = if path == "/dev/null" {
                    old_path.clone()
                } else {
                    path.to_owned()
                };
                files.push(FileChange {
                    path,
                    ..FileChange::default()
                });
            } else if let Some((old, new)) = hunk_lengths(line) {
                (old_left, new_left) = (old, new);
            }
            continue;
        }
        let Some(file) = files.last_mut() else {
            continue;
        };
        let (added, text) = match line.as_bytes().first() {
            Some(b'+') => {
                new_left = new_left.saturating_sub(1);
                (true, &line[1..])
            }
            Some(b'-') => {
                old_left = old_left.saturating_sub(1);
                (false, &line[1..])
            }
            // `\ No newline at end of file` belongs to the line before it.
            Some(b'\\') => continue,
            _ => {
                old_left = old_left.saturating_sub(1);
                new_left = new_left.saturating_sub(1);
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        let comment = is_comment(&file.path, text);
        let counter = match (added, comment) {
            (true, false) => &mut file.added_code,
            (true, true) => &mut file.added_comments,
            (false, false) => &mut file.removed_code,
            (false, true) => &mut file.removed_comments,
        };
        *counter += 1;
    }
    files
}

/// The diff's files as a Markdown table, then one line of totals for the hand-written
/// files and one for the generated ones, if any.
pub fn table(files: &[FileChange]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| file | added: code / comments | removed: code / comments |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: |");
    for file in files {
        let _ = writeln!(
            out,
            "| `{}`{} | {} / {} | {} / {} |",
            file.path,
            if file.generated() { " (generated)" } else { "" },
            file.added_code,
            file.added_comments,
            file.removed_code,
            file.removed_comments
        );
    }
    let _ = writeln!(out, "\n{}", summary(files));
    out
}

/// One line: `N files, +A code / +C comments, -R code / -S comments` for the hand-written
/// files, then how many generated files came with them.
pub fn summary(files: &[FileChange]) -> String {
    let written: Vec<&FileChange> = files.iter().filter(|file| !file.generated()).collect();
    let sum =
        |field: fn(&FileChange) -> usize| written.iter().map(|file| field(file)).sum::<usize>();
    let generated = files.len() - written.len();
    let plural = if written.len() == 1 { "" } else { "s" };
    let mut line = format!(
        "{} file{plural} written by hand: +{} code / +{} comments, -{} code / -{} comments",
        written.len(),
        sum(|f| f.added_code),
        sum(|f| f.added_comments),
        sum(|f| f.removed_code),
        sum(|f| f.removed_comments),
    );
    if generated > 0 {
        let plural = if generated == 1 { "" } else { "s" };
        let _ = write!(
            line,
            "; {generated} generated file{plural} (sqlx's `.sqlx/`)"
        );
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "\
diff --git a/src/a.rs b/src/a.rs
--- a/src/a.rs
+++ b/src/a.rs
@@ -1,4 +1,4 @@
 fn a() {}
-// old note
-fn b() {}
--- not a header: a removed line of a Rust file
+/// new doc
+fn b(x: i64) {}
+
diff --git a/migrations/0003.sql b/migrations/0003.sql
new file mode 100644
--- /dev/null
+++ b/migrations/0003.sql
@@ -0,0 +1,2 @@
+-- a comment, not a removed line
+ALTER TABLE users ADD COLUMN IF NOT EXISTS bio text;
diff --git a/.sqlx/query-1.json b/.sqlx/query-1.json
--- a/.sqlx/query-1.json
+++ /dev/null
@@ -1 +0,0 @@
-{}
";

    #[test]
    fn counts_code_and_comments_per_file() {
        let files = parse(DIFF);
        let shape: Vec<(&str, usize, usize, usize, usize)> = files
            .iter()
            .map(|f| {
                let counts = (
                    f.added_code,
                    f.added_comments,
                    f.removed_code,
                    f.removed_comments,
                );
                (f.path.as_str(), counts.0, counts.1, counts.2, counts.3)
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("src/a.rs", 1, 1, 2, 1),
                ("migrations/0003.sql", 1, 1, 0, 0),
                (".sqlx/query-1.json", 0, 0, 1, 0),
            ]
        );
        assert_eq!(
            summary(&files),
            "2 files written by hand: +2 code / +2 comments, -2 code / -1 comments; \
             1 generated file (sqlx's `.sqlx/`)"
        );
    }
}
