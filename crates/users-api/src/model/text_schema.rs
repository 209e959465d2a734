//! The JSON Schemas of the text members of the request bodies (`name`, `email`, `title`,
//! `body`), written once, for `/openapi.json`.
//!
//! Why they are patterns and not `minLength`/`maxLength`: the contract measures a name,
//! an email and a title *after trimming* surrounding white space, and JSON Schema has no
//! "after trimming". `maxLength: 100` would call a name of 100 characters plus one
//! leading space invalid, which the server accepts (schemathesis reports that as
//! ST201), and `minLength: 1` would call `" "` valid, which the server refuses. So each
//! schema is a regular expression that does the trimming itself: any run of white space,
//! then 1 to N characters that start and end with something else, then white space again.
//! The document then states exactly what [`crate::validate`] enforces, in both directions,
//! which is what schemathesis `--checks all` checks.
//!
//! The patterns name every character by its code point (`\u0085`), never by `\s` or
//! `\p{Cc}`: `\s` means a different set in every regex dialect (ECMA-262 counts U+FEFF
//! and not U+0085, Python counts U+001C..U+001F), while the server trims exactly
//! Unicode `White_Space` (Rust's `str::trim`). The sets are the tables below, and a unit
//! test compares them with Rust's own `char::is_whitespace` and `char::is_control` over
//! every code point. The syntax used (classes, `{m,n}`, `(?:...)`, `\uXXXX`) reads the same
//! in ECMA-262 with the `u` flag (JavaScript validators), Python's `re` (schemathesis,
//! hypothesis-jsonschema) and Rust's `regex`; characters count as Unicode scalar values,
//! as they do in the server.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};

use super::{EMAIL_MAX_CHARS, NAME_MAX_CHARS, POST_BODY_MAX_CHARS, TITLE_MAX_CHARS};

/// Unicode `White_Space`, the characters `str::trim` removes, as inclusive ranges.
const WHITE_SPACE: &[(u32, u32)] = &[
    (0x09, 0x0D),
    (0x20, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
];

/// Unicode category Cc (`char::is_control`), NUL included: refused in every text.
const CONTROL: &[(u32, u32)] = &[(0x00, 0x1F), (0x7F, 0x9F)];

/// The control characters a post body may still hold: tab, line feed, carriage return.
/// The ranges of [`CONTROL`] minus these.
const BODY_FORBIDDEN: &[(u32, u32)] = &[(0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x9F)];

/// White space or a control character: what may neither start nor end a trimmed text.
/// (`White_Space` ∪ Cc, merged into sorted, disjoint ranges.)
const SPACE_OR_CONTROL: &[(u32, u32)] = &[
    (0x00, 0x20),
    (0x7F, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
];

/// The characters of an email's local part (WHATWG), besides ASCII letters and digits.
const EMAIL_LOCAL_PUNCTUATION: &str = ".!#$%&'*+/=?^_`{|}~-";

/// The body of a character class: `\u0009-\u000D\u0020...`.
fn ranges(set: &[(u32, u32)]) -> String {
    set.iter()
        .map(|&(first, last)| {
            if first == last {
                format!("\\u{first:04X}")
            } else {
                format!("\\u{first:04X}-\\u{last:04X}")
            }
        })
        .collect()
}

/// `^ws* edge (?:not-control{0,max-2} edge)? ws*$`, where an edge character is neither
/// white space nor a control character: after trimming, 1 to `max` characters, none of
/// them a control character. White space inside is kept and allowed (a space between two
/// words), unless it is a control character too (a tab, a line feed).
fn trimmed_line_pattern(max: usize) -> String {
    let space = ranges(WHITE_SPACE);
    let edge = ranges(SPACE_OR_CONTROL);
    let control = ranges(CONTROL);
    let inner = max.saturating_sub(2);
    format!("^[{space}]*[^{edge}](?:[^{control}]{{0,{inner}}}[^{edge}])?[{space}]*$")
}

/// The WHATWG "valid e-mail address" with a dot in the domain, white space around it
/// allowed (it is trimmed away).
fn email_syntax_pattern() -> String {
    let space = ranges(WHITE_SPACE);
    // `-` last in the class, so it is a literal everywhere.
    let local = format!("A-Za-z0-9{EMAIL_LOCAL_PUNCTUATION}");
    let label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    format!("^[{space}]*[{local}]+@{label}(?:\\.{label})+[{space}]*$")
}

/// The email's length after trimming: 1 to 254 printable ASCII characters between white
/// space. A second pattern because one regex cannot bound the length of another without
/// a lookahead, which most generators (hypothesis among them) cannot produce data for.
fn email_length_pattern() -> String {
    let space = ranges(WHITE_SPACE);
    format!("^[{space}]*[!-~]{{1,{EMAIL_MAX_CHARS}}}[{space}]*$")
}

/// No control characters but tab, line feed and carriage return.
fn post_body_pattern() -> String {
    format!("^[^{}]*$", ranges(BODY_FORBIDDEN))
}

fn string(pattern: String, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
}

/// `name`, in `UserCreate` and `UserUpdate`.
pub fn name() -> RefOr<Schema> {
    string(
        trimmed_line_pattern(NAME_MAX_CHARS),
        "1 to 100 characters after trimming surrounding white space (Unicode White_Space, \
         as Rust's `str::trim`); no control characters. The pattern does the trimming: \
         JSON Schema's `maxLength` cannot, so there is none.",
    )
    .examples(["Ada Lovelace"])
    .into()
}

/// `email`, in `UserCreate` and `UserUpdate`: both patterns must match.
pub fn email() -> RefOr<Schema> {
    AllOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(email_syntax_pattern())),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(email_length_pattern())),
        )
        .schema_type(Type::String)
        .description(Some(
            "A valid e-mail address (WHATWG HTML syntax, with a dot in the domain), at most \
             254 characters after trimming surrounding white space. Compared \
             case-insensitively for uniqueness. Not `format: email`, which means RFC 5322.",
        ))
        .examples(["Ada@Example.com"])
        .into()
}

