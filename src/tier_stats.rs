//! Lines of code per operation and per file, and the names a student meets, for the
//! comparison table of `docs/comparison.md` (`cargo run --bin tier-stats`).
//!
//! The seed lecture's table rates each Python stack "Low", "Medium" or "High" for
//! abstraction, learning curve and maintainability. Those are judgements; this module
//! supplies what can be counted beside them, straight from the sources, so the figures
//! in the document cannot drift from the code (`tests/tier_stats.rs` fails when they do):
//!
//! * the code lines of every `// ANCHOR:` region of the side-by-side view (the same
//!   [`SECTIONS`], so every operation of `store.rs` plus connecting and the schema);
//! * the code lines of every file in each tier's `src/`, where tier-orm's entities and
//!   each tier's helpers show up beside the store;
//! * the names that writing `get` puts in front of a student (see [`names_used`]).
//!
//! A code line is a line that is neither blank nor only a comment: `//`, `///` and `//!`
//! lines and the inside of `/* */` blocks do not count, since this code is teaching
//! material and its comments are long on purpose.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use crate::anchors::read_region;
use crate::side_by_side::{SECTIONS, TIERS};

/// Counts the lines of Rust `source` that are neither blank nor comments only.
pub fn code_lines(source: &str) -> usize {
    let mut in_block = false;
    let mut count = 0;
    for line in source.lines() {
        let line = line.trim();
        if in_block {
            // The rest of a block comment; code after its `*/` is rare enough in this
            // workspace (rustfmt never writes it) to be counted as comment.
            in_block = !line.contains("*/");
            continue;
        }
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        if line.starts_with("/*") {
            in_block = !line.contains("*/");
            continue;
        }
        count += 1;
    }
    count
}

/// Rust's keywords and the names every tier shares through the contract, which are not
/// something a tier makes its reader learn.
const NOT_COUNTED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "Self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "Ok",
    "Err",
    "Some",
    "None",
    "Option",
    "Result",
    "String",
    "UserRead",
    "StoreResult",
    "StoreError",
];

/// Removes comments, string literals and char literals, so the names inside them are not
/// taken for code. Lifetimes (`'a`) are left as they are.
fn strip_comments_and_strings(source: &str) -> String {
    let mut out = String::new();
    for line in source.lines() {
        let mut chars = line.chars().peekable();
        let mut in_string = false;
        while let Some(c) = chars.next() {
            if in_string {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => {
                    in_string = true;
                    out.push_str("\"\"");
                }
                '/' if chars.peek() == Some(&'/') => break,
                _ => out.push(c),
            }
        }
        out.push('\n');
    }
    out
}

/// The names a piece of code uses that a reader must know or look up: types, traits,
/// enum variants and constants (a name that starts with a capital letter), methods
/// (`.name(`), functions reached through a path (`Type::name(`, `module::name(`) and
/// macros (`name!`). Local variables, fields and keywords are left out, and so are the
/// names of [`NOT_COUNTED`] (Rust's own and the shared contract's).
///
/// It is a proxy, not a parser: it reads tokens, not meaning, and it is applied to the
/// three tiers alike.
pub fn names_used(code: &str) -> BTreeSet<String> {
    let code = strip_comments_and_strings(code);
    let chars: Vec<char> = code.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !(c.is_alphabetic() || c == '_') {
            i += 1;
            continue;
        }
        // A lifetime or a label ('a) is not a name we count.
        let after_quote = i > 0 && chars[i - 1] == '\'';
        let start = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        let before = start.checked_sub(1).map(|j| chars[j]);
        let path_before = start >= 2 && chars[start - 2] == ':' && before == Some(':');
        let next = chars[i..].iter().find(|c| !c.is_whitespace()).copied();
        let capital = name.starts_with(|c: char| c.is_uppercase());
        let method = before == Some('.') && matches!(next, Some('(') | Some(':'));
        let path_fn = path_before && next == Some('(');
        // `name!(` is a macro; `x != y` is not (rustfmt puts no space before a macro's `!`).
        let macro_call = chars.get(i) == Some(&'!') && chars.get(i + 1) != Some(&'=');
        let counted = capital || method || path_fn || macro_call;
        if counted && !after_quote && !NOT_COUNTED.contains(&name.as_str()) {
            names.insert(if macro_call { format!("{name}!") } else { name });
        }
    }
    names
}

/// A region's text with its first item signature removed (everything up to the first
/// line that ends with `{`): the `get` of every tier has the contract's signature.
fn body_of(region: &str) -> String {
    match region
        .lines()
        .position(|line| line.trim_end().ends_with('{'))
    {
        Some(at) => region.lines().skip(at + 1).collect::<Vec<_>>().join("\n"),
        None => region.to_owned(),
    }
}

/// The code lines of one region, or `None` when the tier does not mark it.
fn region_lines(root: &Path, tier: &str, file: &str, anchor: &str) -> Option<usize> {
    let path = format!("crates/{tier}/src/{file}");
    read_region(root, &path, anchor)
        .ok()
        .map(|region| code_lines(&region.text))
}

