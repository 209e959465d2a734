//! A tier's binary run as a child process: started on a free port, its output captured,
//! its listening address read from its log, stopped with SIGTERM.
//!
//! Two users need this: the fault suite's shutdown and security cases (which run the
//! debug binary with exactly the configuration a case gives it, and read everything it
//! logged), and the bench (which runs the release binary and measures it from outside,
//! through `/proc`). Both start it the same way:
//!
//! * `BIND_ADDR=127.0.0.1:0`: the kernel picks a free port, so nothing can race us for
//!   it, and the tier announces it in its log line [`LISTENING_ON`]`ADDR`;
//! * stdout and stderr piped and read line by line as they come. Reading also keeps
//!   the pipes from filling up, which would block the child;
//! * stopped with SIGTERM, what `docker stop` and orchestrators send, so the server's
//!   graceful shutdown runs. The signal goes through `rustix` (the workspace forbids
//!   `unsafe`, so no `libc::kill`); tokio's `Child::kill` only sends SIGKILL, which
//!   skips the shutdown. If the process is dropped, it is killed (no server is left
//!   behind by a failed test).

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fmt;
use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
pub use users_api::server::LISTENING_ON;

/// The configuration variables of API.md: a tier spawned by the fault suite gets only
/// the ones a test sets, never the test runner's own.
const CONFIG_VARS: &[&str] = &[
    "DATABASE_URL",
    "DB_USER",
    "DB_PASS",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "BIND_ADDR",
    "DB_POOL_SIZE",
    "LOG_SQL",
    "RUST_LOG",
    // tier-raw's switch to its pipelined read path.
    "DB_PIPELINE",
    // The limits on clients (a test sets them when it tests them).
    "MAX_IN_FLIGHT",
    "MAX_CONNECTIONS",
    "HEADER_READ_TIMEOUT_SECS",
];

/// A tier's binary, and the variables a suite runs it with (tier-raw's pipelined mode
/// needs `DB_PIPELINE=true`).
#[derive(Debug, Clone, Copy)]
pub struct TierBinary {
    /// The binary's path (Cargo's `CARGO_BIN_EXE_<name>`).
    pub path: &'static str,
    /// Variables set on every run of it, before the test's own.
    pub env: &'static [(&'static str, &'static str)],
}

/// The address in a `... listening on http://127.0.0.1:41234 (API docs ...)` line.
pub fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split(LISTENING_ON).nth(1)?;
    let addr = rest.split(|c: char| c.is_whitespace() || c == '/').next()?;
    addr.parse().ok()
}

/// Why a process did not announce its address.
#[derive(Debug)]
pub enum NotListening {
    /// It exited first, with this status.
    Exited(ExitStatus),
    /// It logged no listening line within this time.
    Silent(Duration),
    /// Waiting for it failed.
    Wait(std::io::Error),
}

impl fmt::Display for NotListening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited(status) => write!(f, "exited ({status}) before listening"),
            Self::Silent(within) => write!(f, "did not listen within {within:?}"),
            Self::Wait(err) => write!(f, "could not be waited for: {err}"),
        }
    }
}

impl std::error::Error for NotListening {}

/// What a process has written, line by line (stdout and stderr interleaved).
struct Output {
    lines: VecDeque<String>,
    /// Keep only the last this many lines (a long bench run), or all (a test).
    keep: Option<usize>,
}

/// A tier's binary, running as a child process with its output captured.
pub struct TierProcess {
    child: Child,
    pid: u32,
    output: Arc<Mutex<Output>>,
    /// The address of the first listening line, once logged.
    listening: watch::Receiver<Option<SocketAddr>>,
    readers: Vec<JoinHandle<()>>,
}

