//! Every relative link of the README and of `docs/` leads somewhere.
//!
//! The README is the front door and `docs/` the reference behind it; text moves between
//! them, and a moved section leaves links behind that point at a file or a heading that
//! is no longer there. This test reads `README.md` and every `docs/*.md`, and fails on a
//! relative link whose file (or folder) does not exist, or whose `#anchor` names no
//! heading of the Markdown file it points to. Every other Markdown file of the workspace
//! (the deck, the bench reports, `baseline/`, `exercises/`) is checked for its links
//! *into* the README and `docs/` only, so that a heading renamed here is caught where it
//! is quoted.
//!
//! Anchors are GitHub's: a heading's text in lower case, with everything but letters,
//! digits, spaces, `-` and `_` removed, spaces turned into `-`, and `-1`, `-2`... added
//! to repeats. Links in code (fenced blocks and `inline spans`) are not links and are
//! skipped; web addresses (`https://...`) are not checked: the machines that run this have
//! no internet.
//!
//! `cargo test -p users-course --test links`

// Test code: a panic with a message is how a failed expectation is reported, in the
// helpers too (clippy.toml allows unwrap/expect only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Component, Path, PathBuf};

use users_course::anchors::workspace_root;

/// A link found in a document: the line it is on and its target as written.
#[derive(Debug, PartialEq)]
struct Link {
    line: usize,
    target: String,
}

/// Every link of a Markdown text: inline `[text](target)` and `![alt](target)`,
/// reference definitions `[name]: target`, and HTML `href="..."` / `src="..."`, outside
/// code.
fn links(text: &str) -> Vec<Link> {
    let mut found = Vec::new();
    for (index, line) in prose_lines(text) {
        let line_number = index + 1;
        let line = without_code_spans(line);
        let mut push = |target: &str| {
            let target = target.trim().trim_start_matches('<').trim_end_matches('>');
            if !target.is_empty() {
                found.push(Link {
                    line: line_number,
                    target: target.to_string(),
                });
            }
        };
        // Inline links: `](` opens the target, which runs to the matching `)`; a title
        // after a space (`(path "title")`) is not part of it.
        let mut rest = line.as_str();
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let mut depth = 0usize;
            let end = after
                .char_indices()
                .find(|&(_, c)| match c {
                    '(' => {
                        depth += 1;
                        false
                    }
                    ')' if depth == 0 => true,
                    ')' => {
                        depth -= 1;
                        false
                    }
                    _ => false,
                })
                .map_or(after.len(), |(i, _)| i);
            push(after[..end].split_whitespace().next().unwrap_or(""));
            rest = &after[end..];
        }
        // Reference definitions: `[name]: target` opening a line, with nothing after the
        // target but a title; `[S3]: the replica is...` is a sentence, not a definition.
        let trimmed = line.trim_start();
        if trimmed.starts_with('[')
            && let Some(close) = trimmed.find("]:")
            && !trimmed[..close].contains('(')
        {
            let mut words = trimmed[close + 2..].split_whitespace();
            let target = words.next().unwrap_or("");
            let title = words.next();
            if title.is_none_or(|t| t.starts_with(['"', '\'', '('])) {
                push(target);
            }
        }
        // HTML attributes, as in `<img src="...">` or `<a href="...">`.
        for attribute in ["href=\"", "src=\""] {
            let mut rest = line.as_str();
            while let Some(start) = rest.find(attribute) {
                let after = &rest[start + attribute.len()..];
                let end = after.find('"').unwrap_or(after.len());
                push(&after[..end]);
                rest = &after[end..];
            }
        }
    }
    found
}

/// The lines of a Markdown text that are not inside a fenced code block, numbered from 0.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let opener = ["```", "~~~"].into_iter().find(|f| trimmed.starts_with(f));
        match (fence, opener) {
            (None, Some(f)) => fence = Some(f),
            (Some(open), Some(f)) if open == f => fence = None,
            (None, None) => lines.push((index, line)),
            _ => {}
        }
    }
    lines
}

