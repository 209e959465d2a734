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
//! All the patterns live in [`GROUPS`] (`groups.rs`) and [`LAYERS`] (`layers.rs`);
//! change them there only.

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

mod groups;
mod layers;

pub use groups::{GROUPS, Group, LIBC, UNKNOWN, group_of, locate, locate_function, split_by_group};
pub use layers::{LAYERS, Layer, LayerCost, split_by_layer};

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const REGISTRY: &str = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";

    /// A `callgrind_annotate` output of the layout valgrind 3.19 prints, shortened.
    pub(crate) fn sample() -> String {
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
}