impl TierProcess {
    /// A command for `program` as a tier is run: `BIND_ADDR=127.0.0.1:0`, output piped,
    /// killed when dropped. Callers add their variables (a later `BIND_ADDR` wins).
    pub fn command(program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .env("BIND_ADDR", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Starts `command` (from [`Self::command`]) and reads its output, keeping the
    /// last `keep` lines, or all of them if `None`.
    pub fn start(mut command: Command, keep: Option<usize>) -> std::io::Result<Self> {
        let mut child = command.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| std::io::Error::other("the process exited at once"))?;
        let output = Arc::new(Mutex::new(Output {
            lines: VecDeque::new(),
            keep,
        }));
        let (announce, listening) = watch::channel(None);
        let announce = Arc::new(announce);
        let stdout = child.stdout.take().map(|out| Box::new(out) as Stream);
        let stderr = child.stderr.take().map(|err| Box::new(err) as Stream);
        let readers = [stdout, stderr]
            .into_iter()
            .flatten()
            .map(|stream| tokio::spawn(read_lines(stream, output.clone(), announce.clone())))
            .collect();
        Ok(Self {
            child,
            pid,
            output,
            listening,
            readers,
        })
    }

    /// Starts `binary` with exactly these configuration variables (plus `BIND_ADDR`
    /// `127.0.0.1:0` unless given, and the binary's own), in a directory without a
    /// `.env`. Keeps all its output.
    pub fn spawn(binary: TierBinary, vars: &[(&str, &str)]) -> Self {
        let mut command = Self::command(binary.path);
        for name in CONFIG_VARS.iter().filter(|name| **name != "BIND_ADDR") {
            command.env_remove(name);
        }
        for (name, value) in binary.env.iter().chain(vars) {
            command.env(name, value);
        }
        command.current_dir(std::env::temp_dir());
        Self::start(command, None)
            .unwrap_or_else(|err| panic!("could not start {}: {err}", binary.path))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The address the process announced, once it has.
    pub fn addr(&self) -> Option<SocketAddr> {
        *self.listening.borrow()
    }

    /// Everything the process has written to stdout and stderr so far (the last lines
    /// only, if started to keep only those).
    pub fn output(&self) -> String {
        self.output_tail(usize::MAX)
    }

    /// The last `lines` lines of [`Self::output`].
    pub fn output_tail(&self, lines: usize) -> String {
        let output = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        let skip = output.lines.len().saturating_sub(lines);
        output
            .lines
            .iter()
            .skip(skip)
            .fold(String::new(), |all, line| all + line + "\n")
    }

    /// The exit status, if the process has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the listening line; returns the address in it.
    pub async fn listening(&mut self, within: Duration) -> Result<SocketAddr, NotListening> {
        let mut announced = self.listening.clone();
        let addr = async {
            announced
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|a| *a)
        };
        tokio::select! {
            // First: a process that announced its address and then exited did listen.
            biased;
            Some(addr) = addr => Ok(addr),
            status = self.child.wait() => {
                // The reason it exited is in the last lines: let them be read.
                self.drain_output().await;
                Err(status.map_or_else(NotListening::Wait, NotListening::Exited))
            }
            () = tokio::time::sleep(within) => Err(NotListening::Silent(within)),
        }
    }

    /// Waits for the listening line; returns `http://ADDR`. Fails the test if the
    /// process exits first or stays silent for `within`.
    pub async fn wait_listening(&mut self, within: Duration) -> String {
        match self.listening(within).await {
            Ok(addr) => format!("http://{addr}"),
            Err(err) => panic!("the server {err}:\n{}", self.output()),
        }
    }

    /// Sends SIGTERM (what `docker stop` and orchestrators send). A process that has
    /// already exited and been waited for is left alone: its id may be reused.
    pub fn terminate(&self) -> std::io::Result<()> {
        let Some(pid) = self.child.id() else {
            return Ok(());
        };
        let pid = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| std::io::Error::other(format!("{pid} is not a process id")))?;
        kill_process(pid, Signal::TERM)?;
        Ok(())
    }

    /// Sends SIGTERM, failing the test if the process is not running.
    pub fn sigterm(&self) {
        assert!(self.child.id().is_some(), "the server is not running");
        self.terminate()
            .unwrap_or_else(|err| panic!("SIGTERM to {} failed: {err}", self.pid));
    }

    /// Waits for the process to exit, and for its output to be read to the end. Fails
    /// the test if it takes longer than `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let status = match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("wait for the server"),
            Err(_) => panic!(
                "the server did not exit within {within:?}:\n{}",
                self.output()
            ),
        };
        self.drain_output().await;
        status
    }

    /// SIGTERM, then waits up to `grace` for the graceful shutdown; kills the process
    /// (SIGKILL) if it takes longer, or if the signal could not be sent.
    pub async fn stop(&mut self, grace: Duration) -> std::io::Result<ExitStatus> {
        if self.terminate().is_ok()
            && let Ok(status) = tokio::time::timeout(grace, self.child.wait()).await
        {
            return status;
        }
        self.child.kill().await?;
        self.child.wait().await
    }

    /// Waits (briefly) for the output readers to reach the end of the pipes.
    async fn drain_output(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
    }
}

