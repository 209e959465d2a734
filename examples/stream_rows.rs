//! A million rows at flat memory: read through a stream, one row at a time, the process's
//! resident memory hardly moves; collected into a `Vec` first, it grows by hundreds of MB.
//!
//! ```text
//! cargo run --example stream_rows
//! ```
//!
//! It finds the server as the tier servers do (`DATABASE_URL`, or the `DB_*` pieces, from
//! the environment or `.env`) and touches no table: the rows come from
//! `generate_series`, shaped like users (`id`, `name`, `email`). Each way reads all of
//! them and decodes every column, in a process of its own (the program runs itself again
//! with `--pass NAME`), and prints the process's resident memory from `/proc/self/status`:
//! before (`VmRSS`), at its peak during the pass (`VmHWM`, the high-water mark) and after
//! the rows are dropped. What it printed on this machine (a debug build on a busy 2-core
//! machine; the times vary, the memory hardly):
//!
//! ```text
//! tokio-postgres query_raw, streamed: 1000000 rows in 5.27 s; rss before 7.8 MB, peak +0.1 MB, after +0.1 MB
//! sqlx fetch, streamed: 1000000 rows in 5.51 s; rss before 7.7 MB, peak +0.0 MB, after +0.0 MB
//! tokio-postgres query, into a Vec: 1000000 rows in 4.38 s; rss before 7.8 MB, peak +212.2 MB, after +140.6 MB
//! sqlx fetch_all, into a Vec: 1000000 rows in 7.30 s; rss before 7.9 MB, peak +180.3 MB, after +108.5 MB
//! ```
//!
//! Why the streams stay flat: nothing reads rows faster than the program takes them.
//!
//! * tokio-postgres: `query_raw` returns a `RowStream` fed by the connection task through a
//!   channel of one slot (`mpsc::channel(1)` in `Client::send`). When the slot is full,
//!   the connection task stops reading the socket (`poll_read` keeps the message as
//!   pending, `connection.rs`), the kernel's socket buffer fills, and the server waits to
//!   send more: backpressure all the way to PostgreSQL. (`client.query` is the same
//!   stream collected into a `Vec`.)
//! * sqlx: `fetch` is a stream that reads the socket only when it is polled for the next
//!   row; `fetch_all` polls it to the end into a `Vec`.
//!
//! Either way, a stream dropped half-read does not stop the query: tokio-postgres's
//! connection reads and discards the rest, sqlx reads it on the connection's next use.
//!
//! "after": memory a `Vec` of rows frees goes back to the allocator, not to the system
//! (glibc keeps it for reuse). Run in one process, a pass after the `Vec` starts from a
//! heap of 148 MB and grows into it unseen (measured: sqlx's `Vec` then showed +100 MB
//! instead of +180), which is why each pass has a process of its own. `VmHWM` is a
//! process-wide mark too: in one process, it would have to be reset between passes
//! (writing `5` to `/proc/self/clear_refs`, Linux 4.0+) or the streams measured first.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context as _;
use bench::tiers::parse_vm_hwm_kib;
use futures::{Stream, TryStreamExt as _};
use secrecy::ExposeSecret as _;
use sqlx::postgres::PgRow;
use sqlx::{Connection as _, PgConnection, Row as _};
use tokio_postgres::NoTls;

/// Rows read by each way.
const ROWS: i64 = 1_000_000;
/// Users, made up by the server: about 40 bytes of text per row.
const SQL: &str = "SELECT i AS id, 'user ' || i AS name, 'user' || i || '@example.com' AS email \
     FROM generate_series(1, $1::int8) AS i";

/// The four ways, each run in a process of its own (`stream_rows --pass NAME`).
const PASSES: [&str; 4] = ["raw-stream", "sqlx-stream", "raw-vec", "sqlx-vec"];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, pass] = args.as_slice()
        && flag == "--pass"
    {
        return tokio::runtime::Runtime::new()?.block_on(run_pass(pass));
    }
    // Memory a `Vec` of rows frees goes back to the allocator, not to the system: a pass
    // run after it in the same process would start from a swollen heap and grow into it
    // unseen. So each pass starts from a fresh process: this program, run again.
    let me = std::env::current_exe()?;
    for pass in PASSES {
        let output = Command::new(&me)
            .args(["--pass", pass])
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running pass {pass}"))?;
        anyhow::ensure!(output.status.success(), "pass {pass} failed");
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
    Ok(())
}

