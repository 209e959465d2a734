//! The HTTP load generator: a fixed set of keep-alive connections, closed loop.
//!
//! Each of C connections is one task that sends a request, waits for the whole
//! response, records the latency, and sends the next: a *closed* loop, so the load
//! is "C users clicking as fast as the server lets them", like `wrk` or pgbench.
//! Requests go through hyper's low-level HTTP/1.1 connection API
//! (`hyper::client::conn::http1`), with no pool and no retries in between: what we
//! time is the server, plus one TCP write and read.
//!
//! A run has a warm-up (connections opened, pools filled, statements prepared, caches
//! warm) and then a measured window; only responses that *complete inside the window*
//! count, so `requests / window` is the throughput. Latencies go into an HDR
//! histogram (microseconds, 3 significant digits), which keeps p99.9 exact to 0.1 %
//! in a few kilobytes, however many requests there are.
//!
//! Every loop is bounded: no request starts after the window ends, and each request
//! has a timeout, so a run lasts at most warm-up + window + [`REQUEST_TIMEOUT`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::cli::Workload;

/// The longest one request may take before it counts as an error. The API promises
/// an answer (503 at worst) within 5 s of waiting for a connection.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Page size of the list workloads.
pub const PAGE: u64 = 50;

/// A small, fast pseudo-random generator (SplitMix64). Statistical quality is ample
/// for picking ids, and one per connection needs no lock and no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high` (the tiny modulo bias is irrelevant here).
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}

/// One request to send, and the status that means success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// GET, POST or PATCH.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// JSON body, if any.
    pub body: Option<String>,
    /// The status of a successful answer.
    pub expected: u16,
}

/// What a workload sends next. `rows` are the seeded users (ids 1..=rows exist);
/// `tag`, `conn` and `seq` make every created email unique across the whole run.
pub fn request_for(
    workload: Workload,
    rng: &mut Rng,
    rows: u64,
    tag: &str,
    conn: usize,
    seq: u64,
) -> RequestSpec {
    let get = |rng: &mut Rng| RequestSpec {
        method: Method::GET,
        path: format!("/users/{}", rng.range(1, rows)),
        body: None,
        expected: 200,
    };
    let list = |after_id: u64| RequestSpec {
        method: Method::GET,
        path: format!("/users?limit={PAGE}&after_id={after_id}"),
        body: None,
        expected: 200,
    };
    let create = || RequestSpec {
        method: Method::POST,
        path: "/users".into(),
        body: Some(format!(
            r#"{{"name":"Bench User","email":"b{tag}.{conn}.{seq}@bench.example"}}"#
        )),
        expected: 201,
    };
    match workload {
        Workload::Get => get(rng),
        // A random start that still leaves a full page.
        Workload::List => list(rng.range(0, rows.saturating_sub(PAGE))),
        Workload::ListFirst => list(0),
        Workload::ListLast => list(rows.saturating_sub(PAGE)),
        Workload::Create => create(),
        Workload::Update => RequestSpec {
            method: Method::PATCH,
            path: format!("/users/{}", rng.range(1, rows)),
            body: Some(format!(r#"{{"name":"Renamed {conn}.{seq}"}}"#)),
            expected: 200,
        },
        Workload::Mixed => {
            if rng.range(0, 9) == 0 {
                create()
            } else {
                get(rng)
            }
        }
    }
}

/// A tag unique to this process and call, for the emails of one run.
pub fn unique_tag() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:x}{}x{}",
        started,
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One HTTP/1.1 connection: the handle that sends requests on it.
pub type Connection = SendRequest<Full<Bytes>>;

/// Opens a keep-alive HTTP/1.1 connection to `addr`.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Connection> {
    let stream = TcpStream::connect(addr).await?;
    // Requests are small and latency-bound: do not let Nagle's algorithm hold them.
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection future does the reading and writing; it ends when `sender` drops.
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends one request and reads the whole response body; returns the status.
pub async fn send(
    sender: &mut Connection,
    addr: SocketAddr,
    spec: &RequestSpec,
) -> anyhow::Result<u16> {
    sender.ready().await?;
    let mut request = Request::builder()
        .method(spec.method.clone())
        .uri(&spec.path)
        .header(header::HOST, addr.to_string());
    let body = match &spec.body {
        Some(body) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Full::new(Bytes::from(body.clone()))
        }
        None => Full::new(Bytes::new()),
    };
    let response = sender.send_request(request.body(body)?).await?;
    let status = response.status().as_u16();
    // The client pays for reading the body, as a real one would.
    response.into_body().collect().await?;
    Ok(status)
}

