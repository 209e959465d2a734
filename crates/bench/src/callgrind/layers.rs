//! The inclusive split: each layer of the middleware stack, found by where its code
//! is, and what is left of its inclusive cost after the layer below.

use super::Table;

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
    use crate::callgrind::parse_table;
    use crate::callgrind::tests::sample;

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
