//! Building, starting and stopping a tier, and what it costs the machine.
//!
//! Each tier runs as its own child process, the release binary that `cargo build
//! --release` makes, so the operating system can tell us what that tier alone used:
//!
//! * **CPU time**: `utime + stime` of `/proc/PID/stat` (all threads, in clock ticks),
//!   read at the start and the end of the measured window;
//! * **peak RSS**: `VmHWM` ("high water mark") of `/proc/PID/status`. Writing `5` to
//!   `/proc/PID/clear_refs` resets the mark (Linux 4.0+), so each workload reports its
//!   own peak rather than the highest so far.
//!
//! A child gets `BIND_ADDR=127.0.0.1:0` (the kernel picks a free port, so nothing can
//! race us for it) and tells us the port in its `listening on http://ADDR` log line;
//! `RUST_LOG` lets through only warnings and that line, so logging does not weigh on
//! the figures. Then `/health` must answer 200 before any load starts.
//!
//! Starting, reading the log and stopping with SIGTERM are `testkit::process`, the
//! runner the fault suite uses too; this file adds what only the bench needs: the
//! release build, the `/proc` figures and the line counts.
//!
//! A `--fastapi` row runs the same way, through `baseline/fastapi/run.sh`
//! ([`crate::fastapi`]); it is a tree of processes, so its figures are summed over the
//! tree, and it has no `/health` (serve.py prints its line once a page is served).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use testkit::process::{self, NotListening};
use tokio::process::Command;

use crate::cli::{Server, TierSpec};
use crate::fastapi::{self, ProcessGroup};
use crate::loadgen;

/// How long a tier may take to start (connect, create the database, apply the schema).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a tier may take to stop after SIGTERM before it is killed. The server's
/// own grace period is 10 s, and we close our connections first, so it is quick.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Log lines kept from a child, shown if it fails.
const LOG_TAIL: usize = 30;

/// The workspace's root directory (this crate is `crates/bench`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// Where Cargo puts its output: `$CARGO_TARGET_DIR`, or `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("target"),
    }
}

/// The release binary of a tier package.
pub fn release_binary(package: &str) -> PathBuf {
    target_dir().join("release").join(package)
}

/// `cargo build --release -p ...` for the tiers to be measured. Cargo does nothing
/// when they are up to date, so this costs a second when there is nothing to do.
pub async fn build(packages: &[&str]) -> anyhow::Result<()> {
    // `cargo run` tells the program which cargo ran it; use the same one.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "--release"]);
    for package in packages {
        command.args(["-p", package]);
    }
    let status = command
        .status()
        .await
        .context("running cargo build --release")?;
    anyhow::ensure!(
        status.success(),
        "cargo build --release -p {} failed; fix the build, or pass --no-build to use \
         the binaries already in {}",
        packages.join(" -p "),
        target_dir().join("release").display()
    );
    Ok(())
}

/// Lines of `crates/<package>/src/store.rs`: all of them, and those with code (not
/// blank, not only a comment), which is what the report compares.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LineCount {
    /// Every line.
    pub total: usize,
    /// Lines that are neither blank nor only a `//` comment.
    pub code: usize,
}

/// Counts the lines of a tier's `store.rs` (`None` if the file is missing).
pub fn store_lines(package: &str) -> Option<LineCount> {
    let path = workspace_root()
        .join("crates")
        .join(package)
        .join("src")
        .join("store.rs");
    std::fs::read_to_string(path)
        .ok()
        .map(|text| count_lines(&text))
}

/// See [`LineCount`].
pub fn count_lines(text: &str) -> LineCount {
    let mut count = LineCount::default();
    for line in text.lines() {
        count.total += 1;
        let line = line.trim();
        if !line.is_empty() && !line.starts_with("//") {
            count.code += 1;
        }
    }
    count
}

/// The size of a tier's release binary in bytes.
pub fn binary_size(package: &str) -> Option<u64> {
    std::fs::metadata(release_binary(package))
        .ok()
        .map(|meta| meta.len())
}

/// A running tier server.
pub struct TierProcess {
    process: process::TierProcess,
    addr: SocketAddr,
    /// A FastAPI stack's process group: its figures are summed over the process tree.
    group: Option<ProcessGroup>,
}

