//! How the report writes tables and numbers: one Markdown table writer for every
//! table, and the number formats people read (thousands separators, milliseconds to
//! three significant figures, `-` for a figure that was not measured).
//!
//! Writing into a `String` cannot fail, so the `fmt::Result` of `writeln!` is
//! ignored with `let _ =` throughout the report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use Align::{Left, Right};

/// How a Markdown table column is aligned: text left, numbers right.
#[derive(Clone, Copy)]
pub(crate) enum Align {
    /// Text: `---`.
    Left,
    /// Numbers: `---:`.
    Right,
}

/// Writes a Markdown table: the heading row, the alignment row, then one line per row
/// (each row one cell per column).
pub(crate) fn table(
    md: &mut String,
    columns: &[(&str, Align)],
    rows: impl IntoIterator<Item = Vec<String>>,
) {
    let headings: Vec<&str> = columns.iter().map(|(heading, _)| *heading).collect();
    let alignments: Vec<&str> = columns
        .iter()
        .map(|(_, align)| match align {
            Left => "---",
            Right => "---:",
        })
        .collect();
    let _ = writeln!(md, "| {} |", headings.join(" | "));
    let _ = writeln!(md, "| {} |", alignments.join(" | "));
    for row in rows {
        debug_assert_eq!(row.len(), columns.len(), "a row has one cell per column");
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
}

/// `Bind 1, Execute 1, Sync 1`, fractions where a message is not sent every time.
pub(super) fn messages(per: &BTreeMap<String, f64>) -> String {
    let mut parts: Vec<String> = per
        .iter()
        .filter(|(_, n)| **n >= 0.005)
        .map(|(name, n)| format!("{name} {}", num(*n, 2)))
        .collect();
    if parts.is_empty() {
        parts.push("-".into());
    }
    parts.join(", ")
}

/// A number with at most `decimals` decimals, trailing zeros dropped.
pub(crate) fn num(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// `-` or the number with `decimals` decimals.
pub(super) fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".to_owned(), |v| format!("{v:.decimals$}"))
}

/// Milliseconds: three significant figures below 10 ms, one decimal above.
pub(super) fn ms(value: f64) -> String {
    if value < 1.0 {
        format!("{value:.3}")
    } else if value < 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1}")
    }
}

/// `31,234`: a rounded number with thousands separators.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(12.0), "12");
        assert_eq!(num(1.50, 2), "1.5");
        assert_eq!(num(3.0, 2), "3");
        assert_eq!(ms(0.4567), "0.457");
        assert_eq!(ms(12.34), "12.3");
    }
}