/// Every `.rs` file under `dir`, as paths relative to `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs")
                && let Ok(relative) = path.strip_prefix(base)
            {
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// One table cell: a count, or a dash where the tier has no such region or file.
fn cell(value: Option<usize>) -> String {
    value.map_or_else(|| "–".to_owned(), |n| n.to_string())
}

/// The names a student meets to write `get` in `tier`: first those of its region
/// (signature removed) and of the row mapping it calls (`row_mapping`), then those of
/// the user entity it finds through, for a tier that has one (`src/entity/user.rs`).
pub fn get_names(root: &Path, tier: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let store = format!("crates/{tier}/src/store.rs");
    let mut code = BTreeSet::new();
    if let Ok(get) = read_region(root, &store, "get") {
        code.extend(names_used(&body_of(&get.text)));
    }
    if let Ok(mapping) = read_region(root, &store, "row_mapping") {
        code.extend(names_used(&mapping.text));
    }
    let entity = root.join(format!("crates/{tier}/src/entity/user.rs"));
    let declared = std::fs::read_to_string(entity)
        .map(|source| names_used(&source))
        .unwrap_or_default();
    (code, declared)
}

/// The whole report, as Markdown: what `cargo run --bin tier-stats` prints and what
/// `docs/comparison.md` holds between its `tier-stats` markers.
pub fn report(root: &Path) -> String {
    let mut out = String::new();
    let header = |out: &mut String, first: &str| {
        let names: Vec<&str> = TIERS.iter().map(|tier| tier.name).collect();
        let _ = writeln!(out, "| {first} | {} |", names.join(" | "));
        let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
    };

    let _ = writeln!(
        out,
        "Code lines (not blank, not only a comment) of each `// ANCHOR:` region:\n"
    );
    header(&mut out, "region (file)");
    let mut totals = [0usize; 3];
    for section in &SECTIONS {
        let counts = TIERS.map(|tier| region_lines(root, tier.name, section.file, section.anchor));
        for (total, count) in totals.iter_mut().zip(counts) {
            *total += count.unwrap_or(0);
        }
        let cells: Vec<String> = counts.into_iter().map(cell).collect();
        let _ = writeln!(
            out,
            "| `{}` ({}) | {} |",
            section.anchor,
            section.file,
            cells.join(" | ")
        );
    }
    let totals: Vec<String> = totals.iter().map(ToString::to_string).collect();
    let _ = writeln!(out, "| **all regions** | {} |", totals.join(" | "));

    let _ = writeln!(out, "\nCode lines of every file in `src/`:\n");
    header(&mut out, "file");
    let mut files = BTreeSet::new();
    for tier in &TIERS {
        files.extend(rust_files(&root.join(format!("crates/{}/src", tier.name))));
    }
    let mut totals = [0usize; 3];
    for file in &files {
        let counts = TIERS.map(|tier| {
            std::fs::read_to_string(root.join(format!("crates/{}/src/{file}", tier.name)))
                .ok()
                .map(|source| code_lines(&source))
        });
        for (total, count) in totals.iter_mut().zip(counts) {
            *total += count.unwrap_or(0);
        }
        let cells: Vec<String> = counts.into_iter().map(cell).collect();
        let _ = writeln!(out, "| `{file}` | {} |", cells.join(" | "));
    }
    let totals: Vec<String> = totals.iter().map(ToString::to_string).collect();
    let _ = writeln!(out, "| **all of `src/`** | {} |", totals.join(" | "));

    let _ = writeln!(
        out,
        "\nNames a student meets to write `get`, by `names_used`: in its body and the row \
         mapping it calls, then in the entity it reads through:\n"
    );
    let _ = writeln!(out, "| tier | `get` + mapping | names | entity | names |");
    let _ = writeln!(out, "| --- | ---: | --- | ---: | --- |");
    let listed = |names: &BTreeSet<String>| {
        let names: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
        if names.is_empty() {
            "–".to_owned()
        } else {
            names.join(" ")
        }
    };
    for tier in &TIERS {
        let (code, entity) = get_names(root, tier.name);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            tier.name,
            code.len(),
            listed(&code),
            entity.len(),
            listed(&entity)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_lines_skip_blanks_and_comments() {
        let source = "//! doc\n\n/// item doc\nfn a() {\n    // why\n    let x = 1; // tail\n}\n/* one\ntwo */\n";
        assert_eq!(code_lines(source), 3);
    }

    #[test]
    fn names_are_types_methods_paths_and_macros() {
        let code = "let row = client.query_opt(&SQL, &[&id]).await?;\n\
                    let m = User::find_by_id(id); // Ignored::here()\n\
                    sqlx::query_as!(UserRead, \"SELECT Hidden\", id);\n\
                    let t: Vec<u8> = Vec::new(); x != y;\n";
        let names: Vec<String> = names_used(code).into_iter().collect();
        assert_eq!(
            names,
            [
                "SQL",
                "User",
                "Vec",
                "find_by_id",
                "new",
                "query_as!",
                "query_opt"
            ]
        );
    }

    #[test]
    fn the_signature_is_not_the_body() {
        let region = "async fn get(\n    &self,\n) -> X {\n    body()\n}\n";
        assert_eq!(body_of(region), "    body()\n}");
    }
}
