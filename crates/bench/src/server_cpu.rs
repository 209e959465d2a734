//! What the database server and PgBouncer spend, whole processes, read from `/proc`.
//!
//! [`crate::tiers::backend_cpu_times`] follows the backends connected to the bench
//! database, which is the tier's work alone. The `--pooler` comparison asks a wider
//! question, what a request costs PostgreSQL as a whole, so here every process whose
//! name (`comm`, field 2 of `/proc/PID/stat`) is `postgres` counts: the backends, and
//! also the WAL writer, the checkpointer and the rest, which a request may wake. A
//! PostgreSQL server on another machine is out of reach, and then there is no figure.
//!
//! Except one kind: a backend connected to *another* database ([`other_databases`],
//! from `pg_stat_activity`) is someone else's work. On a shared development server
//! that is other people's test suites, which would otherwise land in the figure whole.
//!
//! PgBouncer's own CPU is that of the `pgbouncer` processes descended from this one
//! (the bench starts it under a small `sh`, `testkit::pgbouncer`), so a PgBouncer that
//! someone else runs on the machine is not counted.
//!
//! A snapshot is taken at both ends of a measured window; their difference, over the
//! requests served in it, is the CPU per request. A process that started inside the
//! window counts whole; one that ended inside it is lost (the pools keep their
//! connections, so this is rare).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// One process, as `/proc/PID/stat` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStat {
    /// Its id.
    pub pid: u32,
    /// Its parent's id.
    pub ppid: u32,
    /// Its name (`comm`, at most 15 bytes).
    pub comm: String,
    /// `utime + stime`, clock ticks.
    pub ticks: u64,
}

/// CPU time so far of the processes that matter, by pid.
#[derive(Debug, Clone, Default)]
pub struct ServerCpu {
    /// Every `postgres` process.
    pub postgres: HashMap<u32, Duration>,
    /// Every `pgbouncer` process this process started (through its `sh`).
    pub pgbouncer: HashMap<u32, Duration>,
}

impl ServerCpu {
    /// Reads every process of the machine once; `None` where there is no `/proc`.
    pub fn now() -> Option<Self> {
        let table = processes()?;
        let own = std::process::id();
        Some(Self {
            postgres: select(&table, "postgres", None),
            pgbouncer: select(&table, "pgbouncer", Some(own)),
        })
    }

    /// The same without the processes in `pids` (see [`other_databases`]).
    pub fn without(mut self, pids: &HashSet<u32>) -> Self {
        self.postgres.retain(|pid, _| !pids.contains(pid));
        self
    }

    /// CPU ms spent between `self` and `later`: PostgreSQL's, and PgBouncer's.
    pub fn until(&self, later: &Self) -> (f64, f64) {
        (
            crate::tiers::backend_cpu_delta_ms(&self.postgres, &later.postgres),
            crate::tiers::backend_cpu_delta_ms(&self.pgbouncer, &later.pgbouncer),
        )
    }
}

/// The server processes that work for a database other than `database`: client
/// backends, autovacuum workers and the like (the server's own background processes
/// have no database, and stay counted).
pub async fn other_databases(
    client: &tokio_postgres::Client,
    database: &str,
) -> anyhow::Result<HashSet<u32>> {
    let rows = client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname IS NOT NULL AND datname <> $1",
            &[&database],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| u32::try_from(row.get::<_, i32>(0)).ok())
        .collect())
}

/// `/proc/PID/stat` parsed: pid (field 1), comm (2, in parentheses, may hold spaces
/// and parentheses, so it ends at the last `)`), ppid (4), utime (14) and stime (15).
pub fn parse_stat(stat: &str) -> Option<ProcessStat> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let pid = stat[..open].trim().parse().ok()?;
    let comm = stat.get(open + 1..close)?.to_owned();
    // After `)`: field 3 (state) is the first, ppid the second, utime the 12th.
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(ProcessStat {
        pid,
        ppid,
        comm,
        ticks: utime + stime,
    })
}

/// Every process of the machine (those that vanish while we read are skipped).
pub fn processes() -> Option<Vec<ProcessStat>> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let table = entries
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter_map(|stat| parse_stat(&stat))
        .collect();
    Some(table)
}

