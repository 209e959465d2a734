//! The self-cost split: which crate, and which part of it, a table entry's code
//! belongs to, and the groups the table rows add up in.

use super::{Entry, Table};

/// The crate a source file belongs to, and the file's path inside it: the registry's
/// `NAME-VERSION/`, the workspace's `crates/NAME/`, or `std` for the standard library
/// (`/rustc/HASH/library/`).
pub fn locate(file: &str) -> Option<(&str, &str)> {
    if let Some((_, rest)) = file.split_once("/registry/src/") {
        // rest: "index.crates.io-HASH/tower-http-0.7.0/src/…"
        let (_, rest) = rest.split_once('/')?;
        let (dir, inside) = rest.split_once('/')?;
        // The version starts at the last '-' that is followed by a digit.
        let cut = dir
            .match_indices('-')
            .map(|(at, _)| at)
            .rfind(|at| dir[at + 1..].starts_with(|c: char| c.is_ascii_digit()))?;
        return Some((&dir[..cut], inside));
    }
    if let Some((_, inside)) = file.split_once("library/")
        && (file.contains("/rustc/") || file.starts_with("library/"))
    {
        return Some(("std", inside));
    }
    let (_, rest) = file.split_once("crates/")?;
    rest.split_once('/')
}

/// The crate of a function and its module path as a file path (`tower_http::trace::
/// future::X` gives `tower-http` and `src/trace/future/X`), for code whose file says
/// nothing: the standard library's generics inlined into it, or no line table.
/// `<F as Trait>::f` belongs to the trait's crate, `drop_in_place<T>` to `T`'s.
pub fn locate_function(function: &str) -> Option<(&'static str, String)> {
    let mut name = function.trim_start_matches('<');
    if let Some(rest) = name.strip_prefix("core::ptr::drop_in_place<") {
        name = rest.trim_start_matches('<');
    }
    let first = name.split("::").next()?;
    // A generic parameter (`F`, `S`) or a primitive: the trait after ` as ` says more.
    if !first.contains('_') && !first.chars().all(|c| c.is_ascii_lowercase()) || first.contains(' ')
    {
        let (_, after) = name.split_once(" as ")?;
        return locate_function(after);
    }
    let path: Vec<&str> = name.split(['<', ' ', '>']).next()?.split("::").collect();
    let krate = match path[0] {
        "core" | "alloc" | "std" => "std",
        other => GROUPS
            .iter()
            .flat_map(|group| group.patterns.iter())
            .map(|pattern| pattern.split('/').next().unwrap_or(pattern))
            .find(|known| known.replace('-', "_") == other)?,
    };
    Some((krate, format!("src/{}", path[1..].join("/"))))
}

/// A group of the self-cost split: a name, and the crates (optionally narrowed to a
/// part of their source) whose code belongs to it. The first group that matches wins.
pub struct Group {
    /// The row's name in the table.
    pub name: &'static str,
    /// `crate` or `crate/path-prefix` (the path inside the crate, as in `src/trace/`).
    pub patterns: &'static [&'static str],
}

