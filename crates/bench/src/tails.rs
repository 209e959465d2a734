//! Tails at a fixed rate: in each round, right after a tier's closed-loop `get`, the
//! same tier process is driven open-loop (`crate::loadgen::open_loop`) at each of
//! `--open-loop-levels` percent of the req/s it just measured, each for the run's
//! duration after a short warm-up.
//!
//! Taking the rate from the same round and the same process keeps the levels honest:
//! 80 % means 80 % of what this tier managed a moment ago on this machine, whatever
//! else the machine is doing today. [`after_get`] is the one call the rounds make.

use std::time::Duration;

use crate::cli::{Plan, TierLabel};
use crate::loadgen::{Window, open_loop};
use crate::report::TailRun;
use crate::tiers::TierProcess;
use crate::workload::Workload;

/// The open loop's warm-up: the tier is warm from its closed-loop run already, this
/// only lets the schedule reach its steady state.
const WARMUP: Duration = Duration::from_secs(1);

/// Drives `tier` (labelled `label`) open-loop in `get` at each of the plan's levels of
/// `get_rps`, the req/s its closed loop measured in `round`; returns one run per level.
/// A level that cannot run (a rate under one request a second, a failed run) is
/// reported on stderr and left out.
pub async fn after_get(
    tier: &TierProcess,
    plan: &Plan,
    round: usize,
    label: &TierLabel,
    get_rps: f64,
) -> Vec<TailRun> {
    let mut runs = Vec::new();
    for &level in &plan.open_loop_levels {
        let rate = get_rps * f64::from(level) / 100.0;
        if rate < 1.0 {
            eprintln!("bench: {label} open loop at {level} %: {rate:.1} req/s is too low to run");
            continue;
        }
        let window = Window::after(WARMUP.min(plan.warmup), plan.duration);
        let outcome = open_loop::run(
            tier.addr(),
            Workload::Get,
            plan.seeded(),
            plan.connections,
            rate,
            window,
        )
        .await;
        let result = match outcome {
            Ok(result) => result,
            Err(err) => {
                eprintln!("bench: {label} open loop at {level} %: {err:#}");
                continue;
            }
        };
        let quantile_ms = |q: f64| result.load.latency_us.value_at_quantile(q) as f64 / 1000.0;
        let run = TailRun {
            tier: label.clone(),
            level_percent: level,
            round,
            intended_rps: rate,
            achieved_rps: result.achieved_rps(),
            kept_up: result.kept_up(),
            requests: result.load.requests,
            late: result.late,
            unsent: result.unsent,
            errors: result.load.errors,
            error_samples: result.load.error_samples.clone(),
            p50_ms: quantile_ms(0.5),
            p99_ms: quantile_ms(0.99),
            p999_ms: quantile_ms(0.999),
            max_ms: result.load.latency_us.max() as f64 / 1000.0,
        };
        eprintln!(
            "bench: round {round}/{} {:<22} get at {level:>3} % {:>8} of {:>8} req/s{}  p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  late {}  errors {}",
            plan.rounds,
            label.as_str(),
            crate::report::thousands(run.achieved_rps),
            crate::report::thousands(run.intended_rps),
            if run.kept_up { "" } else { " (short)" },
            run.p50_ms,
            run.p99_ms,
            run.p999_ms,
            run.late,
            run.errors
        );
        runs.push(run);
    }
    runs
}