impl TierProcess {
    /// Starts the tier's binary against `database_url`, with `env` on top of the
    /// bench's settings, and waits until `/health` answers 200.
    pub async fn start(
        spec: &TierSpec,
        database_url: &SecretString,
        env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let command = match spec.server {
            Server::Cargo(package) => binary_command(package, database_url, spec, env)?,
            Server::FastApi(stack) => fastapi::command(stack, database_url, env)?,
        };
        let started = Instant::now();
        let mut process = process::TierProcess::start(command, Some(LOG_TAIL))
            .with_context(|| format!("starting {}", spec.label))?;
        let group = spec.stack().map(|_| ProcessGroup::of(process.pid()));
        let addr = match process.listening(START_TIMEOUT).await {
            Ok(addr) => addr,
            Err(NotListening::Exited(status)) => anyhow::bail!(
                "{} exited during start-up ({status}):\n{}",
                spec.label,
                process.output()
            ),
            Err(err) => anyhow::bail!(
                "{} did not log `{}...` within {START_TIMEOUT:?} ({err}):\n{}",
                spec.label,
                process::LISTENING_ON,
                process.output()
            ),
        };
        // Listening is not ready: /health answers 200 only once the database does.
        // (A FastAPI stack has no /health: serve.py logs its line once a page answers.)
        while group.is_none() {
            if let Ok(200) = loadgen::status_of(addr, "/health").await {
                break;
            }
            if let Some(status) = process.try_exit() {
                anyhow::bail!(
                    "{} exited ({status}) before /health answered:\n{}",
                    spec.label,
                    process.output()
                );
            }
            if started.elapsed() > START_TIMEOUT {
                anyhow::bail!(
                    "{} at {addr} never answered /health with 200:\n{}",
                    spec.label,
                    process.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            process,
            addr,
            group,
        })
    }

    /// Where the tier listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The last lines the tier logged.
    pub fn log_tail(&self) -> String {
        self.process.output_tail(LOG_TAIL).trim_end().to_owned()
    }

    /// CPU time used so far, user and system, all threads (of every process of a
    /// FastAPI stack).
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        if self.group.is_some() {
            return fastapi::tree_cpu_time(self.pid());
        }
        process_cpu_time(self.pid())
    }

    /// The highest resident set size since start or the last [`Self::reset_peak_rss`]
    /// (for a FastAPI stack, the sum of its processes' peaks).
    pub fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        if self.group.is_some() {
            return fastapi::tree_peak_rss_bytes(self.pid());
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        parse_vm_hwm_kib(&status)
            .map(|kib| kib * 1024)
            .context("no VmHWM in /proc/PID/status")
    }

    /// The resident set size now (`VmRSS`), bytes (summed over a FastAPI stack).
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        if self.group.is_some() {
            return fastapi::tree_rss_bytes(self.pid());
        }
        rss_bytes(self.pid())
    }

    /// Resets the peak RSS to the current RSS; `false` where the kernel does not allow it.
    pub fn reset_peak_rss(&self) -> bool {
        if self.group.is_some() {
            return fastapi::tree_reset_peak_rss(self.pid());
        }
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").is_ok()
    }

    /// SIGTERM, then waits for the graceful shutdown; kills it if it takes too long.
    /// A FastAPI stack's workers must exit too: what is left of its process group
    /// after a few seconds is killed, and said so.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        // The stack's processes, listed while they are all there.
        let tree = match self.group {
            Some(_) => fastapi::tree_now(self.pid()),
            None => Vec::new(),
        };
        self.process
            .stop(STOP_TIMEOUT)
            .await
            .context("stopping the tier")?;
        if let Some(group) = self.group.take() {
            let killed = group.reap(&tree).await;
            if killed > 0 {
                eprintln!(
                    "bench: {killed} process(es) of the FastAPI stack outlived SIGTERM: killed"
                );
            }
        }
        Ok(())
    }
}

/// The command that runs a tier's release binary: `BIND_ADDR=127.0.0.1:0`, output
/// piped (`testkit::process`), the bench's settings, then the row's and `env`.
fn binary_command(
    package: &str,
    database_url: &SecretString,
    spec: &TierSpec,
    env: &[(String, String)],
) -> anyhow::Result<Command> {
    let binary = release_binary(package);
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: run `cargo build --release -p {package}` (or run the bench without --no-build)",
        binary.display(),
    );
    // `BIND_ADDR=127.0.0.1:0`, output piped, killed if the bench itself fails.
    let mut command = process::TierProcess::command(&binary);
    command
        // The workspace root: a `.env` there is what `cargo run -p tier-x` would read.
        .current_dir(workspace_root())
        .env("DATABASE_URL", database_url.expose_secret())
        // Warnings only, plus the one line that tells us the port.
        .env("RUST_LOG", "warn,users_api::server=info")
        .env("LOG_SQL", "false")
        // The bench drives up to 256 connections to find where a tier saturates:
        // no request of it may be shed by the server's own limit (default 64).
        .env("MAX_IN_FLIGHT", "4096");
    for (key, value) in spec.env.iter().chain(env) {
        command.env(key, value);
    }
    Ok(command)
}

/// The CPU time of process `pid` so far.
pub fn process_cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_stat_ticks(&stat).context("unexpected /proc/PID/stat")?;
    Ok(Duration::from_secs_f64(
        ticks as f64 / clock_ticks_per_second() as f64,
    ))
}

/// CPU time the whole machine spent busy, all cores together, from `/proc/stat`.
pub fn machine_busy_time() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let ticks = parse_busy_ticks(&stat).context("unexpected /proc/stat")?;
    Ok(Duration::from_secs_f64(
        ticks as f64 / clock_ticks_per_second() as f64,
    ))
}

