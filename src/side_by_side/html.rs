//! The side-by-side view as one static HTML page: `--html PATH`.
//!
//! Three things make the page readable, and each is decided here, when the page is
//! generated, so the page itself needs no script and loads nothing from the network:
//!
//! * **Syntax highlighting** by `syntect`, with the grammars and themes it bundles
//!   (Sublime Text's) and its pure-Rust regex engine (`regex-fancy`, so no C library
//!   is built). Rust panels are highlighted as Rust, the migrations as SQL. Every line is
//!   highlighted into its own self-contained HTML (inline `style` colours, each span
//!   closed on its line), which is what lets the next point wrap each line in an element.
//! * **Marks** on the lines where the tiers differ ([`super::marks`]): a tint on lines one
//!   tier has alone, a lighter one on lines two tiers share, explained by a legend.
//! * **Alignment**: a section is one CSS grid whose cells are laid out row by row
//!   (the three headings, the three locations, the three code panels), so a section's
//!   panels start at the same height whatever their headings do. A long line wraps the
//!   way an editor's soft wrap does: only at a space (`pre-wrap` with
//!   `overflow-wrap: normal`, so an identifier is never broken), its continuation
//!   indented four columns past the line's own indentation. That indentation is moved
//!   out of the text into the line's padding (`--i`): left as spaces, the browser may
//!   wrap right after them and leave an empty first row.
//!   A token longer than the panel scrolls inside it (`overflow-x: auto`), and the page
//!   itself never scrolls sideways (`tests/rendered.rs` checks that in a browser at
//!   1280 px).

use std::fmt::Write as _;
use std::path::Path;

use syntect::easy::HighlightLines;
use syntect::highlighting::{Theme, ThemeSet};
use syntect::html::{IncludeBackground, styled_line_to_highlighted_html};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

use super::marks::{Mark, count, mark_lines};
use super::{Panel, SECTIONS, Section, TIERS, escape_html, panels};

/// The bundled theme used: a light one, close to GitHub's, readable when projected.
const THEME: &str = "InspiredGitHub";

