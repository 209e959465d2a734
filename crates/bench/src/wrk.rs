//! wrk, the reference load generator, run against the same warm tier in the same
//! rounds as the bench's own generator, so the report can show both side by side.
//!
//! After the bench's `get` run of each tier in each round, when `wrk` is on `PATH`
//! (Debian's package) and `--no-wrk` was not given, the rounds run
//! `wrk -t1 -cC -dDs --latency -s baseline/fastapi/random_id.lua URL` with
//! `MAX_ID=<rows>`: one thread, the same connections and window, random
//! `GET /users/{id}` over the seeded ids, as the `get` workload does. This module
//! runs it, parses what it prints ([`parse`], tested on captured output), and records
//! its CPU time: the process is waited for without being reaped (`waitid` with
//! `WNOWAIT`), so its `/proc/PID/stat` still holds its final user and system time.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;

/// What the report says when wrk is missing.
pub const NOT_INSTALLED: &str = "wrk not installed (apt-get install wrk)";

/// The Lua script that makes wrk send the `get` workload's requests.
pub const SCRIPT: &str = "baseline/fastapi/random_id.lua";

/// One wrk run, as parsed from its output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WrkRun {
    /// The round it ran in.
    pub round: usize,
    /// Requests completed (any status).
    pub requests: u64,
    /// `Requests/sec`.
    pub rps: f64,
    /// Latency at 50 %, ms.
    pub p50_ms: f64,
    /// Latency at 75 %, ms.
    pub p75_ms: f64,
    /// Latency at 90 %, ms.
    pub p90_ms: f64,
    /// Latency at 99 %, ms.
    pub p99_ms: f64,
    /// `Non-2xx or 3xx responses`.
    pub non_2xx: u64,
    /// Socket errors: connect, read, write and timeout, summed.
    pub socket_errors: u64,
    /// wrk's own CPU time (user + system), ms, if it could be read.
    pub cpu_ms: Option<f64>,
}

impl WrkRun {
    /// wrk's CPU ms per 1,000 requests.
    pub fn cpu_ms_per_1k(&self) -> Option<f64> {
        self.cpu_ms
            .filter(|_| self.requests > 0)
            .map(|ms| ms * 1000.0 / self.requests as f64)
    }
}

/// Whether `wrk` is on `PATH`.
pub fn installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("wrk").is_file()))
}

/// Runs wrk against `addr` for `duration` with `connections` connections, ids in
/// `1..=max_id`; `root` is the workspace (where the Lua script lives).
pub async fn run(
    root: &Path,
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    max_id: u64,
    round: usize,
) -> anyhow::Result<WrkRun> {
    // wrk's -d takes whole seconds (or minutes, hours): round, at least 1 s.
    let seconds = duration.as_secs_f64().round().max(1.0) as u64;
    let mut child = tokio::process::Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .arg("--latency")
        .arg("-s")
        .arg(root.join(SCRIPT))
        .arg(format!("http://{addr}"))
        .env("MAX_ID", max_id.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting wrk")?;
    let pid = child.id().context("wrk has no pid")?;
    let mut stdout = child.stdout.take().context("wrk's stdout")?;
    let mut stderr = child.stderr.take().context("wrk's stderr")?;
    let (mut out, mut err) = (String::new(), String::new());
    let reading = async {
        tokio::try_join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err)
        )
    };
    let limit = duration + Duration::from_secs(30);
    tokio::time::timeout(limit, reading)
        .await
        .context("wrk did not finish")??;
    let cpu_ms = cpu_at_exit(pid).await;
    let status = child.wait().await?;
    anyhow::ensure!(status.success(), "wrk failed ({status}): {}", err.trim());
    let mut parsed = parse(&out).with_context(|| format!("reading wrk's output:\n{out}"))?;
    parsed.round = round;
    parsed.cpu_ms = cpu_ms;
    Ok(parsed)
}

/// Waits for `pid` to exit without reaping it, and reads its CPU time (ms) from its
/// `/proc/PID/stat`, which a zombie keeps until it is reaped.
async fn cpu_at_exit(pid: u32) -> Option<f64> {
    // Blocking, so on a thread of its own; `None` if waiting failed.
    tokio::task::spawn_blocking(move || {
        use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};
        let pid = Pid::from_raw(i32::try_from(pid).ok()?)?;
        waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        )
        .ok()
    })
    .await
    .ok()??;
    let cpu = crate::tiers::process_cpu_time(pid).ok()?;
    Some(cpu.as_secs_f64() * 1000.0)
}