/// The line with each `code span` replaced by the word `code`: a span may hold `](`
/// (a curl command, say) that is not a link, and link text may be a span
/// (`` [`tier-raw`](crates/tier-raw) ``), which must still read as a link.
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        let ticks = rest[start..].len() - rest[start..].trim_start_matches('`').len();
        let after = &rest[start + ticks..];
        // The span closes at the next run of exactly as many backticks.
        let mut search = 0;
        let close = loop {
            match after[search..].find('`') {
                None => break None,
                Some(i) => {
                    let at = search + i;
                    let run = after[at..].len() - after[at..].trim_start_matches('`').len();
                    if run == ticks {
                        break Some(at);
                    }
                    search = at + run;
                }
            }
        };
        match close {
            Some(at) => {
                out.push_str(&rest[..start]);
                out.push_str("code");
                rest = &after[at + ticks..];
            }
            None => {
                // An unmatched backtick is a literal one.
                out.push_str(&rest[..start + ticks]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The anchors a Markdown text offers: one per heading, as GitHub makes them, and any
/// HTML `id="..."`.
fn anchors(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.len() - line.trim_start_matches('#').len();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let base = slug(&line[hashes..]);
            let repeats = found
                .iter()
                .filter(|a| {
                    **a == base || a.strip_prefix(&format!("{base}-")).is_some_and(is_counter)
                })
                .count();
            found.push(if repeats == 0 {
                base
            } else {
                format!("{base}-{repeats}")
            });
        }
        let mut rest = line;
        while let Some(start) = rest.find("id=\"") {
            let after = &rest[start + 4..];
            let end = after.find('"').unwrap_or(after.len());
            found.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    found
}

fn is_counter(suffix: &str) -> bool {
    !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())
}

/// GitHub's anchor for a heading's text.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// `base/target` with `.` and `..` resolved, or `None` if it climbs out of the root.
fn resolve(base: &Path, target: &str) -> Option<PathBuf> {
    let mut path = PathBuf::new();
    for component in base.join(target).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !path.pop() {
                    return None;
                }
            }
            other => path.push(other),
        }
    }
    Some(path)
}

/// What is wrong with the links of `text`, the document at `file` (relative to `root`).
/// With `only_into` set, only links that lead to a path it accepts are checked.
fn problems(
    root: &Path,
    file: &Path,
    text: &str,
    only_into: Option<fn(&Path) -> bool>,
) -> Vec<String> {
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    for link in links(text) {
        let target = link.target.as_str();
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path_part, anchor) = match target.split_once('#') {
            Some((path, anchor)) => (path, Some(anchor)),
            None => (target, None),
        };
        let at = format!("{}:{}: link to {target}", file.display(), link.line);
        let Some(resolved) = (if path_part.is_empty() {
            Some(file.to_path_buf())
        } else {
            resolve(dir, path_part)
        }) else {
            problems.push(format!("{at}: leads out of the workspace"));
            continue;
        };
        if only_into.is_some_and(|accept| !accept(&resolved)) {
            continue;
        }
        // A link within the document is checked against the text at hand.
        let this_document = resolved == file;
        let full = root.join(&resolved);
        if !this_document && !full.exists() {
            problems.push(format!("{at}: {} does not exist", resolved.display()));
            continue;
        }
        let Some(anchor) = anchor else { continue };
        if resolved.extension().is_some_and(|e| e == "md") {
            let offered = if this_document {
                anchors(text)
            } else {
                anchors(&std::fs::read_to_string(&full).unwrap())
            };
            if !offered.iter().any(|a| a == anchor) {
                problems.push(format!(
                    "{at}: {} has no heading #{anchor}; it has: {}",
                    resolved.display(),
                    offered.join(", ")
                ));
            }
        }
    }
    problems
}

/// The front door and the reference: README.md and docs/*.md.
fn is_front_or_reference(path: &Path) -> bool {
    path == Path::new("README.md")
        || (path.parent() == Some(Path::new("docs")) && path.extension().is_some_and(|e| e == "md"))
}