/// `title`, in `PostCreate`.
pub fn title() -> RefOr<Schema> {
    string(
        trimmed_line_pattern(TITLE_MAX_CHARS),
        "1 to 200 characters after trimming surrounding white space; no control characters.",
    )
    .examples(["Notes on the Analytical Engine"])
    .into()
}

/// `body`, in `PostCreate`: stored as sent, so here `maxLength` is exact.
pub fn post_body() -> RefOr<Schema> {
    string(
        post_body_pattern(),
        "Up to 4,000 characters, stored exactly as sent (not trimmed); no control \
         characters but tab, line feed and carriage return.",
    )
    .max_length(Some(POST_BODY_MAX_CHARS))
    .examples(["It might act upon other things besides number."])
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(set: &[(u32, u32)], c: char) -> bool {
        set.iter()
            .any(|&(first, last)| (first..=last).contains(&u32::from(c)))
    }

    /// The tables are what the server checks, for every code point there is.
    #[test]
    fn the_tables_are_rusts_white_space_and_control_characters() {
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let (space, control) = (c.is_whitespace(), c.is_control());
            assert_eq!(contains(WHITE_SPACE, c), space, "White_Space {c:?}");
            assert_eq!(contains(CONTROL, c), control, "Cc {c:?}");
            assert_eq!(contains(SPACE_OR_CONTROL, c), space || control, "{c:?}");
            let body_ok = !control || matches!(c, '\t' | '\n' | '\r');
            assert_eq!(contains(BODY_FORBIDDEN, c), !body_ok, "body {c:?}");
        }
    }

    #[test]
    fn a_line_pattern_counts_the_characters_between_the_white_space() {
        assert_eq!(
            trimmed_line_pattern(100),
            "^[\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028-\\u2029\
             \\u202F\\u205F\\u3000]*\
             [^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028-\\u2029\
             \\u202F\\u205F\\u3000]\
             (?:[^\\u0000-\\u001F\\u007F-\\u009F]{0,98}\
             [^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028-\\u2029\
             \\u202F\\u205F\\u3000])?\
             [\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028-\\u2029\
             \\u202F\\u205F\\u3000]*$"
        );
    }

    #[test]
    fn the_email_length_is_bounded_by_the_constant() {
        assert!(email_length_pattern().contains("[!-~]{1,254}"));
    }
}
