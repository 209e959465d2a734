//! Generated regions of a Markdown file: the text between
//! `<!-- figures: NAME -->` and `<!-- /figures: NAME -->`, found, replaced and compared.
//!
//! A region holds whole blocks (a table, a paragraph, an image), never part of one: a
//! Markdown table cannot contain an HTML comment, so the markers stand on lines of their
//! own, and the generated text sits between blank lines so that no renderer reads a
//! marker as a row of the table before it. Everything outside the markers is left
//! byte for byte as it was: the prose around a table stays the author's.

use std::fmt::Write as _;

use anyhow::{Context as _, bail};

/// One region found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Its name, from the opening marker.
    pub name: String,
    /// The 1-based line of the opening marker.
    pub line: usize,
    /// Byte range of the text between the two marker lines.
    pub body: std::ops::Range<usize>,
}

/// The opening marker of region `name`.
pub fn open(name: &str) -> String {
    format!("<!-- figures: {name} -->")
}

/// The closing marker of region `name`.
pub fn close(name: &str) -> String {
    format!("<!-- /figures: {name} -->")
}

/// What a region's body must be for `content` (one or more Markdown blocks): the
/// content between blank lines.
pub fn body(content: &str) -> String {
    format!("\n{}\n\n", content.trim())
}

/// The regions of `text`, in order. Errors on a marker without its partner, a region
/// inside another, and a name used twice in one file.
pub fn find(text: &str) -> anyhow::Result<Vec<Region>> {
    let mut regions: Vec<Region> = Vec::new();
    // The region being read: its name, marker line and where its body starts.
    let mut current: Option<(String, usize, usize)> = None;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let start = offset;
        offset += line.len();
        let marker = line.trim();
        if let Some(name) = marker_name(marker, "<!-- figures:") {
            if let Some((open_name, open_line, _)) = &current {
                bail!(
                    "line {number}: region `{name}` opens inside region `{open_name}` \
                     (opened on line {open_line})"
                );
            }
            if let Some(earlier) = regions.iter().find(|r| r.name == name) {
                bail!(
                    "line {number}: region `{name}` appears twice (first on line {})",
                    earlier.line
                );
            }
            current = Some((name.to_owned(), number, offset));
        } else if let Some(name) = marker_name(marker, "<!-- /figures:") {
            match current.take() {
                Some((open_name, open_line, body_start)) if open_name == name => {
                    regions.push(Region {
                        name: open_name,
                        line: open_line,
                        body: body_start..start,
                    });
                }
                Some((open_name, open_line, _)) => bail!(
                    "line {number}: `{marker}` closes region `{name}`, but the open one \
                     is `{open_name}` (line {open_line})"
                ),
                None => bail!("line {number}: `{marker}` closes a region that never opened"),
            }
        }
    }
    if let Some((name, line, _)) = current {
        bail!(
            "line {line}: region `{name}` is never closed (`{}` missing)",
            close(&name)
        );
    }
    Ok(regions)
}

/// `NAME` if `marker` is `PREFIX NAME -->`.
fn marker_name<'a>(marker: &'a str, prefix: &str) -> Option<&'a str> {
    let name = marker.strip_prefix(prefix)?.strip_suffix("-->")?.trim();
    (!name.is_empty()).then_some(name)
}

/// `text` with the body of every region replaced by `generate(name)`'s content.
/// `generate` errs on a name it does not know.
pub fn rewrite(
    text: &str,
    mut generate: impl FnMut(&str) -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for region in find(text)? {
        let content =
            generate(&region.name).with_context(|| format!("region on line {}", region.line))?;
        out.push_str(&text[copied..region.body.start]);
        out.push_str(&body(&content));
        copied = region.body.end;
    }
    out.push_str(&text[copied..]);
    Ok(out)
}

