//! What one request costs on the wire to PostgreSQL: each tier is started once more
//! behind the counting proxy ([`crate::proxy`]), and a few hundred sequential requests
//! per workload give the protocol messages and round trips one request costs.
//!
//! These counts explain the gaps between tiers that the timings only show: a tier
//! that needs two round trips per request waits twice as often for the database.
//! The export is counted once, whole: its round trips are those of its batches of rows.
//! They are taken after the timed rounds, never during them, because the proxy adds
//! its own latency and CPU.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::cli::{Plan, TierSpec};
use crate::loadgen::{self, Window};
use crate::pooler::Upstream;
use crate::proxy::{PerRequest, Proxy};
use crate::report::CellKey;
use crate::tiers::TierProcess;
use crate::workload::Workload;
use crate::{export, seed};

/// What the proxy measured for one workload: one request at a time, and under load.
#[derive(Debug, Clone)]
pub struct WireCost {
    /// One request at a time: what one request costs.
    pub sequential: PerRequest,
    /// With every connection busy, if counted for this workload.
    pub under_load: Option<PerRequest>,
}

/// Every tier's wire costs, filed by tier label and workload, and what failed.
#[derive(Debug, Clone, Default)]
pub struct WireCosts {
    /// Per tier and workload.
    pub per_cell: BTreeMap<CellKey, WireCost>,
    /// One line per tier whose counts failed (the others are still counted).
    pub failures: Vec<String>,
}

/// Counts the wire costs of every tier in `tiers`, one tier at a time; a tier whose
/// counts fail is noted in [`WireCosts::failures`] and the next one is counted.
pub async fn count_all(plan: &Plan, tiers: &[TierSpec], db: &tokio_postgres::Client) -> WireCosts {
    let mut costs = WireCosts::default();
    // The FastAPI stacks' round trips are in baseline/fastapi/README.md (counted by
    // PostgreSQL's own statistics): the proxy counts the tiers'.
    for spec in tiers.iter().filter(|spec| spec.stack().is_none()) {
        match count_round_trips(spec, plan, db).await {
            Ok(counts) => {
                for (workload, cost) in counts {
                    costs
                        .per_cell
                        .insert(CellKey::new(&spec.label, workload), cost);
                }
            }
            Err(err) => costs
                .failures
                .push(format!("round trips of {}: {err:#}", spec.label)),
        }
    }
    costs
}

/// Starts `spec` behind the counting proxy and measures every workload's messages and
/// round trips per request: first one request at a time (the cost of one request, the
/// definition), then with all connections busy for a short window, where a tier that
/// shares connections (the pipelined mode) needs fewer round trips than requests.
async fn count_round_trips(
    spec: &TierSpec,
    plan: &Plan,
    db: &tokio_postgres::Client,
) -> anyhow::Result<Vec<(Workload, WireCost)>> {
    // Behind PgBouncer the proxy sits between the tier and PgBouncer: it counts the
    // round trips the tier waits for, as it does for a direct row, each of which now
    // crosses PgBouncer too (see `crate::pooler`).
    let upstream = Upstream::start(spec, &plan.bench_db, &plan.env).await?;
    let proxy = Proxy::start(upstream.address()).await?;
    let url = proxy.url_through(upstream.database())?;
    let tier = match TierProcess::start(spec, &url, &plan.env).await {
        Ok(tier) => tier,
        Err(err) => {
            upstream.stop().await;
            return Err(err);
        }
    };
    let requests = plan.round_trip_requests;
    // Enough warm-up to open the connections the pool keeps and prepare every statement.
    let warmup = (requests / 4).max(20);
    let settle = Duration::from_millis(100);
    let mut out = Vec::new();
    for workload in &plan.workloads {
        if !workload.request_rate() {
            let cost = count_export(&tier, &proxy, plan).await?;
            eprintln!(
                "bench: {:<22} {:<10} {:.0} round trips, {:.0} + {:.0} messages per export",
                spec.label.as_str(),
                workload.name(),
                cost.sequential.round_trips,
                cost.sequential.client_messages,
                cost.sequential.server_messages
            );
            out.push((*workload, cost));
            continue;
        }
        for part in workload.parts() {
            loadgen::run_sequential(tier.addr(), part, plan.seeded(), warmup).await?;
        }
        // Lets work a tier does after answering (sqlx's ping on release) land
        // before the snapshot rather than after it.
        tokio::time::sleep(settle).await;
        let before = proxy.snapshot();
        let failed =
            loadgen::run_sequential(tier.addr(), *workload, plan.seeded(), requests).await?;
        tokio::time::sleep(settle).await;
        let counts = proxy.snapshot().since(&before);
        anyhow::ensure!(
            failed == 0,
            "{failed} of {requests} {} requests failed; the tier logged:\n{}{}",
            workload.name(),
            tier.log_tail(),
            match upstream.log_tail() {
                log if log.is_empty() => String::new(),
                log => format!("\nPgBouncer logged:\n{log}"),
            }
        );
        let sequential = PerRequest::new(&counts, requests);
        let under_load = if plan.round_trip_load.contains(workload) {
            Some(count_under_load(&tier, &proxy, *workload, plan).await?)
        } else {
            None
        };
        eprintln!(
            "bench: {:<22} {:<10} {:.2} round trips, {:.2} + {:.2} messages per request{}",
            spec.label.as_str(),
            workload.name(),
            sequential.round_trips,
            sequential.client_messages,
            sequential.server_messages,
            under_load.as_ref().map_or(String::new(), |l| format!(
                "; {:.2} round trips under load",
                l.round_trips
            ))
        );
        out.push((
            *workload,
            WireCost {
                sequential,
                under_load,
            },
        ));
        if workload.writes() {
            seed::tidy(db, plan.seeded()).await?;
        }
    }
    tier.stop().await?;
    drop(proxy);
    upstream.stop().await;
    Ok(out)
}

/// The messages and round trips of one whole export (no warm-up: an export is seconds
/// long, and what one statement's preparation adds is lost in its batches).
async fn count_export(tier: &TierProcess, proxy: &Proxy, plan: &Plan) -> anyhow::Result<WireCost> {
    let before = proxy.snapshot();
    let read = export::read_export(tier.addr()).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let counts = proxy.snapshot().since(&before);
    anyhow::ensure!(
        read.lines == plan.rows,
        "an export through the proxy brought {} lines, expected {}",
        read.lines,
        plan.rows
    );
    Ok(WireCost {
        sequential: PerRequest::new(&counts, 1),
        under_load: None,
    })
}

/// Round trips per request with every connection busy: the proxy's counters are read
/// at both ends of a short window and divided by the requests completed in it.
async fn count_under_load(
    tier: &TierProcess,
    proxy: &Proxy,
    workload: Workload,
    plan: &Plan,
) -> anyhow::Result<PerRequest> {
    let window = Window::after(Duration::from_millis(300), Duration::from_secs(1));
    let sampler = async {
        tokio::time::sleep_until(window.start.into()).await;
        let before = proxy.snapshot();
        tokio::time::sleep_until(window.end.into()).await;
        proxy.snapshot().since(&before)
    };
    let (load, counts) = tokio::join!(
        loadgen::run(
            tier.addr(),
            workload,
            plan.seeded(),
            plan.connections,
            window
        ),
        sampler
    );
    let load = load?;
    anyhow::ensure!(
        load.requests > 0 && load.errors == 0,
        "{} under load through the proxy: {} requests, {} errors",
        workload.name(),
        load.requests,
        load.errors
    );
    Ok(PerRequest::new(&counts, load.requests as usize))
}