/// The busy ticks of the `cpu` line of `/proc/stat` (all cores): user, nice, system,
/// irq, softirq and steal; idle and iowait are not busy. (guest time is already in
/// user.)
pub fn parse_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let field = |i: usize| fields.get(i).copied();
    // user nice system idle iowait irq softirq steal
    Some(field(0)? + field(1)? + field(2)? + field(5)? + field(6)? + field(7).unwrap_or(0))
}

/// The CPU time each of the database's server processes has used so far: every
/// backend connected to `database` except our own. A tier's pooled connections live
/// through a measured window, so the difference of two snapshots is the database's
/// work for that window.
pub async fn backend_cpu_times(
    client: &tokio_postgres::Client,
    database: &str,
) -> anyhow::Result<HashMap<u32, Duration>> {
    let rows = client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&database],
        )
        .await
        .context("listing the database's server processes")?;
    let mut times = HashMap::new();
    for row in rows {
        let pid: i32 = row.get(0);
        let Ok(pid) = u32::try_from(pid) else {
            continue;
        };
        // A backend that has just exited has no /proc entry any more: skip it.
        if let Ok(time) = process_cpu_time(pid) {
            times.insert(pid, time);
        }
    }
    Ok(times)
}

/// CPU used between two [`backend_cpu_times`] snapshots, in ms. A backend that started
/// after the first counts whole; one that ended before the second is lost (rare: the
/// pools keep their connections).
pub fn backend_cpu_delta_ms(
    before: &HashMap<u32, Duration>,
    after: &HashMap<u32, Duration>,
) -> f64 {
    after
        .iter()
        .map(|(pid, now)| {
            now.saturating_sub(before.get(pid).copied().unwrap_or_default())
                .as_secs_f64()
                * 1000.0
        })
        .sum()
}

/// `utime + stime` from `/proc/PID/stat`: fields 14 and 15. The second field (the
/// command name) is in parentheses and may hold spaces, so we count from its `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After `)` come field 3 (state) onwards: utime is the 12th of those, stime the 13th.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The resident set size of process `pid` now (`VmRSS`), bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss_kib(&status)
        .map(|kib| kib * 1024)
        .context("no VmRSS in /proc/PID/status")
}

/// `VmHWM:   12345 kB` of `/proc/PID/status`, in KiB.
pub fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    status_kib(status, "VmHWM:")
}

/// `VmRSS:   12345 kB` of `/proc/PID/status`, in KiB.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status_kib(status, "VmRSS:")
}

/// The KiB of the `/proc/PID/status` line that starts with `key`.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The kernel's clock ticks per second (`CLK_TCK`, the unit of `/proc` CPU times),
/// which is 100 on every common Linux. rustix reads it from the auxiliary vector the
/// kernel gives every process, with no `unsafe` here (`libc::sysconf` would need it).
fn clock_ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_stat_and_status() {
        let stat = "4242 (tier raw) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    250 31 0 0 20 0 3 0 98765 123456789 2345 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(281));
        let status =
            "Name:\ttier-raw\nVmPeak:\t  700000 kB\nVmHWM:\t   18432 kB\nVmRSS:\t 15000 kB\n";
        assert_eq!(parse_vm_hwm_kib(status), Some(18_432));
        assert_eq!(parse_vm_rss_kib(status), Some(15_000));
        assert_eq!(parse_vm_rss_kib("VmRSS:\tlots kB\n"), None);
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn reads_the_machine_busy_time_and_backend_deltas() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let stat = "cpu  100 5 50 9000 70 3 2 1 0 0\ncpu0 50 2 25 4500 35 1 1 0 0 0\n";
        assert_eq!(parse_busy_ticks(stat), Some(100 + 5 + 50 + 3 + 2 + 1));
        assert_eq!(parse_busy_ticks("cpu0 1 2 3\n"), None);
        assert_eq!(parse_busy_ticks("cpu  1 x 3 4 5 6 7\n"), None);
        assert!(machine_busy_time().unwrap() > Duration::ZERO);

        let ms = Duration::from_millis;
        let before = HashMap::from([(1, ms(100)), (2, ms(50)), (3, ms(7))]);
        // 1 worked 30 ms, 2 nothing, 3 ended, 4 started and worked 12 ms.
        let after = HashMap::from([(1, ms(130)), (2, ms(50)), (4, ms(12))]);
        assert!((backend_cpu_delta_ms(&before, &after) - 42.0).abs() < 1e-9);
    }

    #[test]
    fn our_own_cpu_time_is_readable() {
        let used = process_cpu_time(std::process::id()).unwrap();
        assert!(used < Duration::from_secs(3600));
    }

    #[test]
    fn clock_ticks_come_from_the_kernel() {
        // 100 on every common Linux; 0 would make every CPU time infinite.
        let ticks = clock_ticks_per_second();
        assert!((10..=10_000).contains(&ticks), "{ticks}");
    }

    #[test]
    fn counts_code_lines() {
        let text = "//! docs\n\nuse x;\n    // why\nfn f() {}\n";
        assert_eq!(count_lines(text), LineCount { total: 5, code: 2 });
    }

    #[test]
    fn the_workspace_root_holds_the_tiers() {
        assert!(workspace_root().join("crates").join("tier-raw").exists());
    }
}
