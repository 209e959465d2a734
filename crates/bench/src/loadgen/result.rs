//! What a load run measures: the window that counts ([`Window`]) and the requests,
//! errors and latency histogram inside it ([`LoadResult`]).
//!
//! Latencies go into an HDR histogram (microseconds, 3 significant digits), which
//! keeps p99.9 exact to 0.1 % in a few kilobytes, however many requests there are;
//! each connection fills its own and the run merges them at the end.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// When the measured window is: responses completing in `start..end` count.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// End of the warm-up.
    pub start: Instant,
    /// End of the measurement; no request starts after it.
    pub end: Instant,
}

impl Window {
    /// A window that opens after `warmup` from now and lasts `duration`.
    pub fn after(warmup: Duration, duration: Duration) -> Self {
        let start = Instant::now() + warmup;
        Self {
            start,
            end: start + duration,
        }
    }
}

/// What one load run measured inside its window.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Successful requests that completed in the window.
    pub requests: u64,
    /// Failed requests (wrong status, transport error, timeout) in the window.
    pub errors: u64,
    /// The first few error descriptions, for the log.
    pub error_samples: Vec<String>,
    /// Latencies of the successful requests, in microseconds.
    pub latency_us: Histogram<u64>,
    /// The window's length.
    pub window: Duration,
}

impl LoadResult {
    /// Nothing measured yet in `window`; latencies will go into `latency_us`.
    pub fn empty(window: &Window, latency_us: Histogram<u64>) -> Self {
        Self {
            requests: 0,
            errors: 0,
            error_samples: Vec::new(),
            latency_us,
            window: window.end - window.start,
        }
    }

    /// Requests per second.
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64()
    }

    /// Adds one connection's figures to the run's total (keeping the first five error
    /// samples of all).
    pub fn merge(&mut self, part: LoadResult) -> anyhow::Result<()> {
        self.requests += part.requests;
        self.errors += part.errors;
        self.latency_us
            .add(&part.latency_us)
            .map_err(|err| anyhow::anyhow!("merging histograms: {err:?}"))?;
        for sample in part.error_samples {
            if self.error_samples.len() < 5 {
                self.error_samples.push(sample);
            }
        }
        Ok(())
    }

    /// Counts an error that happened `at`, if inside the window, and keeps its text
    /// among the first few.
    pub(super) fn note_error(&mut self, at: Instant, window: &Window, what: String) {
        if at >= window.start && at < window.end {
            self.errors += 1;
            if self.error_samples.len() < 5 {
                self.error_samples.push(what);
            }
        }
    }
}

/// A fresh latency histogram: 1 µs to 60 s, 3 significant digits.
pub fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .map_err(|err| anyhow::anyhow!("creating a histogram: {err:?}"))
}