/// Connects, then reads the rows one way and prints what that cost.
async fn run_pass(pass: &str) -> anyhow::Result<()> {
    let database = users_api::config::database_from_env()?;
    let url = database.url().expose_secret().to_owned();
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .with_context(|| format!("connecting to {database} (is PostgreSQL running?)"))?;
    tokio::spawn(connection);
    let mut conn = PgConnection::connect(&url).await?;
    // The peak from here on (where the kernel allows the reset; otherwise the peak since
    // start-up, which this fresh process has barely passed yet).
    Memory::reset_peak();

    match pass {
        // ANCHOR: stream_arms
        "raw-stream" => {
            let rows = client.query_raw(SQL, [ROWS]).await?;
            measure("tokio-postgres query_raw, streamed", raw_stream(rows)).await?;
        }
        "sqlx-stream" => {
            let rows = sqlx::query(SQL).bind(ROWS).fetch(&mut conn);
            measure("sqlx fetch, streamed", sqlx_stream(rows)).await?;
        }
        // ANCHOR_END: stream_arms
        "raw-vec" => {
            let pass = async {
                let rows = client.query(SQL, &[&ROWS]).await?;
                rows.iter().try_fold(Read::new(), Read::raw)
            };
            measure("tokio-postgres query, into a Vec", pass).await?;
        }
        "sqlx-vec" => {
            let pass = async {
                let rows = sqlx::query(SQL).bind(ROWS).fetch_all(&mut conn).await?;
                rows.iter().try_fold(Read::new(), Read::sqlx)
            };
            measure("sqlx fetch_all, into a Vec", pass).await?;
        }
        other => anyhow::bail!("no pass {other:?}; the passes are {PASSES:?}"),
    }
    conn.close().await?;
    Ok(())
}

/// Runs one way of reading the rows and prints its rows, time and memory.
async fn measure(
    label: &str,
    pass: impl Future<Output = anyhow::Result<Read>>,
) -> anyhow::Result<()> {
    let before = Memory::now()?;
    let started = Instant::now();
    // Everything the pass held (a Vec of rows) is dropped by the time it returns.
    let read = pass.await?;
    let seconds = started.elapsed().as_secs_f64();
    let after = Memory::now()?;
    anyhow::ensure!(read.rows == ROWS, "{label}: {} rows, not {ROWS}", read.rows);
    let mb = |kib: u64| kib as f64 * 1024.0 / 1e6;
    let growth = |kib: u64| (kib as f64 - before.rss_kib as f64) * 1024.0 / 1e6;
    println!(
        "{label}: {} rows in {seconds:.2} s; rss before {:.1} MB, peak {:+.1} MB, after {:+.1} MB",
        read.rows,
        mb(before.rss_kib),
        growth(after.peak_kib),
        growth(after.rss_kib),
    );
    Ok(())
}

/// tokio-postgres: each row decoded and dropped as it arrives.
async fn raw_stream(rows: tokio_postgres::RowStream) -> anyhow::Result<Read> {
    let mut rows = std::pin::pin!(rows);
    let mut read = Read::new();
    while let Some(row) = rows.try_next().await? {
        read = read.raw(&row)?;
    }
    Ok(read)
}

/// sqlx: the same, from `fetch`'s stream.
async fn sqlx_stream(rows: impl Stream<Item = Result<PgRow, sqlx::Error>>) -> anyhow::Result<Read> {
    let mut rows = std::pin::pin!(rows);
    let mut read = Read::new();
    while let Some(row) = rows.try_next().await? {
        read = read.sqlx(&row)?;
    }
    Ok(read)
}

/// What a pass read: the rows, each decoded (`&str` columns are checked as UTF-8).
struct Read {
    rows: i64,
}

impl Read {
    fn new() -> Self {
        Self { rows: 0 }
    }

    fn raw(self, row: &tokio_postgres::Row) -> anyhow::Result<Self> {
        let id: i64 = row.try_get("id")?;
        let _: (&str, &str) = (row.try_get("name")?, row.try_get("email")?);
        self.counted(id)
    }

    fn sqlx(self, row: &PgRow) -> anyhow::Result<Self> {
        let id: i64 = row.try_get("id")?;
        let _: (&str, &str) = (row.try_get("name")?, row.try_get("email")?);
        self.counted(id)
    }

    /// Checks that rows arrive in order, 1 to [`ROWS`].
    fn counted(self, id: i64) -> anyhow::Result<Self> {
        anyhow::ensure!(id == self.rows + 1, "row {id} after row {}", self.rows);
        Ok(Self { rows: id })
    }
}

/// This process's resident memory, from `/proc/self/status` (Linux), in KiB.
struct Memory {
    rss_kib: u64,
    peak_kib: u64,
}

impl Memory {
    fn now() -> anyhow::Result<Self> {
        let status = std::fs::read_to_string("/proc/self/status")
            .context("reading /proc/self/status (this example needs Linux)")?;
        // `VmRSS:   12345 kB`; the bench reads `VmHWM` the same way.
        let rss_kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .context("no VmRSS in /proc/self/status")?;
        let peak_kib = parse_vm_hwm_kib(&status).context("no VmHWM in /proc/self/status")?;
        Ok(Self { rss_kib, peak_kib })
    }

    /// Resets `VmHWM` to the current `VmRSS` (Linux 4.0+); `false` where not allowed.
    fn reset_peak() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }
}
