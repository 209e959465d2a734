//! Where a tier's instructions go, from a callgrind profile: per middleware layer and
//! per library below the store (`scripts/profile-layers.sh`, `docs/profile.md`).
//!
//! The input is `callgrind_annotate`'s function table, one line per function:
//!
//! ```text
//! 1,234,567 (12.34%)  /root/.cargo/registry/src/index.crates.io-…/tower-http-0.7.0/src/trace/future.rs:<…>::poll [/…/tier-raw]
//! ```
//!
//! Two readings of one profile:
//!
//! * **Self cost by source file** ([`split_by_group`]): every instruction is counted
//!   once, in the file its code comes from. `callgrind_annotate` charges inlined code
//!   to the file it was written in (callgrind's `fi=` lines), so in a release build,
//!   where most futures are inlined into their callers, this still tells tower-http's
//!   trace code from hyper's or serde_json's. The groups sum to the total.
//! * **Inclusive cost per layer** ([`split_by_layer`]): a layer's `call` and its
//!   future's `poll`, each with everything they call, minus the same for the layer
//!   below. That is the layer's whole cost, the allocations and the log line it causes
//!   included, but only for layers whose functions survive inlining.
//!
//! All the patterns live in [`GROUPS`] and [`LAYERS`]; change them here only.

/// One line of the function table: its instructions and `file:function [object]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Instructions (self or inclusive, as `callgrind_annotate` was asked).
    pub instructions: u64,
    /// The source file (`???` when callgrind has no line table for the code).
    pub file: String,
    /// The function, with its generic arguments as the symbol names them.
    pub function: String,
    /// The binary or shared library the code lives in.
    pub object: String,
}

/// The table of a `callgrind_annotate` output: its `PROGRAM TOTALS` and its entries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Table {
    /// All instructions collected.
    pub total: u64,
    /// The functions, in the order listed (most costly first).
    pub entries: Vec<Entry>,
}

