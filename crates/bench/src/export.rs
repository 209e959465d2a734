//! The `export` workload: whole exports, read as fast as the client can, while the
//! tier's resident memory is watched.
//!
//! `GET /users/export` is not a request rate: one export of a million users is
//! seconds of streaming, and what the course promises about it is that the tier's
//! memory stays flat (API.md: at most 20 MB of growth for 1,000,000 users). So each
//! run here is one export, timed from the request to the last byte, its lines counted
//! (there must be one per seeded user, or the run failed), and around it the tier's
//! resident set size:
//!
//! * **before**: `VmRSS` of `/proc/PID/status` just before the request;
//! * **during**: `VmRSS` sampled every [`SAMPLE_EVERY`] while the body streams, and the
//!   kernel's own high-water mark `VmHWM`, reset (`clear_refs`) just before the
//!   request, read at the end. Sampling alone could miss a spike shorter than its
//!   period; `VmHWM` alone, without a reset, would be the peak since start-up. The
//!   peak is the higher of the two, and the growth is peak minus before.
//!
//! The body is read frame by frame and never kept: the client's memory stays flat too.
//! Sampling and reading share this one thread (`tokio::select!` in one task), and
//! tokio's cooperative budget makes the reader yield every so often, so the samples
//! keep their pace even while data pours in.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use http_body_util::BodyExt as _;
use hyper::{Method, Request, header};

use crate::loadgen;
use crate::report::ExportRun;
use crate::tiers::{self, TierProcess};

/// How often the tier's `VmRSS` is read during an export.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// The longest one export may take. A million users take seconds on 2 cores; this is
/// ample for a hundred million.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(600);

/// The media type every export must come with.
const NDJSON: &str = "application/x-ndjson";

/// What reading one export gave, the body itself not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRead {
    /// Lines (users) received.
    pub lines: u64,
    /// Bytes of the body.
    pub bytes: u64,
    /// From sending the request to the end of the first line.
    pub first_line: Option<Duration>,
    /// From sending the request to the end of the body.
    pub elapsed: Duration,
    /// The `id` of the first line: 1 for a freshly seeded table read in `id` order.
    pub first_id: Option<i64>,
}

/// Counts the lines of a body arriving in pieces, keeping the first line (up to a
/// bound) to check it, and nothing else.
#[derive(Debug, Default)]
pub struct LineCounter {
    lines: u64,
    bytes: u64,
    first_line: Vec<u8>,
    /// Whether the body so far ends with a newline (an empty body does).
    ends_with_newline: bool,
}

/// The first line is kept up to this many bytes: a user's line is about 100.
const FIRST_LINE_MAX: usize = 4096;

impl LineCounter {
    /// Adds the next piece of the body.
    pub fn push(&mut self, piece: &[u8]) {
        if piece.is_empty() {
            return;
        }
        if self.lines == 0 {
            let end = piece
                .iter()
                .position(|b| *b == b'\n')
                .unwrap_or(piece.len());
            let room = FIRST_LINE_MAX.saturating_sub(self.first_line.len());
            self.first_line.extend_from_slice(&piece[..end.min(room)]);
        }
        self.lines += piece.iter().filter(|b| **b == b'\n').count() as u64;
        self.bytes += piece.len() as u64;
        self.ends_with_newline = piece.last() == Some(&b'\n');
    }

    /// Lines completed so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The `id` member of the first line, if it is a JSON object with an integer id.
    pub fn first_id(&self) -> Option<i64> {
        let first: serde_json::Value = serde_json::from_slice(&self.first_line).ok()?;
        first.get("id")?.as_i64()
    }

    /// Whether the body ends where a line ends (nothing after the last newline).
    pub fn complete(&self) -> bool {
        self.bytes == 0 || self.ends_with_newline
    }
}

/// Sends `GET /users/export` on a fresh connection and reads the whole body, counting
/// lines. Fails on a status other than 200, another media type, a body cut off (the
/// chunked encoding not terminated: hyper reports an error), or a last line without
/// its newline.
pub async fn read_export(addr: SocketAddr) -> anyhow::Result<ExportRead> {
    let mut sender = loadgen::connect_hyper(addr).await?;
    let request = Request::builder()
        .method(Method::GET)
        .uri("/users/export")
        .header(header::HOST, addr.to_string())
        .body(http_body_util::Full::new(bytes::Bytes::new()))?;
    let started = Instant::now();
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    anyhow::ensure!(status == 200, "GET /users/export answered {status}");
    let media = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        media.starts_with(NDJSON),
        "GET /users/export answered {media:?}, not {NDJSON}"
    );
    let mut body = response.into_body();
    let mut counter = LineCounter::default();
    let mut first_line = None;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .with_context(|| format!("the export broke off after {} lines", counter.lines()))?;
        if let Some(data) = frame.data_ref() {
            counter.push(data);
            if first_line.is_none() && counter.lines() > 0 {
                first_line = Some(started.elapsed());
            }
        }
    }
    let elapsed = started.elapsed();
    anyhow::ensure!(
        counter.complete(),
        "the export's last line has no newline ({} lines before it)",
        counter.lines()
    );
    Ok(ExportRead {
        lines: counter.lines,
        bytes: counter.bytes,
        first_line,
        elapsed,
        first_id: counter.first_id(),
    })
}