/// The self-cost groups, in stack order (outermost layer first, then the tier's
/// libraries, then what everything shares). Narrow patterns before wide ones.
pub const GROUPS: &[Group] = &[
    Group {
        name: "hyper: HTTP/1 parse + write (hyper, http, httparse)",
        patterns: &[
            "hyper",
            "hyper-util",
            "http",
            "httparse",
            "http-body",
            "http-body-util",
        ],
    },
    Group {
        name: "layer SetRequestId + PropagateRequestId",
        patterns: &["tower-http/src/request_id"],
    },
    Group {
        name: "  request id: UUID v4 (uuid, rand, getrandom)",
        patterns: &[
            "uuid",
            "getrandom",
            "rand",
            "rand_core",
            "rand_chacha",
            "ppv-lite86",
        ],
    },
    Group {
        name: "layer Trace (tower-http trace)",
        patterns: &["tower-http/src/trace/", "tower-http/src/classify/"],
    },
    Group {
        name: "  span + log line (tracing, tracing-subscriber)",
        patterns: &[
            "tracing",
            "tracing-core",
            "tracing-subscriber",
            "sharded-slab",
            "thread_local",
            "nu-ansi-term",
        ],
    },
    Group {
        name: "layer problem_json (users-api app/mod.rs)",
        patterns: &["users-api/src/app/mod.rs", "users-api/src/app/problem_json"],
    },
    Group {
        name: "layer drain_unread_body",
        patterns: &["users-api/src/unread_body"],
    },
    Group {
        name: "layer check_limits (limits.rs)",
        patterns: &["users-api/src/app/limits"],
    },
    Group {
        name: "  from_fn plumbing (axum middleware)",
        patterns: &["axum/src/middleware/"],
    },
    Group {
        name: "layer Timeout (tower-http timeout)",
        patterns: &["tower-http/src/timeout"],
    },
    Group {
        name: "axum routing + extraction (axum, matchit, tower)",
        patterns: &[
            "axum",
            "axum-core",
            "matchit",
            "tower",
            "tower-layer",
            "tower-service",
            "tower-http",
            "users-api/src/extract",
        ],
    },
    Group {
        name: "JSON (serde_json, serde, itoa, ryu)",
        patterns: &["serde_json", "serde", "serde_core", "itoa", "ryu"],
    },
    Group {
        name: "handler + store trait (users-api)",
        patterns: &["users-api"],
    },
    Group {
        name: "tier store (crates/tier-*)",
        patterns: &["tier-raw", "tier-sqlx", "tier-orm"],
    },
    Group {
        name: "SeaORM",
        patterns: &["sea-orm"],
    },
    Group {
        name: "sea-query",
        patterns: &["sea-query", "sea-query-sqlx", "sea-query-binder"],
    },
    Group {
        name: "sqlx",
        patterns: &["sqlx", "sqlx-core", "sqlx-postgres"],
    },
    Group {
        name: "tokio-postgres + postgres-protocol",
        patterns: &["tokio-postgres", "postgres-protocol", "postgres-types"],
    },
    Group {
        name: "pool (deadpool)",
        patterns: &["deadpool", "deadpool-postgres", "deadpool-runtime"],
    },
    Group {
        name: "chrono (timestamps)",
        patterns: &["chrono"],
    },
    Group {
        name: "tokio runtime (scheduler, I/O, timers) + futures",
        patterns: &[
            "tokio",
            "tokio-util",
            "tokio-stream",
            "mio",
            "futures-util",
            "futures-core",
            "futures-channel",
            "futures-intrusive",
            "parking_lot",
            "parking_lot_core",
            "event-listener",
            "crossbeam-queue",
            "crossbeam-utils",
        ],
    },
    Group {
        name: "bytes, hashing, small crates",
        patterns: &[
            "bytes",
            "hashbrown",
            "indexmap",
            "smallvec",
            "memchr",
            "foldhash",
        ],
    },
    Group {
        name: "Rust std (inlined generics: Vec, fmt, Arc, ...)",
        patterns: &["std"],
    },
];

/// The row for code in libc (malloc, free, memcpy, the syscall wrappers).
pub const LIBC: &str = "libc: malloc/free, memcpy, syscall wrappers";
/// The row for code with no line table (the start of a binary, valgrind's glue).
pub const UNKNOWN: &str = "no line table (???) or other crates";

/// Whether `pattern` (`crate` or `crate/path-prefix`) matches a file of `krate` at
/// `inside` (the path inside the crate).
fn matches(pattern: &str, krate: &str, inside: &str) -> bool {
    match pattern.split_once('/') {
        None => pattern == krate,
        Some((name, prefix)) => name == krate && inside.starts_with(prefix),
    }
}

/// The group an entry's code belongs to.
pub fn group_of(entry: &Entry) -> &'static str {
    if entry.object.contains("libc.so") || entry.object.contains("libm.so") {
        return LIBC;
    }
    // Code of the standard library inlined into a function (a Vec's push, a drop, a
    // formatter) and code with no line table belong to that function's crate.
    let located = locate(&entry.file).filter(|(krate, _)| *krate != "std");
    let Some((krate, inside)) = located
        .map(|(krate, inside)| (krate, inside.to_owned()))
        .or_else(|| locate_function(&entry.function))
    else {
        return UNKNOWN;
    };
    GROUPS
        .iter()
        .find(|group| group.patterns.iter().any(|p| matches(p, krate, &inside)))
        .map_or(UNKNOWN, |group| group.name)
}