/// Parses `callgrind_annotate` output (valgrind 3.19's layout: the count with thousands
/// separators, a percentage in brackets, then `file:function [object]`).
pub fn parse_table(text: &str) -> Table {
    let mut table = Table::default();
    for line in text.lines() {
        let Some((count, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Ok(instructions) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        // Skip the percentage: "(12.34%)", padded with spaces inside the bracket.
        let Some((_, rest)) = rest.split_once(')') else {
            continue;
        };
        let rest = rest.trim();
        if rest == "PROGRAM TOTALS" {
            table.total = instructions;
            continue;
        }
        // The object is the last bracketed part; the file ends at the first colon
        // (paths have none; Rust function names have many).
        let (location, object) = match rest.rsplit_once(" [") {
            Some((location, object)) => (location, object.trim_end_matches(']')),
            None => (rest, ""),
        };
        let Some((file, function)) = location.split_once(':') else {
            continue;
        };
        table.entries.push(Entry {
            instructions,
            file: file.to_owned(),
            function: function.to_owned(),
            object: object.to_owned(),
        });
    }
    table
}

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

/// A layer of the stack, found by where its code is: each pattern is a
/// `(file, function)` pair of substrings of a table entry. `callgrind_annotate` lists a
/// function once for its own file and once per file inlined into it, each with the
/// cost of that file's lines and what they call; so `(file, "")` finds a layer's
/// code wherever the optimiser put it, and the four `from_fn` layers, whose functions
/// share one name, are told apart by their `async fn`'s file.
pub struct Layer {
    /// The row's name in the table.
    pub name: &'static str,
    /// The patterns whose (largest) inclusive costs add up to the layer's: the part
    /// that runs in `call` and the part that runs in its future's `poll`.
    pub functions: &'static [(&'static str, &'static str)],
}

/// The stack, outermost first, as `crates/users-api/src/app/mod.rs` builds it, then
/// the handler and the store below it. Each layer's cost includes the layers below
/// it: what runs in its `call` nests in the `call` of the layer above, what runs in
/// its future in the future above.
pub const LAYERS: &[Layer] = &[
    Layer {
        name: "connection task: hyper (HTTP/1 read, parse, write) + all below",
        functions: &[(
            "users-api/src/server/accept.rs",
            "serve_with::{{closure}}::{{closure}}",
        )],
    },
    Layer {
        name: "SetRequestId (MakeRequestUuid)",
        functions: &[
            (
                "src/request_id.rs",
                "SetRequestId<S,M> as tower_service::Service",
            ),
            ("src/trace/future.rs", "trace::future::ResponseFuture<"),
        ],
    },
    Layer {
        name: "Trace (span, log line on response)",
        functions: &[
            ("src/trace/service.rs", ""),
            ("src/trace/future.rs", "trace::future::ResponseFuture<"),
        ],
    },
    Layer {
        name: "PropagateRequestId (+ boxing problem_json's future)",
        functions: &[
            (
                "src/request_id.rs",
                "PropagateRequestId<S> as tower_service::Service",
            ),
            ("src/request_id.rs", "PropagateRequestIdResponseFuture<"),
        ],
    },
    Layer {
        name: "problem_json (from_fn)",
        functions: &[("users-api/src/app/mod.rs", "FromFn<")],
    },
    Layer {
        name: "drain_unread_body (from_fn)",
        functions: &[("users-api/src/unread_body.rs", "FromFn<")],
    },
    Layer {
        name: "check_limits (from_fn_with_state)",
        functions: &[("users-api/src/app/limits.rs", "FromFn<")],
    },
    Layer {
        name: "Timeout + axum routing, path extraction, handler glue",
        functions: &[("src/timeout/service.rs", "")],
    },
    Layer {
        name: "handler get_user (deadline, JSON response)",
        functions: &[("", "<F as axum::handler::Handler<")],
    },
    Layer {
        name: "store get_user (the tier, its library, the driver, pool)",
        functions: &[("crates/tier-", "")],
    },
];

/// One row of [`split_by_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerCost {
    /// [`Layer::name`].
    pub name: &'static str,
    /// Everything the layer's functions ran; `None` when none of them is in the
    /// profile (inlined into its caller).
    pub inclusive: Option<u64>,
    /// `inclusive` minus the next layer down that was found: the layer's own cost.
    pub exclusive: Option<u64>,
}

/// The inclusive cost of each [`LAYERS`] entry, from an `--inclusive=yes` table, and
/// what is left of it after the layer below.
pub fn split_by_layer(table: &Table) -> Vec<LayerCost> {
    let inclusive: Vec<Option<u64>> = LAYERS
        .iter()
        .map(|layer| layer_inclusive(table, layer))
        .collect();
    inclusive
        .iter()
        .enumerate()
        .map(|(at, own)| {
            let below = inclusive[at + 1..]
                .iter()
                .flatten()
                .next()
                .copied()
                .unwrap_or(0);
            LayerCost {
                name: LAYERS[at].name,
                inclusive: *own,
                exclusive: own.map(|own| own.saturating_sub(below)),
            }
        })
        .collect()
}

/// The sum, over a layer's function patterns, of the most costly function matching
/// each (several monomorphs of one generic share a name; the largest is the stack's).
fn layer_inclusive(table: &Table, layer: &Layer) -> Option<u64> {
    let found: Vec<u64> = layer
        .functions
        .iter()
        .filter_map(|(file, function)| {
            table
                .entries
                .iter()
                .filter(|entry| entry.file.contains(file) && entry.function.contains(function))
                .map(|entry| entry.instructions)
                .max()
        })
        .collect();
    (!found.is_empty()).then(|| found.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTRY: &str = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";

    /// A `callgrind_annotate` output of the layout valgrind 3.19 prints, shortened.
    fn sample() -> String {
        format!(
            "--------------------------------------------------------------------------------\n\
             Ir                 \n\
             --------------------------------------------------------------------------------\n\
             1,000,000 (100.0%)  PROGRAM TOTALS\n\
             \n\
             --------------------------------------------------------------------------------\n\
             Ir                file:function\n\
             --------------------------------------------------------------------------------\n\
             400,000 (40.00%)  {REGISTRY}/tower-http-0.7.0/src/trace/future.rs:<tower_http::trace::future::ResponseFuture<Fut,C,OnResponseT,OnBodyChunkT,OnEosT,OnFailureT> as core::future::future::Future>::poll [/t/tier-raw]\n\
             300,000 (30.00%)  crates/users-api/src/deadline.rs:<F as axum::handler::Handler<(M,T1,T2),S>>::call::{{{{closure}}}} [/t/tier-raw]\n\
             150,000 (15.00%)  {REGISTRY}/tower-http-0.7.0/src/request_id.rs:<tower_http::request_id::SetRequestId<S,M> as tower_service::Service<http::request::Request<ReqBody>>>::call [/t/tier-raw]\n\
             100,000 (10.00%)  ./malloc/./malloc/malloc.c:malloc [/usr/lib/x86_64-linux-gnu/libc.so.6]\n\
              50,000 ( 5.00%)  ???:0x000000000001ab70 [/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2]\n"
        )
    }

    #[test]
    fn parses_totals_and_every_function_line() {
        let table = parse_table(&sample());
        assert_eq!(table.total, 1_000_000);
        assert_eq!(table.entries.len(), 5);
        let first = &table.entries[0];
        assert_eq!(first.instructions, 400_000);
        assert!(first.file.ends_with("tower-http-0.7.0/src/trace/future.rs"));
        assert!(
            first
                .function
                .starts_with("<tower_http::trace::future::ResponseFuture<")
        );
        assert!(first.function.ends_with(">::poll"));
        assert_eq!(first.object, "/t/tier-raw");
        assert_eq!(table.entries[4].instructions, 50_000);
        assert_eq!(table.entries[4].file, "???");
    }

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

    #[test]
    fn a_layer_keeps_its_inclusive_cost_minus_the_next_layer_found() {
        let table = parse_table(&sample());
        let split = split_by_layer(&table);
        assert_eq!(split.len(), LAYERS.len());
        let row = |name: &str| split.iter().find(|row| row.name.starts_with(name)).cloned();
        let set_id = row("SetRequestId").expect("listed");
        // Its call (150,000) and the future it returns, Trace's (400,000), minus
        // Trace's: what SetRequestId's call does itself.
        assert_eq!(set_id.inclusive, Some(550_000));
        assert_eq!(set_id.exclusive, Some(150_000));
        let trace = row("Trace").expect("listed");
        assert_eq!(trace.exclusive, Some(400_000 - 300_000));
        // Not in the profile: inlined, so no figure rather than a wrong one.
        assert_eq!(row("Timeout").expect("listed").inclusive, None);
        assert_eq!(row("handler").expect("listed").exclusive, Some(300_000));
    }
}
