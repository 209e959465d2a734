//! The figures of a run: what one tier did in one workload in one round
//! ([`RunFigures`]), their summary over rounds ([`Summary`]), and the report's cell
//! that holds both ([`Cell`]), filed under a [`CellKey`].
//!
//! Each column's summary is the **median** over rounds, taken column by column, so one
//! slow round (another process woke up) cannot decide a comparison; errors are
//! **summed** (an error is never noise to hide), and peak RSS is the **maximum** (a
//! peak is a peak). CPU times become "ms per 1,000 requests" round by round, before
//! the median, so a round with fewer requests does not look cheaper.

use serde::{Deserialize, Serialize};

use crate::cli::TierLabel;
use crate::proxy::PerRequest;
use crate::workload::Workload;

/// Where a result is filed: which tier row, which workload. Results are looked up by
/// name with it (`runs[&CellKey::new(&spec.label, workload)]`), never by position, so
/// a tier left out of a run cannot shift another tier's figures.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    /// The tier row's label.
    pub tier: TierLabel,
    /// The workload.
    pub workload: Workload,
}

impl CellKey {
    /// The key of `tier` in `workload`.
    pub fn new(tier: &TierLabel, workload: Workload) -> Self {
        Self {
            tier: tier.clone(),
            workload,
        }
    }
}

/// What one tier did in one workload in one round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunFigures {
    /// 1-based round.
    pub round: usize,
    /// Successful requests in the window.
    pub requests: u64,
    /// Successful requests per second.
    pub rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// 99.9th percentile latency, ms.
    pub p999_ms: f64,
    /// Slowest request, ms.
    pub max_ms: f64,
    /// Failed requests in the window.
    pub errors: u64,
    /// The first few errors, to diagnose them.
    pub error_samples: Vec<String>,
    /// The tier's peak resident memory during the workload, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// The tier's CPU time in the window, ms (user + system, all threads).
    pub cpu_ms: Option<f64>,
    /// The load generator's own CPU time in the window, ms.
    pub loadgen_cpu_ms: Option<f64>,
    /// CPU time of the database's server processes serving the tier, ms.
    pub db_cpu_ms: Option<f64>,
    /// CPU time of the whole machine (every process, every core), ms.
    pub machine_cpu_ms: Option<f64>,
    /// How busy the machine was: `machine_cpu_ms` over the window times the cores, %.
    pub machine_busy_percent: Option<f64>,
    /// CPU time of every `postgres` process of the machine but the backends of other
    /// databases, ms (`crate::server_cpu`).
    pub postgres_cpu_ms: Option<f64>,
    /// CPU time of the row's own PgBouncer, ms (only for a row through PgBouncer).
    pub pgbouncer_cpu_ms: Option<f64>,
}

impl RunFigures {
    /// The tier's CPU time per 1,000 successful requests, ms.
    pub fn cpu_ms_per_1k(&self) -> Option<f64> {
        per_1k(self.cpu_ms, self.requests)
    }
}

/// `ms` spent on `requests` requests, per 1,000 of them (`None` without requests).
fn per_1k(ms: Option<f64>, requests: u64) -> Option<f64> {
    ms.filter(|_| requests > 0)
        .map(|ms| ms * 1000.0 / requests as f64)
}

/// The summary of one tier and workload over all rounds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Median requests per second.
    pub rps: f64,
    /// Median p50, ms.
    pub p50_ms: f64,
    /// Median p99, ms.
    pub p99_ms: f64,
    /// Median p99.9, ms.
    pub p999_ms: f64,
    /// Errors, summed over rounds.
    pub errors: u64,
    /// Highest peak RSS over rounds, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Median CPU ms per 1,000 requests.
    pub cpu_ms_per_1k: Option<f64>,
    /// Median load-generator CPU ms per 1,000 requests.
    pub loadgen_cpu_ms_per_1k: Option<f64>,
    /// Median database-server CPU ms per 1,000 requests.
    pub db_cpu_ms_per_1k: Option<f64>,
    /// Median whole-machine CPU ms per 1,000 requests.
    pub machine_cpu_ms_per_1k: Option<f64>,
    /// Median share of the machine's cores that were busy, %.
    pub machine_busy_percent: Option<f64>,
    /// Median CPU ms of every `postgres` process per 1,000 requests (= µs per request).
    pub postgres_cpu_ms_per_1k: Option<f64>,
    /// Median PgBouncer CPU ms per 1,000 requests (= µs per request).
    pub pgbouncer_cpu_ms_per_1k: Option<f64>,
}

impl Summary {
    /// Summarises the rounds (all zeros if there are none).
    pub fn of(runs: &[RunFigures]) -> Self {
        let median_of = |f: fn(&RunFigures) -> f64| median(runs.iter().map(f).collect());
        let median_opt = |f: &dyn Fn(&RunFigures) -> Option<f64>| {
            let values: Vec<f64> = runs.iter().filter_map(f).collect();
            (!values.is_empty()).then(|| median(values))
        };
        Self {
            rps: median_of(|r| r.rps),
            p50_ms: median_of(|r| r.p50_ms),
            p99_ms: median_of(|r| r.p99_ms),
            p999_ms: median_of(|r| r.p999_ms),
            errors: runs.iter().map(|r| r.errors).sum(),
            peak_rss_bytes: runs.iter().filter_map(|r| r.peak_rss_bytes).max(),
            cpu_ms_per_1k: median_opt(&|r| r.cpu_ms_per_1k()),
            loadgen_cpu_ms_per_1k: median_opt(&|r| per_1k(r.loadgen_cpu_ms, r.requests)),
            db_cpu_ms_per_1k: median_opt(&|r| per_1k(r.db_cpu_ms, r.requests)),
            machine_cpu_ms_per_1k: median_opt(&|r| per_1k(r.machine_cpu_ms, r.requests)),
            machine_busy_percent: median_opt(&|r| r.machine_busy_percent),
            postgres_cpu_ms_per_1k: median_opt(&|r| per_1k(r.postgres_cpu_ms, r.requests)),
            pgbouncer_cpu_ms_per_1k: median_opt(&|r| per_1k(r.pgbouncer_cpu_ms, r.requests)),
        }
    }
}

/// The median (the mean of the middle two for an even count; 0 for none).
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// One tier in one workload: every round, the summary, and the round trips.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    /// The tier row's label.
    pub tier: TierLabel,
    /// The workload.
    pub workload: Workload,
    /// Every round's figures.
    pub runs: Vec<RunFigures>,
    /// Medians over the rounds.
    pub summary: Summary,
    /// Protocol messages and round trips per request, through the proxy, one request
    /// at a time: what one request costs.
    pub round_trips: Option<PerRequest>,
    /// The same with every connection busy (a short window through the proxy): below
    /// the sequential figure when a tier shares connections between requests.
    pub round_trips_under_load: Option<PerRequest>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::run;

    #[test]
    fn medians_are_per_column_errors_summed_peaks_maxed() {
        let runs = vec![run(1, 100.0, 1.0), run(2, 300.0, 5.0), run(3, 200.0, 3.0)];
        let s = Summary::of(&runs);
        assert_eq!(s.rps, 200.0);
        assert_eq!(s.p50_ms, 3.0);
        assert_eq!(s.errors, 3);
        assert_eq!(s.peak_rss_bytes, Some(30_000_000));
        assert_eq!(s.cpu_ms_per_1k, Some(50.0));
        assert_eq!(median(vec![4.0, 1.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(Summary::of(&[]).rps, 0.0);
    }
}
