//! What machine the figures come from, for the report's header.
//!
//! Benchmark figures mean nothing without the machine: a ratio taken on 2 cores can
//! invert on 32. We read Linux's `/proc` files directly (no extra crate); on another
//! system the fields simply say "unknown".

use serde::{Deserialize, Serialize};

/// The machine, as the report prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// Logical CPUs this process may use (what `nproc` prints).
    pub cpus: usize,
    /// The CPU's model name, from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Total memory in MiB, from `/proc/meminfo`.
    pub memory_mib: u64,
    /// The kernel release, from `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// PostgreSQL's `SELECT version()`, filled in once connected.
    pub postgres: String,
    /// The 1-minute load average when the run began, from `/proc/loadavg`. Above the
    /// number of CPUs, something else was busy, and the figures are low and noisy.
    pub load_average: Option<f64>,
}

impl Machine {
    /// Reads the local machine's description.
    pub fn detect() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpu_model(&read("/proc/cpuinfo")).unwrap_or_else(|| "unknown".into()),
            memory_mib: mem_total_kib(&read("/proc/meminfo")).map_or(0, |kib| kib / 1024),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            postgres: String::new(),
            load_average: read("/proc/loadavg")
                .split_whitespace()
                .next()
                .and_then(|load| load.parse().ok()),
        }
    }
}

/// The first `model name : ...` line of `/proc/cpuinfo`.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// `MemTotal:  24683520 kB` of `/proc/meminfo`, in KiB.
fn mem_total_kib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_proc_formats() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        let meminfo = "MemTotal:       24683520 kB\nMemFree:        22165000 kB\n";
        assert_eq!(mem_total_kib(meminfo), Some(24_683_520));
        assert_eq!(cpu_model(""), None);
    }
}