/// Every Markdown file of the workspace, relative to the root, skipping build output,
/// installed packages and hidden folders.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![PathBuf::new()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(root.join(&folder)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = folder.join(&name);
            if entry.file_type().unwrap().is_dir() {
                if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                    folders.push(path);
                }
            } else if name.ends_with(".md") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_link_of_the_readme_and_docs_leads_somewhere() {
    let root = workspace_root();
    let files: Vec<PathBuf> = markdown_files(&root)
        .into_iter()
        .filter(|path| is_front_or_reference(path))
        .collect();
    assert!(
        files.len() >= 5,
        "found only {files:?}: README.md and docs/*.md"
    );
    let mut all = Vec::new();
    let mut counted = 0;
    for file in &files {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        counted += links(&text).len();
        all.extend(problems(&root, file, &text, None));
    }
    assert!(
        counted >= 50,
        "only {counted} links found in {files:?}: is the parser broken?"
    );
    assert!(all.is_empty(), "broken links:\n{}", all.join("\n"));
}

#[test]
fn every_link_into_the_readme_and_docs_leads_somewhere() {
    let root = workspace_root();
    let mut all = Vec::new();
    for file in markdown_files(&root)
        .into_iter()
        .filter(|p| !is_front_or_reference(p))
    {
        let text = std::fs::read_to_string(root.join(&file)).unwrap();
        all.extend(problems(&root, &file, &text, Some(is_front_or_reference)));
    }
    assert!(
        all.is_empty(),
        "broken links into README.md or docs/:\n{}",
        all.join("\n")
    );
}

/// The checker itself: a broken link of each kind is reported, and what is not a link
/// is left alone.
#[test]
fn a_broken_link_is_reported() {
    let root = workspace_root();
    let file = Path::new("docs/example.md");
    let check = |text: &str| problems(&root, file, text, None);

    // Links that lead somewhere: a file, a folder, a heading of another file, this file's.
    let good = "# Top\n\n[readme](../README.md), [tiers](../crates/tier-raw), \
                [`lib`](../src/lib.rs)\n[top](#top) ![x](../Cargo.toml \"title\")\n";
    assert_eq!(check(good), Vec::<String>::new());

    let missing_file = check("text\n[gone](../crates/no-such-crate/README.md)\n");
    assert_eq!(missing_file.len(), 1, "{missing_file:?}");
    assert!(missing_file[0].starts_with("docs/example.md:2: link to ../crates/no-such-crate"));

    // A path written from the workspace root inside docs/ is the classic moved-text bug.
    assert_eq!(check("[lib](src/lib.rs)").len(), 1);
    assert_eq!(check("[up](../../x.md)").len(), 1, "out of the workspace");

    let missing_heading = check("[h](../README.md#no-such-heading)");
    assert_eq!(missing_heading.len(), 1, "{missing_heading:?}");
    assert!(missing_heading[0].contains("has no heading #no-such-heading"));
    assert_eq!(check("# Top\n[here](#bottom)\n").len(), 1);
    assert_eq!(check("[def]: ../nowhere.md\n").len(), 1);
    assert_eq!(check("[def]: ../nowhere.md \"title\"\n").len(), 1);
    assert_eq!(
        check("[S3]: the replica is named by its host\n"),
        Vec::<String>::new()
    );
    assert_eq!(check("<img src=\"../nowhere.svg\">").len(), 1);

    // Not links: code spans, fenced blocks, web addresses.
    let not_links = "`[a](nowhere)` and ``[b](x `y`)``\n```sh\n[c](nowhere)\n```\n\
                     [web](https://example.com/nowhere)\n";
    assert_eq!(check(not_links), Vec::<String>::new());
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    let text = "# Async Rust: one API\n## `DB_PIPELINE`, measured\n## Tests\n## Tests\n\
                ```\n# not a heading\n```\n#not-a-heading\n<a id=\"custom\"></a>\n";
    assert_eq!(
        anchors(text),
        [
            "async-rust-one-api",
            "db_pipeline-measured",
            "tests",
            "tests-1",
            "custom"
        ]
    );
}