/// The page's style sheet. `minmax(0, 1fr)` lets a column be narrower than its longest
/// line (which then scrolls in its `pre`); without it the grid would grow past the page.
const CSS: &str = "\
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0;padding:1.5rem;color:#1d1d1f;background:#fafafa}
h1{margin-top:0}
nav{display:flex;flex-wrap:wrap;gap:.2rem .9rem}
section{margin:2rem 0}
h2{border-bottom:2px solid #ccc;padding-bottom:.2rem;font-size:1.25rem}
.grid{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:.25rem 1rem;align-items:start}
.grid h3{margin:.2rem 0 0;font-size:1rem}
.where{font:.78rem ui-monospace,monospace;color:#666}
.wide{grid-column:1/-1;margin-top:.8rem}
pre{margin:0;background:#fff;border:1px solid #ddd;border-radius:4px;padding:.5rem 0;overflow-x:auto;font-size:.78rem;line-height:1.4}
pre code{display:block;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.l{--i:0;display:block;white-space:pre-wrap;overflow-wrap:normal;min-height:1.4em;padding:0 .5rem 0 calc(.5rem + (var(--i) + 4) * 1ch);text-indent:-4ch}
.own{background:#fff0bf;box-shadow:inset 4px 0 #d9a400}
.some{background:#e6f0ff;box-shadow:inset 4px 0 #6f9be0}
.missing pre{color:#8a5a00;background:#fff8e6}
.legend .l{display:inline-block;margin-right:.8rem;border-radius:3px;font-size:.9rem}
";

/// Syntax highlighting with syntect's bundled grammars and one of its bundled themes.
pub struct Highlighter {
    syntaxes: SyntaxSet,
    theme: Option<Theme>,
}

impl Default for Highlighter {
    fn default() -> Self {
        Self::new()
    }
}

impl Highlighter {
    /// Loads the bundled grammars (compiled into the binary) and the theme.
    pub fn new() -> Self {
        Self {
            syntaxes: SyntaxSet::load_defaults_newlines(),
            theme: ThemeSet::load_defaults().themes.remove(THEME),
        }
    }

    /// `code` as HTML, one string per line ([`str::lines`]' lines, without their line
    /// ends), highlighted with the grammar for the file extension `extension` (`rs`,
    /// `sql`). Text syntect cannot highlight is still shown, escaped and uncoloured.
    pub fn lines(&self, code: &str, extension: &str) -> Vec<String> {
        let plain = |line: &str| escape_html(line.trim_end_matches(['\n', '\r']));
        let (Some(syntax), Some(theme)) = (
            self.syntaxes.find_syntax_by_extension(extension),
            self.theme.as_ref(),
        ) else {
            return code.lines().map(plain).collect();
        };
        let mut highlighter = HighlightLines::new(syntax, theme);
        LinesWithEndings::from(code)
            .map(|line| {
                highlighter
                    .highlight_line(line, &self.syntaxes)
                    .and_then(|regions| {
                        styled_line_to_highlighted_html(&regions, IncludeBackground::No)
                    })
                    // The line end is part of the last span; each line is its own block.
                    .map(|html| html.replace(['\n', '\r'], ""))
                    .unwrap_or_else(|_| plain(line))
            })
            .collect()
    }
}

/// One `<pre>` of highlighted lines, each line a block carrying its mark's class and,
/// when the line is indented, its indentation as `--i` instead of leading spaces.
/// `source` is the text `lines` was highlighted from.
fn code_block(lines: &[String], source: &str, marks: &[Mark]) -> String {
    let mut html = String::from("<pre><code>");
    let indents = source
        .lines()
        .map(|line| line.len() - line.trim_start_matches(' ').len());
    for ((index, line), indent) in lines.iter().enumerate().zip(indents) {
        let class = marks.get(index).map_or("", |mark| mark.class());
        let style = if indent > 0 {
            format!(" style=\"--i:{indent}\"")
        } else {
            String::new()
        };
        let line = strip_leading_spaces(line, indent);
        let _ = write!(html, "<span class=\"l{class}\"{style}>{line}</span>");
    }
    html.push_str("</code></pre>");
    html
}

/// Removes the first `count` spaces of a highlighted line's text, skipping its tags.
fn strip_leading_spaces(html: &str, mut count: usize) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(c);
                continue;
            }
            _ => {}
        }
        if !in_tag && count > 0 {
            if c == ' ' {
                count -= 1;
                continue;
            }
            count = 0;
        }
        out.push(c);
    }
    out
}

/// `migrations/*.sql` in the order every tier applies them: (path, text).
fn migrations(root: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(root.join("migrations")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let path = format!("migrations/{name}");
            std::fs::read_to_string(root.join(&path))
                .ok()
                .map(|text| (path, text))
        })
        .collect()
}

/// One section: a grid of three headings, three locations, three code panels.
fn render_section(
    html: &mut String,
    highlighter: &Highlighter,
    section: &Section,
    panels: &[Panel; 3],
) {
    let _ = write!(
        html,
        "<section id=\"{0}\">\n<h2>{0}: {1}</h2>\n<div class=\"grid\">\n",
        escape_html(section.anchor),
        escape_html(section.about)
    );
    // Only panels with code take part in the comparison; a missing region's note does not.
    let found: Vec<&str> = panels
        .iter()
        .filter(|panel| panel.found)
        .map(|panel| panel.code.as_str())
        .collect();
    let mut found_marks = mark_lines(&found).into_iter();
    let marks: Vec<Vec<Mark>> = panels
        .iter()
        .map(|panel| {
            if panel.found {
                found_marks.next().unwrap_or_default()
            } else {
                Vec::new()
            }
        })
        .collect();
    for tier in &TIERS {
        let _ = writeln!(
            html,
            "<h3>{} <small>({})</small></h3>",
            escape_html(tier.title),
            escape_html(tier.stack)
        );
    }
    for (panel, marks) in panels.iter().zip(&marks) {
        let _ = write!(
            html,
            "<div class=\"where\">{}",
            escape_html(&panel.location)
        );
        if panel.found {
            let _ = write!(
                html,
                " · {} lines: {} own, {} in two",
                panel.code.lines().count(),
                count(marks, Mark::Own),
                count(marks, Mark::Shared)
            );
        }
        html.push_str("</div>\n");
    }
    let extension = section.file.rsplit('.').next().unwrap_or("");
    for (panel, marks) in panels.iter().zip(&marks) {
        let lines = if panel.found {
            highlighter.lines(&panel.code, extension)
        } else {
            panel.code.lines().map(escape_html).collect()
        };
        let _ = writeln!(
            html,
            "<div class=\"panel{}\">{}</div>",
            if panel.found { "" } else { " missing" },
            code_block(&lines, &panel.code, marks)
        );
    }
}

/// One self-contained HTML page (no scripts, no outside assets) with every section.
pub fn render_html(root: &Path) -> String {
    let highlighter = Highlighter::new();
    let mut html = format!(
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
            "<title>Three database tiers, side by side</title>\n<style>\n{}</style>\n",
            "</head>\n<body>\n",
            "<h1>One <code>/users</code> API, three database tiers</h1>\n",
            "<p>Each row is one <code>// ANCHOR:</code> region, read from the sources when ",
            "this page was generated (<code>cargo run --bin side-by-side -- --html PATH</code>).",
            " Lines are compared within their row, ignoring indentation and order:</p>\n",
            "<p class=\"legend\"><span class=\"l own\">only this tier has the line</span>",
            "<span class=\"l some\">two of the three tiers have it</span>",
            "<span class=\"l\">unmarked: all three have it</span></p>\n<nav>"
        ),
        CSS
    );
    for section in &SECTIONS {
        let _ = write!(
            html,
            "<a href=\"#{0}\">{0}</a>",
            escape_html(section.anchor)
        );
    }
    html.push_str("</nav>\n");
    for section in &SECTIONS {
        render_section(&mut html, &highlighter, section, &panels(root, section));
        if section.anchor == "schema" {
            // What the three `schema` regions apply: the one schema, as SQL.
            for (path, text) in migrations(root) {
                let lines = highlighter.lines(&text, "sql");
                let _ = writeln!(
                    html,
                    "<div class=\"wide\"><div class=\"where\">{} · applied by all three tiers</div>{}</div>",
                    escape_html(&path),
                    code_block(&lines, &text, &[])
                );
            }
        }
        html.push_str("</div>\n</section>\n");
    }
    html.push_str("</body>\n</html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_and_sql_are_highlighted_line_by_line() {
        let highlighter = Highlighter::new();
        let rust = highlighter.lines("fn main() {\n    let x = \"<a>\";\n}\n", "rs");
        assert_eq!(rust.len(), 3);
        // Keywords get a colour of their own; text stays escaped.
        assert!(rust[0].contains("<span style=\"color:"), "{rust:?}");
        assert!(rust[1].contains("&lt;a&gt;"), "{rust:?}");
        // Every line closes what it opens, so it can be wrapped in its own element.
        for line in &rust {
            assert_eq!(
                line.matches("<span").count(),
                line.matches("</span>").count()
            );
            assert!(!line.contains('\n'));
        }
        let sql = highlighter.lines("CREATE TABLE users (id bigint);", "sql");
        assert!(sql[0].contains("<span style=\"color:"), "{sql:?}");
        // An unknown language is shown plain, not lost.
        assert_eq!(highlighter.lines("a < b\nc", "nope"), ["a &lt; b", "c"]);
    }

    #[test]
    fn a_code_block_carries_each_line_s_mark() {
        let lines = ["a".to_owned(), "  b".to_owned(), "c".to_owned()];
        let block = code_block(
            &lines,
            "a\n  b\nc",
            &[Mark::Common, Mark::Own, Mark::Shared],
        );
        assert_eq!(
            block,
            "<pre><code><span class=\"l\">a</span><span class=\"l own\" style=\"--i:2\">b</span>\
             <span class=\"l some\">c</span></code></pre>"
        );
    }

    #[test]
    fn indentation_leaves_the_text_but_not_the_tags() {
        let line = "<span style=\"color:#1\">    </span><span>  x y</span>";
        assert_eq!(
            strip_leading_spaces(line, 6),
            "<span style=\"color:#1\"></span><span>x y</span>"
        );
        assert_eq!(strip_leading_spaces("  a  b", 4), "a  b");
    }

    #[test]
    fn the_style_never_breaks_identifiers() {
        assert!(!CSS.contains("break-all") && !CSS.contains("anywhere"));
        assert!(CSS.contains("overflow-wrap:normal") && CSS.contains("overflow-x:auto"));
    }
}
