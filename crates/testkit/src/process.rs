//! A tier's release binary run as a child process: started with exactly the
//! configuration a case gives it, its output captured, its listening address read from
//! its log, stopped with SIGTERM. Used by the fault suite's shutdown and security cases.

use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The configuration variables of API.md: a spawned tier gets only the ones a test
/// sets, never the test runner's own.
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

/// A tier's binary, running as a child process with its output captured.
pub struct TierProcess {
    child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl TierProcess {
    /// Starts `binary` with exactly these configuration variables (plus `BIND_ADDR`
    /// `127.0.0.1:0` unless given, and the binary's own), in a directory without a
    /// `.env`.
    pub fn spawn(binary: TierBinary, vars: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary.path);
        for name in CONFIG_VARS {
            command.env_remove(name);
        }
        command.env("BIND_ADDR", "127.0.0.1:0");
        for (name, value) in binary.env.iter().chain(vars) {
            command.env(name, value);
        }
        command
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("could not start {}: {err}", binary.path));
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        let stdout = child
            .stdout
            .take()
            .map(|out| Box::new(out) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
        let stderr = child
            .stderr
            .take()
            .map(|err| Box::new(err) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
        for stream in [stdout, stderr].into_iter().flatten() {
            let output = Arc::clone(&output);
            readers.push(tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
                    output.push_str(&line);
                    output.push('\n');
                }
            }));
        }
        Self {
            child,
            output,
            readers,
        }
    }

    /// Everything the process has written to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits for the "listening on http://ADDR" log line; returns `http://ADDR`.
    pub async fn wait_listening(&mut self, within: Duration) -> String {
        let started = Instant::now();
        loop {
            let output = self.output();
            if let Some(rest) = output.split("listening on http://").nth(1) {
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                return format!("http://{addr}");
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited ({status}) before listening:\n{output}");
            }
            assert!(
                started.elapsed() < within,
                "the server did not listen within {within:?}:\n{output}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM (what `docker stop` and orchestrators send).
    pub fn sigterm(&self) {
        let pid = self.child.id().expect("the server is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// Waits for the process to exit, and for its output to be read to the end.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let status = match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("wait for the server"),
            Err(_) => panic!(
                "the server did not exit within {within:?}:\n{}",
                self.output()
            ),
        };
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
        status
    }
}
