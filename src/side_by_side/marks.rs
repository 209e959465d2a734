//! Which lines of a section differ between the tiers: the marks behind the HTML page's
//! tints.
//!
//! The rule is a set comparison, not a diff. A line (compared after trimming its
//! indentation) that all three tiers have is plain; a line that only one tier has is
//! that tier's own; a line two of the three share is marked more lightly.
//!
//! Why not a diff algorithm (the `similar` crate's Myers or patience diff)? A diff
//! answers "which edits turn text A into text B", pairwise and in order. The page asks
//! something else: "which of this code is the tier's own?", across three texts at once.
//! The tiers often say the same thing in a different order (SeaORM builds its
//! `ActiveModel` before the insert that the raw driver writes first), and a diff would
//! mark a moved line as deleted here and inserted there although every tier has it; a
//! three-way diff would need a base text, and no tier is the base of the others. The
//! set rule is order-free, symmetric and explainable in one sentence in the legend.
//! Its blind spot is small and visible: a line that a tier has twice and the others
//! once counts as shared.

use std::collections::HashSet;

/// How a line of one panel compares with the other panels of its section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Every panel has this line (or it is blank): plain.
    Common,
    /// Some other panels have it, but not all of them.
    Shared,
    /// No other panel has it: this tier's own code.
    Own,
}

impl Mark {
    /// The CSS class the page gives a line with this mark (`""` for plain lines).
    pub fn class(self) -> &'static str {
        match self {
            Mark::Common => "",
            Mark::Shared => " some",
            Mark::Own => " own",
        }
    }
}

/// Marks every line of every panel. `panels[i]` is one tier's code; the result's
/// `[i][j]` is the mark of line `j` of panel `i` (lines as [`str::lines`] splits them).
///
/// With fewer than two panels there is nothing to compare, and every line is plain.
pub fn mark_lines(panels: &[&str]) -> Vec<Vec<Mark>> {
    let sets: Vec<HashSet<&str>> = panels
        .iter()
        .map(|code| code.lines().map(str::trim).collect())
        .collect();
    panels
        .iter()
        .map(|code| {
            code.lines()
                .map(|line| {
                    let key = line.trim();
                    if key.is_empty() || panels.len() < 2 {
                        return Mark::Common;
                    }
                    let holders = sets.iter().filter(|set| set.contains(key)).count();
                    if holders == panels.len() {
                        Mark::Common
                    } else if holders == 1 {
                        Mark::Own
                    } else {
                        Mark::Shared
                    }
                })
                .collect()
        })
        .collect()
}

/// How many of a panel's lines carry `mark`.
pub fn count(marks: &[Mark], mark: Mark) -> usize {
    marks.iter().filter(|&&m| m == mark).count()
}

#[cfg(test)]
mod tests {
    use super::Mark::{Common, Own, Shared};
    use super::*;

    #[test]
    fn lines_in_all_three_are_plain_and_a_tier_s_own_are_marked() {
        let raw = "let pool = pool();\n    let row = client.query_one(SQL).await?;\nOk(row)\n";
        let sqlx =
            "let pool = pool();\nlet row = query_as!(User, SQL).fetch_one(pool).await?;\nOk(row)\n";
        let orm = "let pool = pool();\nlet row = Entity::find_by_id(id).one(db).await?;\nOk(row)\n";
        let marks = mark_lines(&[raw, sqlx, orm]);
        assert_eq!(marks[0], [Common, Own, Common]);
        assert_eq!(marks[1], [Common, Own, Common]);
        assert_eq!(marks[2], [Common, Own, Common]);
    }

    #[test]
    fn indentation_does_not_matter_and_order_does_not_either() {
        // The same two lines, in another order and indented differently: all plain.
        let marks = mark_lines(&["a();\nb();", "    b();\n  a();", "a();\nb();"]);
        assert!(
            marks.iter().flatten().all(|&mark| mark == Common),
            "{marks:?}"
        );
    }

    #[test]
    fn a_line_two_tiers_share_is_marked_as_shared() {
        // sqlx and SeaORM both map `sqlx::Error`; the raw driver does not.
        let marks = mark_lines(&[
            "match err {\nDbError(e) => e,\n}",
            "match err {\nsqlx::Error::Database(e) => e,\n}",
            "match err {\nsqlx::Error::Database(e) => e,\nRecordNotFound => x,\n}",
        ]);
        assert_eq!(marks[0], [Common, Own, Common]);
        assert_eq!(marks[1], [Common, Shared, Common]);
        assert_eq!(marks[2], [Common, Shared, Own, Common]);
        assert_eq!(count(&marks[2], Own), 1);
        assert_eq!(count(&marks[2], Shared), 1);
    }

    #[test]
    fn blank_lines_are_plain_and_one_panel_has_nothing_to_compare() {
        let marks = mark_lines(&["x\n\ny", "z\n   \n"]);
        assert_eq!(marks[0], [Own, Common, Own]);
        assert_eq!(marks[1], [Own, Common]);
        assert_eq!(mark_lines(&["only\none"]), [vec![Common, Common]]);
    }

    #[test]
    fn the_classes_name_the_marks() {
        assert_eq!(Common.class(), "");
        assert_eq!(Own.class(), " own");
        assert_eq!(Shared.class(), " some");
    }
}