/// The CPU time of the processes named `comm`; with `ancestor`, only those it is an
/// ancestor of (parent, grandparent, ...).
pub fn select(table: &[ProcessStat], comm: &str, ancestor: Option<u32>) -> HashMap<u32, Duration> {
    let parents: HashMap<u32, u32> = table.iter().map(|p| (p.pid, p.ppid)).collect();
    let descends = |mut pid: u32, ancestor: u32| {
        // A chain of pids is short; the bound keeps a malformed table from looping.
        for _ in 0..64 {
            match parents.get(&pid) {
                Some(&parent) if parent == ancestor => return true,
                Some(&parent) if parent > 0 && parent != pid => pid = parent,
                _ => return false,
            }
        }
        false
    };
    let tick = Duration::from_secs(1) / ticks_per_second();
    table
        .iter()
        .filter(|p| p.comm == comm)
        .filter(|p| ancestor.is_none_or(|a| descends(p.pid, a)))
        .map(|p| (p.pid, tick * u32::try_from(p.ticks).unwrap_or(u32::MAX)))
        .collect()
}

/// The kernel's clock ticks per second (`CLK_TCK`), 100 on every common Linux.
fn ticks_per_second() -> u32 {
    u32::try_from(rustix::param::clock_ticks_per_second())
        .unwrap_or(100)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(pid: u32, comm: &str, ppid: u32, utime: u64, stime: u64) -> String {
        format!(
            "{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 1234 0 0 0 \
             {utime} {stime} 0 0 20 0 1 0 98765 123456789 2345 18446744073709551615"
        )
    }

    #[test]
    fn parses_a_stat_line_whatever_the_name_holds() {
        let parsed = parse_stat(&stat(4242, "postgres", 1, 250, 31)).unwrap();
        assert_eq!(
            parsed,
            ProcessStat {
                pid: 4242,
                ppid: 1,
                comm: "postgres".into(),
                ticks: 281
            }
        );
        // A name with spaces and a parenthesis still ends at the last `)`.
        let odd = parse_stat(&stat(7, "a (b) c", 3, 1, 2)).unwrap();
        assert_eq!((odd.comm.as_str(), odd.ppid, odd.ticks), ("a (b) c", 3, 3));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("12 (x) S 1 2"), None);
    }

    #[test]
    fn selects_by_name_and_by_ancestry() {
        let table: Vec<ProcessStat> = [
            stat(10, "postgres", 1, 100, 0),
            stat(11, "postgres", 10, 40, 2),
            stat(20, "bench", 1, 0, 0),
            stat(21, "sh", 20, 0, 0),
            stat(22, "pgbouncer", 21, 7, 3),
            // Somebody else's PgBouncer, and a loop that must not hang the walk.
            stat(30, "pgbouncer", 1, 99, 0),
            stat(40, "pgbouncer", 41, 5, 0),
            stat(41, "sh", 40, 0, 0),
        ]
        .iter()
        .map(|s| parse_stat(s).unwrap())
        .collect();
        let tick = Duration::from_secs(1) / ticks_per_second();
        let postgres = select(&table, "postgres", None);
        assert_eq!(postgres.len(), 2);
        assert_eq!(postgres[&11], tick * 42);
        let ours = select(&table, "pgbouncer", Some(20));
        assert_eq!(ours.keys().copied().collect::<Vec<_>>(), [22]);
        assert_eq!(ours[&22], tick * 10);
        assert_eq!(select(&table, "pgbouncer", None).len(), 3);
    }

    #[test]
    fn the_machine_has_a_process_table_and_deltas_add_up() {
        let table = processes().unwrap();
        assert!(table.iter().any(|p| p.pid == std::process::id()));
        let ms = Duration::from_millis;
        let before = ServerCpu {
            postgres: HashMap::from([(1, ms(10)), (2, ms(5))]),
            pgbouncer: HashMap::from([(9, ms(1))]),
        };
        let after = ServerCpu {
            postgres: HashMap::from([(1, ms(30)), (2, ms(5)), (3, ms(4))]),
            pgbouncer: HashMap::from([(9, ms(8))]),
        };
        let (postgres, pgbouncer) = before.until(&after);
        assert!((postgres - 24.0).abs() < 1e-9, "{postgres}");
        assert!((pgbouncer - 7.0).abs() < 1e-9, "{pgbouncer}");
        // Another database's backend (1) is left out, PgBouncer is not touched.
        let others = HashSet::from([1]);
        let (postgres, pgbouncer) = before.without(&others).until(&after.without(&others));
        assert!((postgres - 4.0).abs() < 1e-9, "{postgres}");
        assert!((pgbouncer - 7.0).abs() < 1e-9, "{pgbouncer}");
    }
}
