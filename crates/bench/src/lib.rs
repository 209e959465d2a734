//! # bench: the three tiers, measured side by side
//!
//! `cargo run -p bench --release -- --quick` (under a minute) or without `--quick`
//! for the full run. It seeds a dedicated database, starts each tier's release binary
//! as a child process, drives it over HTTP with a closed-loop load generator (and then
//! at fixed rates, open loop, for tails free of coordinated omission), asks
//! pgbench what the database alone can do, counts the PostgreSQL protocol round trips
//! one request costs in each tier, and writes a report. `cargo bench -p bench` runs
//! the store-level benches (`benches/stores.rs`): each store called directly, no HTTP.
//!
//! Module map, in the order a run uses them:
//!
//! * [`run`]: the whole run, step by step; the binary (`src/main.rs`) only calls it.
//! * [`cli`]: the options, and the plan they resolve to (`--quick` shortens it);
//!   [`cli::database_url`] is the one place that decides the database's URL.
//! * [`workload`]: the kinds of traffic, half of every result's key.
//! * [`machine`]: what machine this is, for the report's header.
//! * [`seed`]: the bench database, recreated and filled with users and their posts by
//!   `generate_series`.
//! * [`pgbench`]: the database's own ceilings for the `get` query.
//! * [`tiers`]: building, starting and stopping a tier; its CPU time and peak RSS.
//! * [`fastapi`]: `--fastapi`, the course's FastAPI originals as rows: their virtual
//!   environment, and the CPU and memory of a server of several processes.
//! * [`pooler`]: where a tier row connects: the database, or a PgBouncer of its own
//!   (`--pooler`).
//! * [`rounds`]: the timed rounds, one tier alive at a time, and where the CPU went;
//!   [`server_cpu`]: PostgreSQL's and PgBouncer's CPU, whole processes from `/proc`.
//! * [`loadgen`]: the HTTP load generator (HTTP/1.1 written on the socket, parsed by
//!   httparse; HDR histograms), closed loop and open loop (a fixed rate); [`tails`]:
//!   the open-loop runs after each tier's `get`.
//! * [`wrk`]: wrk run in the same rounds, its output parsed, its CPU time read.
//! * [`export`]: the `export` workload: whole exports, lines counted, the tier's
//!   resident memory sampled while they stream.
//! * [`wire_cost`]: each tier behind the counting proxy: round trips per request.
//! * [`proxy`]: a TCP proxy that parses the PostgreSQL wire protocol and counts
//!   messages and round trips: the explanation of the gaps between tiers.
//! * [`report`]: the report assembled from the results (keyed by tier label and
//!   workload), medians over rounds, targets, Markdown, `report.json`.
//! * [`chart`]: the SVG chart of throughput and p99.
//! * [`figures`]: not part of a run: `cargo run -p bench --bin figures` writes the
//!   README's and the slides' comparison tables from a committed `report.json`.
//! * [`callgrind`]: not part of a run: `scripts/profile-layers.sh`'s reading of a
//!   callgrind profile, per middleware layer and per library (`docs/profile.md`).
//! * [`soak`]: `--soak SECONDS`, a steady mixed load per tier instead of the rounds,
//!   sampling memory, file descriptors and database sessions minute by minute.

pub mod callgrind;
pub mod chart;
pub mod cli;
pub mod export;
pub mod fastapi;
pub mod figures;
pub mod loadgen;
pub mod machine;
pub mod pgbench;
pub mod pooler;
pub mod proxy;
pub mod report;
pub mod rounds;
pub mod run;
pub mod seed;
pub mod server_cpu;
pub mod soak;
pub mod tails;
pub mod tiers;
pub mod wire_cost;
pub mod workload;
pub mod wrk;