/// One export of `tier`'s users, expecting `rows` lines, with its memory watched.
/// A failed export is a run with its `error` set (and what was measured before it).
pub async fn measure(tier: &TierProcess, rows: u64, round: usize) -> ExportRun {
    let pid = tier.pid();
    let hwm_reset = tier.reset_peak_rss();
    let before = tier.rss_bytes().ok();
    let mut sampled: Option<u64> = before;
    let mut samples = 0u64;
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let reading = tokio::time::timeout(EXPORT_TIMEOUT, read_export(tier.addr()));
    tokio::pin!(reading);
    let outcome = loop {
        tokio::select! {
            outcome = &mut reading => break outcome,
            _ = ticker.tick() => {
                if let Ok(rss) = tiers::rss_bytes(pid) {
                    samples += 1;
                    sampled = Some(sampled.map_or(rss, |peak| peak.max(rss)));
                }
            }
        }
    };
    // Only after a reset is VmHWM the peak of this export rather than of the process.
    let hwm = if hwm_reset {
        tier.peak_rss_bytes().ok()
    } else {
        None
    };
    let mut run = ExportRun {
        round,
        rows: 0,
        bytes: 0,
        seconds: 0.0,
        first_line_ms: None,
        rss_before_bytes: before,
        rss_sampled_peak_bytes: sampled,
        rss_samples: samples,
        rss_hwm_bytes: hwm,
        error: None,
    };
    match outcome {
        Ok(Ok(read)) => {
            run.rows = read.lines;
            run.bytes = read.bytes;
            run.seconds = read.elapsed.as_secs_f64();
            run.first_line_ms = read.first_line.map(|d| d.as_secs_f64() * 1000.0);
            if read.lines != rows {
                run.error = Some(format!("{} lines, expected {rows}", read.lines));
            } else if rows > 0 && read.first_id != Some(1) {
                run.error = Some(format!(
                    "the first line's id is {:?}, expected 1",
                    read.first_id
                ));
            }
        }
        Ok(Err(err)) => run.error = Some(format!("{err:#}")),
        Err(_) => run.error = Some(format!("no end within {EXPORT_TIMEOUT:?}")),
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_across_pieces_and_keeps_only_the_first() {
        let mut counter = LineCounter::default();
        assert!(counter.complete(), "an empty body is a complete export");
        counter.push(br#"{"id":1,"na"#);
        assert_eq!(counter.lines(), 0);
        counter.push(b"me\":\"A\"}\n{\"id\":2}\n{\"id\"");
        counter.push(b"");
        assert!(!counter.complete());
        counter.push(b":3}\n");
        assert_eq!(counter.lines(), 3);
        assert_eq!(counter.first_id(), Some(1));
        assert!(counter.complete());
        assert_eq!(counter.bytes, 38);
        assert_eq!(counter.first_line, br#"{"id":1,"name":"A"}"#);
    }

    #[test]
    fn the_first_line_is_kept_within_its_bound() {
        let mut counter = LineCounter::default();
        let long = vec![b'x'; FIRST_LINE_MAX * 3];
        counter.push(&long);
        counter.push(&long);
        assert_eq!(counter.first_line.len(), FIRST_LINE_MAX);
        assert_eq!(counter.first_id(), None);
    }

    /// A one-shot server on a free port: reads the request, writes `reply`, closes.
    async fn answering(reply: &'static str) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = socket.read(&mut buf).await.unwrap();
            socket.write_all(reply.as_bytes()).await.unwrap();
        });
        addr
    }

    /// A tiny server that answers an export of three lines, in two chunks.
    #[tokio::test]
    async fn reads_an_export_from_a_server() {
        let addr = answering(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n\
             transfer-encoding: chunked\r\n\r\n\
             10\r\n{\"id\":1}\n{\"id\":2\r\n2\r\n}\n\r\n\
             9\r\n{\"id\":3}\n\r\n0\r\n\r\n",
        )
        .await;
        let read = read_export(addr).await.unwrap();
        assert_eq!((read.lines, read.first_id), (3, Some(1)));
        assert_eq!(read.bytes, 27);
        assert!(read.first_line.unwrap() <= read.elapsed);
    }

    /// A body cut off mid-chunk is an error, not a short export.
    #[tokio::test]
    async fn a_cut_off_export_fails() {
        // The server closes after one chunk: the chunked encoding stays unterminated.
        let addr = answering(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n\
             transfer-encoding: chunked\r\n\r\n9\r\n{\"id\":1}\n\r\n",
        )
        .await;
        let err = read_export(addr).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("broke off after 1 lines"),
            "{err:#}"
        );
    }
}