/// The regions whose body in `actual` differs from `expected` (the same text as
/// [`rewrite`] made it), each with its first differing line, to be shown to whoever
/// edited it. Empty when they agree.
pub fn differences(actual: &str, expected: &str) -> anyhow::Result<Vec<String>> {
    let found = find(actual)?;
    let wanted = find(expected)?;
    let mut out = Vec::new();
    for (have, want) in found.iter().zip(&wanted) {
        let (have_text, want_text) = (&actual[have.body.clone()], &expected[want.body.clone()]);
        if have_text != want_text {
            out.push(format!(
                "region `{}` (line {}): {}",
                have.name,
                have.line,
                first_difference(have_text, want_text)
            ));
        }
    }
    Ok(out)
}

/// The first line where a region's text and the generated text differ, both shown.
fn first_difference(have: &str, want: &str) -> String {
    let (mut have_lines, mut want_lines) = (have.lines(), want.lines());
    for number in 1.. {
        match (have_lines.next(), want_lines.next()) {
            (Some(a), Some(b)) if a == b => continue,
            (None, None) => break,
            (a, b) => {
                let mut text = format!("its line {number} differs");
                let _ = write!(text, "\n    file:   {}", a.unwrap_or("(end of region)"));
                let _ = write!(text, "\n    report: {}", b.unwrap_or("(end of region)"));
                return text;
            }
        }
    }
    "it differs only in white space at line ends".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Title\n\nProse stays.\n\n<!-- figures: speed -->\nold table\n<!-- /figures: speed -->\n\nMore prose.\n";

    fn generate(name: &str) -> anyhow::Result<String> {
        match name {
            "speed" => Ok("| tier | req/s |\n| --- | ---: |\n| raw | 19,575 |\n".into()),
            other => bail!("unknown region `{other}`"),
        }
    }

    #[test]
    fn a_region_is_replaced_and_the_prose_around_it_kept() {
        let out = rewrite(DOC, generate).unwrap();
        assert_eq!(
            out,
            "# Title\n\nProse stays.\n\n<!-- figures: speed -->\n\n| tier | req/s |\n\
             | --- | ---: |\n| raw | 19,575 |\n\n<!-- /figures: speed -->\n\nMore prose.\n"
        );
        // Writing twice changes nothing more.
        assert_eq!(rewrite(&out, generate).unwrap(), out);
        assert!(differences(&out, &out).unwrap().is_empty());
    }

    #[test]
    fn a_number_edited_by_hand_is_a_difference_naming_the_region() {
        let generated = rewrite(DOC, generate).unwrap();
        let edited = generated.replace("19,575", "21,000");
        assert_ne!(edited, generated, "the edit must change the text");
        let expected = rewrite(&edited, generate).unwrap();
        assert_eq!(expected, generated, "regenerating undoes the edit");
        let found = differences(&edited, &expected).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("region `speed` (line 5)"),
            "{}",
            found[0]
        );
        assert!(
            found[0].contains("file:   | raw | 21,000 |"),
            "{}",
            found[0]
        );
        assert!(
            found[0].contains("report: | raw | 19,575 |"),
            "{}",
            found[0]
        );
    }

    #[test]
    fn broken_markers_are_errors() {
        let unclosed = "<!-- figures: a -->\ntext\n";
        assert!(
            find(unclosed)
                .unwrap_err()
                .to_string()
                .contains("never closed")
        );
        let nested = "<!-- figures: a -->\n<!-- figures: b -->\n<!-- /figures: b -->\n";
        assert!(
            find(nested)
                .unwrap_err()
                .to_string()
                .contains("inside region `a`")
        );
        let crossed = "<!-- figures: a -->\n<!-- /figures: b -->\n";
        assert!(
            find(crossed)
                .unwrap_err()
                .to_string()
                .contains("closes region `b`")
        );
        let stray = "text\n<!-- /figures: a -->\n";
        assert!(
            find(stray)
                .unwrap_err()
                .to_string()
                .contains("never opened")
        );
        let twice = "<!-- figures: a -->\n<!-- /figures: a -->\n<!-- figures: a -->\n<!-- /figures: a -->\n";
        assert!(
            find(twice)
                .unwrap_err()
                .to_string()
                .contains("appears twice")
        );
        let unknown = "<!-- figures: nope -->\n<!-- /figures: nope -->\n";
        let err = format!("{:#}", rewrite(unknown, generate).unwrap_err());
        assert!(err.contains("unknown region `nope`"), "{err}");
    }
}