/// Parses wrk's `--latency` output. The percentiles, requests, `Requests/sec` are
/// required; `Non-2xx or 3xx responses` and `Socket errors` appear only when nonzero.
pub fn parse(output: &str) -> anyhow::Result<WrkRun> {
    let mut run = WrkRun::default();
    let (mut seen_rps, mut seen_requests) = (false, false);
    let mut percentiles = [None; 4];
    for line in output.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            run.rps = rest.trim().parse().context("Requests/sec")?;
            seen_rps = true;
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            run.non_2xx = rest.trim().parse().context("Non-2xx")?;
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for part in rest.split(',') {
                let count = part.split_whitespace().nth(1).context("Socket errors")?;
                run.socket_errors += count.parse::<u64>().context("Socket errors")?;
            }
        } else if let Some((count, rest)) = line.split_once(" requests in ") {
            if !rest.is_empty() {
                run.requests = count.trim().parse().context("requests")?;
                seen_requests = true;
            }
        } else if let Some((percent, value)) = line.split_once('%') {
            let slot = match percent.trim() {
                "50" => 0,
                "75" => 1,
                "90" => 2,
                "99" => 3,
                _ => continue,
            };
            percentiles[slot] = Some(duration_ms(value.trim())?);
        }
    }
    anyhow::ensure!(
        seen_rps && seen_requests,
        "no Requests/sec or request count"
    );
    let [p50, p75, p90, p99] = percentiles;
    let missing = || anyhow::anyhow!("no latency distribution (was --latency given?)");
    run.p50_ms = p50.ok_or_else(missing)?;
    run.p75_ms = p75.ok_or_else(missing)?;
    run.p90_ms = p90.ok_or_else(missing)?;
    run.p99_ms = p99.ok_or_else(missing)?;
    Ok(run)
}

/// A wrk duration (`812.00us`, `9.26ms`, `1.02s`, `2.00m`) in ms.
fn duration_ms(text: &str) -> anyhow::Result<f64> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("a duration without a unit: {text:?}"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("a duration: {text:?}"))?;
    let scale = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => anyhow::bail!("a duration unit {unit:?}"),
    };
    Ok(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from `MAX_ID=600 wrk -t1 -c16 -d2s --latency -s random_id.lua` against
    /// a debug tier-raw holding 500 users (so 1 in 6 ids answers 404).
    const CAPTURED: &str = "Running 2s test @ http://127.0.0.1:3911
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    17.88ms   19.47ms 150.39ms   87.10%
    Req/Sec     1.23k   643.59     2.40k    60.00%
  Latency Distribution
     50%    9.26ms
     75%   22.31ms
     90%   44.27ms
     99%   94.10ms
  2512 requests in 2.08s, 620.34KB read
  Non-2xx or 3xx responses: 400
Requests/sec:   1210.39
Transfer/sec:    298.91KB
";

    #[test]
    fn parses_captured_output() {
        let run = parse(CAPTURED).unwrap();
        assert_eq!(run.requests, 2512);
        assert_eq!(run.rps, 1210.39);
        assert_eq!(
            (run.p50_ms, run.p75_ms, run.p90_ms, run.p99_ms),
            (9.26, 22.31, 44.27, 94.10)
        );
        assert_eq!(run.non_2xx, 400);
        assert_eq!(run.socket_errors, 0);
    }

    #[test]
    fn parses_socket_errors_and_other_units() {
        let text = CAPTURED
            .replace("  Non-2xx or 3xx responses: 400\n", "")
            .replace("     50%    9.26ms", "     50%  812.00us")
            .replace("     99%   94.10ms", "     99%    1.50s")
            .replace(
                "Requests/sec:",
                "  Socket errors: connect 1, read 2, write 0, timeout 4\nRequests/sec:",
            );
        let run = parse(&text).unwrap();
        assert_eq!(run.non_2xx, 0);
        assert_eq!(run.socket_errors, 7);
        assert!((run.p50_ms - 0.812).abs() < 1e-9);
        assert_eq!(run.p99_ms, 1500.0);
    }

    #[test]
    fn refuses_output_without_its_figures() {
        let without_latency: String = CAPTURED
            .lines()
            .filter(|line| !line.contains('%') || line.contains("Stdev"))
            .map(|line| format!("{line}\n"))
            .collect();
        let err = parse(&without_latency).unwrap_err();
        assert!(err.to_string().contains("--latency"), "{err}");
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
        assert!(duration_ms("12.0parsecs").is_err());
    }

    #[test]
    fn cpu_per_thousand_requests() {
        let run = WrkRun {
            requests: 20_000,
            cpu_ms: Some(500.0),
            ..WrkRun::default()
        };
        assert_eq!(run.cpu_ms_per_1k(), Some(25.0));
        assert_eq!(WrkRun::default().cpu_ms_per_1k(), None);
    }
}