/// The status of one `GET path` on a fresh connection (for `/health`).
pub async fn status_of(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let spec = RequestSpec {
        method: Method::GET,
        path: path.into(),
        body: None,
        expected: 200,
    };
    let attempt = async {
        let mut sender = connect(addr).await?;
        send(&mut sender, addr, &spec).await
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .context("timed out")?
}

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
    /// Requests per second.
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64()
    }
}

/// A fresh latency histogram: 1 µs to 60 s, 3 significant digits.
pub fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .map_err(|err| anyhow::anyhow!("creating a histogram: {err:?}"))
}

/// Drives `workload` against `addr` with `connections` closed-loop connections until
/// `window.end`, and returns what completed inside the window.
pub async fn run(
    addr: SocketAddr,
    workload: Workload,
    rows: u64,
    connections: usize,
    window: Window,
) -> anyhow::Result<LoadResult> {
    let tag: Arc<str> = unique_tag().into();
    let mut tasks = tokio::task::JoinSet::new();
    for conn in 0..connections {
        let tag = Arc::clone(&tag);
        let histogram = new_histogram()?;
        // Distinct, reproducible streams of ids per connection.
        let seed = 0x5EED_0000 ^ (conn as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        tasks.spawn(connection_loop(
            addr, workload, rows, tag, conn, seed, window, histogram,
        ));
    }
    let mut total = LoadResult {
        requests: 0,
        errors: 0,
        error_samples: Vec::new(),
        latency_us: new_histogram()?,
        window: window.end - window.start,
    };
    while let Some(done) = tasks.join_next().await {
        let part = done.context("a connection task panicked")?;
        total.requests += part.requests;
        total.errors += part.errors;
        total
            .latency_us
            .add(&part.latency_us)
            .map_err(|err| anyhow::anyhow!("merging histograms: {err:?}"))?;
        for sample in part.error_samples {
            if total.error_samples.len() < 5 {
                total.error_samples.push(sample);
            }
        }
    }
    Ok(total)
}

/// One connection's closed loop. Reconnects after a transport error (pausing a little,
/// so a dead server does not make it spin).
#[allow(clippy::too_many_arguments)]
async fn connection_loop(
    addr: SocketAddr,
    workload: Workload,
    rows: u64,
    tag: Arc<str>,
    conn: usize,
    seed: u64,
    window: Window,
    latency_us: Histogram<u64>,
) -> LoadResult {
    let mut rng = Rng::new(seed);
    let mut result = LoadResult {
        requests: 0,
        errors: 0,
        error_samples: Vec::new(),
        latency_us,
        window: window.end - window.start,
    };
    let mut sender: Option<Connection> = None;
    let mut seq = 0;
    while Instant::now() < window.end {
        let connection = match sender.as_mut() {
            Some(connection) => connection,
            None => match connect(addr).await {
                Ok(connection) => sender.insert(connection),
                Err(err) => {
                    result.note_error(Instant::now(), &window, format!("connect: {err}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        seq += 1;
        let spec = request_for(workload, &mut rng, rows, &tag, conn, seq);
        let started = Instant::now();
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, send(connection, addr, &spec)).await;
        let done = Instant::now();
        match outcome {
            Ok(Ok(status)) if status == spec.expected => {
                if done >= window.start && done < window.end {
                    result.requests += 1;
                    let micros = (done - started).as_micros().min(u128::from(u64::MAX)) as u64;
                    result.latency_us.saturating_record(micros.max(1));
                }
            }
            Ok(Ok(status)) => {
                let what = format!("{} {} answered {status}", spec.method, spec.path);
                result.note_error(done, &window, what);
            }
            Ok(Err(err)) => {
                sender = None;
                result.note_error(
                    done,
                    &window,
                    format!("{} {}: {err}", spec.method, spec.path),
                );
            }
            Err(_) => {
                sender = None;
                let what = format!(
                    "{} {}: no answer within {REQUEST_TIMEOUT:?}",
                    spec.method, spec.path
                );
                result.note_error(done, &window, what);
            }
        }
    }
    result
}

impl LoadResult {
    fn note_error(&mut self, at: Instant, window: &Window, what: String) {
        if at >= window.start && at < window.end {
            self.errors += 1;
            if self.error_samples.len() < 5 {
                self.error_samples.push(what);
            }
        }
    }
}

/// Sends `count` requests of `workload` one after the other on one connection (for
/// counting protocol messages per request); returns how many failed.
pub async fn run_sequential(
    addr: SocketAddr,
    workload: Workload,
    rows: u64,
    count: usize,
) -> anyhow::Result<usize> {
    let tag = unique_tag();
    let mut rng = Rng::new(0x5EC0_0000);
    let mut sender = connect(addr).await?;
    let mut failed = 0;
    for seq in 0..count as u64 {
        let spec = request_for(workload, &mut rng, rows, &tag, 0, seq);
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, send(&mut sender, addr, &spec)).await;
        match outcome {
            Ok(Ok(status)) if status == spec.expected => {}
            Ok(Ok(_)) => failed += 1,
            _ => {
                failed += 1;
                sender = connect(addr).await?;
            }
        }
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_in_range() {
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            let id = rng.range(1, 100);
            assert!((1..=100).contains(&id));
        }
    }

    #[test]
    fn workloads_build_the_requests_of_the_contract() {
        let mut rng = Rng::new(7);
        let get = request_for(Workload::Get, &mut rng, 1000, "t", 3, 9);
        assert_eq!(get.method, Method::GET);
        assert!(get.path.starts_with("/users/"));
        assert_eq!(get.expected, 200);

        let create = request_for(Workload::Create, &mut rng, 1000, "t", 3, 9);
        assert_eq!(create.method, Method::POST);
        assert_eq!(create.expected, 201);
        let body: serde_json::Value =
            serde_json::from_str(create.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["email"], "bt.3.9@bench.example");
        assert!(users_api::validate::user_create(&body).is_ok());

        let update = request_for(Workload::Update, &mut rng, 1000, "t", 3, 9);
        assert_eq!(update.method, Method::PATCH);
        let body: serde_json::Value =
            serde_json::from_str(update.body.as_deref().unwrap()).unwrap();
        assert!(users_api::validate::user_update(&body).is_ok());

        let last = request_for(Workload::ListLast, &mut rng, 1000, "t", 0, 0);
        assert_eq!(last.path, "/users?limit=50&after_id=950");
        let first = request_for(Workload::ListFirst, &mut rng, 1000, "t", 0, 0);
        assert_eq!(first.path, "/users?limit=50&after_id=0");
        for _ in 0..1000 {
            let list = request_for(Workload::List, &mut rng, 1000, "t", 0, 0);
            let after: u64 = list.path.rsplit('=').next().unwrap().parse().unwrap();
            assert!(after <= 950, "{after}");
        }
    }

    #[test]
    fn mixed_is_about_one_create_in_ten() {
        let mut rng = Rng::new(42);
        let creates = (0..10_000)
            .filter(|seq| {
                request_for(Workload::Mixed, &mut rng, 100, "t", 0, *seq).method == Method::POST
            })
            .count();
        assert!((800..1200).contains(&creates), "{creates}");
    }

    #[test]
    fn tags_differ() {
        assert_ne!(unique_tag(), unique_tag());
    }

    /// The whole client loop against a tiny HTTP server on loopback: counts only
    /// the window, counts wrong statuses as errors.
    #[tokio::test]
    async fn measures_a_window_against_a_local_server() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut count = 0u32;
                    // Requests are small GETs: one read is one request.
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        count += 1;
                        let status = if count.is_multiple_of(10) {
                            "404 Not Found"
                        } else {
                            "200 OK"
                        };
                        let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\n{{}}");
                        if socket.write_all(reply.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        assert_eq!(status_of(addr, "/health").await.unwrap(), 200);
        let window = Window::after(Duration::from_millis(50), Duration::from_millis(200));
        let result = run(addr, Workload::Get, 100, 2, window).await.unwrap();
        assert!(result.requests > 10, "{result:?}");
        assert!(
            result.errors > 0 && result.errors < result.requests,
            "{result:?}"
        );
        assert_eq!(result.latency_us.len(), result.requests);
        assert!(result.error_samples[0].contains("answered 404"));
        let failed = run_sequential(addr, Workload::Get, 100, 20).await.unwrap();
        assert_eq!(failed, 2);
    }
}
