//! The course's FastAPI originals (`baseline/fastapi/`) as rows of the bench
//! (`--fastapi`): installing them, starting one, and what a server of several
//! processes costs the machine.
//!
//! `baseline/fastapi/run.sh --install` builds their virtual environment from PyPI
//! once ([`install`]); `run.sh STACK --port PORT` then starts `serve.py`, which starts
//! uvicorn with one worker process per core and prints `listening on http://ADDR`
//! once a worker answers: the line a tier prints, so `testkit::process` waits for it
//! as for a tier ([`command`]).
//!
//! A tier is one process; a stack is a tree of them: `serve.py`, the uvicorn parent,
//! its workers (and whatever helper multiprocessing starts). Its CPU time is the sum of
//! `utime + stime` over the whole tree ([`tree`], [`tree_cpu_time`]), and its peak
//! memory the **sum** of every process's `VmHWM` ([`tree_peak_rss_bytes`]): an upper
//! bound of the tree's true peak, since the workers need not peak at the same moment,
//! and counting the pages they share (Python itself) once per process.
//!
//! The stack runs in a process group of its own ([`ProcessGroup`]): SIGTERM to
//! `serve.py` stops uvicorn and its workers, and whatever is left of the group after
//! that (or if the bench stops on an error) is killed with it.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustix::process::{Pid, Signal, kill_process_group};
use secrecy::{ExposeSecret, SecretString};
use tokio::process::Command;

use crate::cli::Stack;
use crate::server_cpu::{self, ProcessStat};
use crate::tiers;

/// How long the workers of a stopped stack may take to exit before they are killed.
const WORKERS_EXIT_WITHIN: Duration = Duration::from_secs(5);

/// `baseline/fastapi/run.sh`.
pub fn run_sh() -> PathBuf {
    tiers::workspace_root()
        .join("baseline")
        .join("fastapi")
        .join("run.sh")
}

/// `run.sh --install`: the virtual environment, built from PyPI on first use (a no-op
/// once `requirements.txt` is installed). Its output goes to stderr, with the bench's.
pub async fn install() -> anyhow::Result<()> {
    let run_sh = run_sh();
    let status = Command::new(&run_sh)
        .arg("--install")
        .current_dir(tiers::workspace_root())
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .await
        .with_context(|| format!("running {}", run_sh.display()))?;
    anyhow::ensure!(
        status.success(),
        "{} --install failed ({status}): it needs python3 (3.10 or newer) with venv \
         (Debian: apt-get install python3-venv) and PyPI",
        run_sh.display()
    );
    Ok(())
}