/// Self cost per group, in [`GROUPS`] order, then libc and the rest; groups with no
/// instructions are left out.
pub fn split_by_group(table: &Table) -> Vec<(&'static str, u64)> {
    let names = GROUPS.iter().map(|g| g.name).chain([LIBC, UNKNOWN]);
    names
        .map(|name| {
            let sum = table
                .entries
                .iter()
                .filter(|entry| group_of(entry) == name)
                .map(|entry| entry.instructions)
                .sum();
            (name, sum)
        })
        .filter(|(_, sum)| *sum > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callgrind::parse_table;
    use crate::callgrind::tests::{REGISTRY, sample};

    #[test]
    fn locates_registry_workspace_and_std_files() {
        let file = format!("{REGISTRY}/tower-http-0.7.0/src/trace/future.rs");
        assert_eq!(locate(&file), Some(("tower-http", "src/trace/future.rs")));
        let file = format!("{REGISTRY}/sea-query-sqlx-0.9.0-rc.1/src/lib.rs");
        assert_eq!(locate(&file), Some(("sea-query-sqlx", "src/lib.rs")));
        assert_eq!(
            locate("crates/users-api/src/app/mod.rs"),
            Some(("users-api", "src/app/mod.rs"))
        );
        assert_eq!(
            locate("/rustc/0123abcd/library/alloc/src/vec/mod.rs"),
            Some(("std", "alloc/src/vec/mod.rs"))
        );
        assert_eq!(locate("???"), None);
        assert_eq!(locate("./malloc/./malloc/malloc.c"), None);
    }

    #[test]
    fn a_function_names_its_crate_when_its_file_does_not() {
        let of = |function: &str| locate_function(function);
        assert_eq!(
            of(
                "<tower_http::trace::future::ResponseFuture<Fut,C> as core::future::future::Future>::poll"
            ),
            Some(("tower-http", "src/trace/future/ResponseFuture".to_owned()))
        );
        // A generic parameter: the trait's crate.
        assert_eq!(
            of("<F as tower_http::trace::make_span::MakeSpan<B>>::make_span").map(|(k, _)| k),
            Some("tower-http")
        );
        // Drop glue belongs to the type dropped.
        assert_eq!(
            of("core::ptr::drop_in_place<axum::middleware::from_fn::FromFn<F>>"),
            Some(("axum", "src/middleware/from_fn/FromFn".to_owned()))
        );
        assert_eq!(
            of("alloc::raw_vec::finish_grow").map(|(k, _)| k),
            Some("std")
        );
        assert_eq!(of("0x000000000001ab70"), None);
    }

    #[test]
    fn groups_by_crate_and_by_path_inside_it() {
        let entry = |file: String, object: &str| Entry {
            instructions: 1,
            file,
            function: "f".to_owned(),
            object: object.to_owned(),
        };
        let of = |file: String| group_of(&entry(file, "/t/tier-raw"));
        assert_eq!(
            of(format!("{REGISTRY}/tower-http-0.7.0/src/trace/future.rs")),
            GROUPS[3].name
        );
        assert_eq!(
            of(format!("{REGISTRY}/tower-http-0.7.0/src/request_id.rs")),
            GROUPS[1].name
        );
        // tower-http code outside the layers' files is axum's and tower's plumbing.
        assert!(of(format!("{REGISTRY}/tower-http-0.7.0/src/body.rs")).starts_with("axum routing"));
        assert!(of("crates/users-api/src/app/mod.rs".to_owned()).contains("problem_json"));
        assert!(of("crates/users-api/src/routes.rs".to_owned()).starts_with("handler"));
        assert_eq!(
            of(format!("{REGISTRY}/sea-query-0.32.0/src/query/select.rs")),
            "sea-query"
        );
        assert_eq!(
            of(format!("{REGISTRY}/sqlx-postgres-0.9.0/src/lib.rs")),
            "sqlx"
        );
        assert_eq!(
            group_of(&entry("./malloc/malloc.c".to_owned(), "/lib/libc.so.6")),
            LIBC
        );
        assert_eq!(of("???".to_owned()), UNKNOWN);
        // Inlined standard library code counts for the function it is inlined into.
        let inlined = Entry {
            instructions: 1,
            file: "/rustc/0123/library/alloc/src/vec/mod.rs".to_owned(),
            function: "tracing_subscriber::fmt::format::Writer::write_str".to_owned(),
            object: "/t/tier-raw".to_owned(),
        };
        assert_eq!(group_of(&inlined), GROUPS[4].name);
    }

    #[test]
    fn the_groups_add_up_to_the_total() {
        let table = parse_table(&sample());
        let split = split_by_group(&table);
        assert_eq!(split.iter().map(|(_, n)| n).sum::<u64>(), table.total);
        assert!(split.contains(&(LIBC, 100_000)));
        assert!(split.contains(&(UNKNOWN, 50_000)));
    }
}