/// One of a child's output pipes.
type Stream = Box<dyn AsyncRead + Send + Unpin>;

/// Reads a pipe line by line into `output`, and announces the address of the first
/// listening line.
async fn read_lines(
    stream: Stream,
    output: Arc<Mutex<Output>>,
    announce: Arc<watch::Sender<Option<SocketAddr>>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(addr) = listening_addr(&line) {
            // Only the first: a later line quoting it must not move the address.
            announce.send_if_modified(|first| {
                let unset = first.is_none();
                if unset {
                    *first = Some(addr);
                }
                unset
            });
        }
        let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
        if output.keep.is_some_and(|keep| output.lines.len() >= keep) {
            output.lines.pop_front();
        }
        output.lines.push_back(line);
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn finds_the_port_in_the_log_line() {
        let line = "2026-11-26T05:14:52.123Z  INFO users_api::server: listening on \
                    http://127.0.0.1:41234 (API docs at http://127.0.0.1:41234/docs) tier=\"tier-raw\"";
        assert_eq!(
            listening_addr(line),
            Some(SocketAddr::from(([127, 0, 0, 1], 41234)))
        );
        assert_eq!(
            listening_addr("listening on http://[::1]:80/"),
            "[::1]:80".parse().ok()
        );
        assert_eq!(
            listening_addr(&format!("{LISTENING_ON}10.0.0.1:8")),
            "10.0.0.1:8".parse().ok()
        );
        assert_eq!(listening_addr("starting"), None);
        assert_eq!(listening_addr("listening on http://nowhere"), None);
    }

    /// A shell standing in for a tier: it announces an address, then sleeps.
    fn fake_tier(script: &str) -> TierProcess {
        let mut command = TierProcess::command("sh");
        command.args(["-c", script]);
        TierProcess::start(command, Some(2)).unwrap()
    }

    #[tokio::test]
    async fn reads_the_address_keeps_the_tail_and_sigterm_stops_the_child() {
        let mut tier = fake_tier(
            "echo one; echo \"bind $BIND_ADDR\"; echo 'x listening on http://127.0.0.1:4242 (docs)'; \
             exec sleep 30",
        );
        let addr = tier.listening(Duration::from_secs(10)).await.unwrap();
        assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], 4242)));
        assert_eq!(tier.addr(), Some(addr));
        // `sleep 30` ignores nothing: SIGTERM ends it, by that signal, long before 30 s.
        tier.sigterm();
        let status = tier.wait_exit(Duration::from_secs(10)).await;
        assert_eq!(status.signal(), Some(Signal::TERM.as_raw()), "{status}");
        // Two lines kept of three, the variable it was given among them.
        let output = tier.output();
        assert!(output.starts_with("bind 127.0.0.1:0\n"), "{output}");
        assert_eq!(output.lines().count(), 2, "{output}");
        assert_eq!(
            tier.output_tail(1),
            "x listening on http://127.0.0.1:4242 (docs)\n"
        );
        // Signalling a process that is gone does nothing.
        tier.terminate().unwrap();
    }

    #[tokio::test]
    async fn a_child_that_exits_or_stays_silent_is_not_listening() {
        let mut exits = fake_tier("echo 'no database' >&2; exit 3");
        let err = exits.listening(Duration::from_secs(10)).await.unwrap_err();
        assert!(
            matches!(err, NotListening::Exited(s) if s.code() == Some(3)),
            "{err}"
        );
        assert_eq!(exits.output(), "no database\n");

        let mut silent = fake_tier("exec sleep 30");
        let err = silent
            .listening(Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(err, NotListening::Silent(_)), "{err}");
        // A graceful stop of a process that obeys SIGTERM takes no grace at all.
        let status = silent.stop(Duration::from_secs(10)).await.unwrap();
        assert_eq!(status.signal(), Some(Signal::TERM.as_raw()), "{status}");
    }
}