/// The command that starts `stack` against `database_url`, with `env` on top, on a
/// free port, in a process group of its own. Output is piped as a tier's is
/// (`testkit::process`); serve.py takes no port 0 (it polls the port it was given), so
/// the port is one the kernel has just called free.
pub fn command(
    stack: Stack,
    database_url: &SecretString,
    env: &[(String, String)],
) -> anyhow::Result<Command> {
    let port = free_port().context("finding a free port for the FastAPI stack")?;
    let mut command = testkit::process::TierProcess::command(run_sh());
    command
        .current_dir(tiers::workspace_root())
        .args([stack.name(), "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .env("DATABASE_URL", database_url.expose_secret())
        // Its own group: stopping it reaches every uvicorn worker ([`ProcessGroup`]).
        .process_group(0);
    for (key, value) in env {
        command.env(key, value);
    }
    Ok(command)
}

/// A port free on 127.0.0.1 now (the listener is closed again at once).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The process group a stack runs in (its id is `serve.py`'s pid). Dropped, it kills
/// what is left of the group, so no uvicorn worker outlives the bench.
#[derive(Debug)]
pub struct ProcessGroup(u32);

impl ProcessGroup {
    /// The group led by `pid`, started with [`command`].
    pub fn of(pid: u32) -> Self {
        Self(pid)
    }

    /// After the leader has exited: waits for the processes of `tree` (taken before
    /// the stop) to exit, and kills the group if they do not. Answers how many had to
    /// be killed.
    pub async fn reap(self, tree: &[u32]) -> usize {
        let deadline = Instant::now() + WORKERS_EXIT_WITHIN;
        let alive = || {
            tree.iter()
                .filter(|pid| PathBuf::from(format!("/proc/{pid}")).exists())
                .count()
        };
        while alive() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = alive();
        // Dropping `self` kills whatever is left of the group.
        drop(self);
        left
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pid) = i32::try_from(self.0).ok().and_then(Pid::from_raw) {
            // ESRCH (the group is empty, the normal case) is what we hope for.
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
}

/// `root` and every process descended from it, in `table` (from
/// [`server_cpu::processes`]).
pub fn tree(table: &[ProcessStat], root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for process in table {
        children.entry(process.ppid).or_default().push(process.pid);
    }
    let mut found = Vec::new();
    if !table.iter().any(|p| p.pid == root) {
        return found;
    }
    let mut next = vec![root];
    while let Some(pid) = next.pop() {
        // A pid seen twice would be a loop in a malformed table: stop there.
        if found.contains(&pid) {
            continue;
        }
        found.push(pid);
        next.extend(children.get(&pid).into_iter().flatten().copied());
    }
    found
}

/// `utime + stime` of `root` and its descendants, clock ticks.
pub fn tree_ticks(table: &[ProcessStat], root: u32) -> u64 {
    let pids = tree(table, root);
    table
        .iter()
        .filter(|p| pids.contains(&p.pid))
        .map(|p| p.ticks)
        .sum()
}

/// The pids of `root`'s tree now.
pub fn tree_now(root: u32) -> Vec<u32> {
    server_cpu::processes().map_or_else(Vec::new, |table| tree(&table, root))
}

/// CPU time so far of `root` and its descendants (those alive now: a worker that has
/// exited takes its time with it).
pub fn tree_cpu_time(root: u32) -> anyhow::Result<Duration> {
    let table = server_cpu::processes().context("no /proc")?;
    anyhow::ensure!(
        table.iter().any(|p| p.pid == root),
        "process {root} is gone"
    );
    let ticks = tree_ticks(&table, root);
    Ok(Duration::from_secs_f64(
        ticks as f64 / rustix::param::clock_ticks_per_second() as f64,
    ))
}

/// The sum of `VmHWM` over `root`'s tree, bytes (see the module docs: an upper bound).
pub fn tree_peak_rss_bytes(root: u32) -> anyhow::Result<u64> {
    sum_status(root, tiers::parse_vm_hwm_kib)
}

/// The sum of `VmRSS` over `root`'s tree, bytes.
pub fn tree_rss_bytes(root: u32) -> anyhow::Result<u64> {
    sum_status(root, tiers::parse_vm_rss_kib)
}

/// Resets the peak RSS of every process of `root`'s tree; `false` if any refused.
pub fn tree_reset_peak_rss(root: u32) -> bool {
    tree_now(root)
        .iter()
        .all(|pid| std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok())
}

/// The sum of one KiB figure of `/proc/PID/status` over `root`'s tree, bytes.
fn sum_status(root: u32, field: fn(&str) -> Option<u64>) -> anyhow::Result<u64> {
    let pids = tree_now(root);
    anyhow::ensure!(!pids.is_empty(), "process {root} is gone");
    // A process that exits while we read is skipped; the others still count.
    let kib: u64 = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| field(&status))
        .sum();
    Ok(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, ppid: u32, ticks: u64) -> ProcessStat {
        ProcessStat {
            pid,
            ppid,
            comm: "python".into(),
            ticks,
        }
    }

    #[test]
    fn a_tree_is_the_root_and_all_its_descendants() {
        // serve.py (10) -> uvicorn (11) -> two workers (12, 13) and a resource
        // tracker (14); 20 is somebody else's python, 30 and 31 a loop.
        let table = [
            process(10, 1, 5),
            process(11, 10, 20),
            process(12, 11, 300),
            process(13, 11, 280),
            process(14, 11, 1),
            process(20, 1, 999),
            process(30, 31, 7),
            process(31, 30, 7),
        ];
        let mut pids = tree(&table, 10);
        pids.sort_unstable();
        assert_eq!(pids, [10, 11, 12, 13, 14]);
        assert_eq!(tree_ticks(&table, 10), 5 + 20 + 300 + 280 + 1);
        assert_eq!(tree_ticks(&table, 12), 300, "a leaf is its own tree");
        assert_eq!(
            tree(&table, 99),
            Vec::<u32>::new(),
            "a pid not in the table"
        );
        assert_eq!(tree(&table, 30).len(), 2, "a loop ends");
    }

    #[test]
    fn this_process_has_a_tree_with_cpu_and_memory() {
        let own = std::process::id();
        assert!(tree_now(own).contains(&own));
        assert!(tree_peak_rss_bytes(own).unwrap() > 0);
        assert!(tree_rss_bytes(own).unwrap() > 0);
        assert!(tree_cpu_time(own).is_ok());
    }

    #[test]
    fn the_stacks_run_through_run_sh() {
        assert!(run_sh().exists(), "{}", run_sh().display());
        let url = SecretString::from("postgres://u:secret@127.0.0.1/db");
        let command = command(Stack::Databases, &url, &[("A".into(), "1".into())]).unwrap();
        let command = command.as_std();
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(args[..4], ["databases", "--host", "127.0.0.1", "--port"]);
        assert!(args[4].parse::<u16>().unwrap() > 0);
    }
}
