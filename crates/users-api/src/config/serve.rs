//! How the server treats its clients: [`ServeConfig`] holds the limits of the accept
//! loop (`server/accept.rs`) and of the middleware that sheds load (`app/limits.rs`),
//! read from `MAX_IN_FLIGHT`, `MAX_CONNECTIONS` and `HEADER_READ_TIMEOUT_SECS`.
//!
//! Every limit has a default chosen for this machine and documented in
//! docs/reliability.md; the variables exist so an operator can size them for another,
//! and so the fault suite can test a 30 s timeout in 2 s.

use std::time::Duration;

use super::{ConfigError, parse_in_range};

/// Requests served at once before more are shed with 503 (`MAX_IN_FLIGHT`).
///
/// Measured, not guessed: on the 2-core machine of docs/benchmark.md, throughput
/// stops growing at about 64 concurrent requests for every tier (the knee of the
/// latency curve), and past it requests only queue. See
/// docs/reliability.md. The bench sets it far higher, so its figures are never shed.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// The cap on open connections when the file limit does not force a lower one.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// File descriptors kept for everything that is not a client: the pool's connections,
/// the listener, logs, and a margin.
pub const RESERVED_FDS: u64 = 128;

/// How long a client may take to send a complete request head, counted from when the
/// server starts waiting for one: a new connection, or a keep-alive connection between
/// requests (so an idle keep-alive connection is closed after it too). API.md: 30 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The limits the server puts on its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeConfig {
    /// Requests served at once; one more is answered 503 at once.
    pub max_in_flight: usize,
    /// Connections open at once; the next one waits in the kernel's accept queue.
    pub max_connections: usize,
    /// A connection that sends no complete request head within this time is closed.
    pub header_read_timeout: Duration,
}

impl Default for ServeConfig {
    /// The documented defaults, the connection cap sized for this process's file limit.
    fn default() -> Self {
        Self {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_connections: default_max_connections(soft_fd_limit()),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

impl ServeConfig {
    /// Reads the three variables through `lookup`, strictly: a value that is not a
    /// whole number in range is an error (the server exits 2).
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(raw) = lookup("MAX_IN_FLIGHT") {
            config.max_in_flight = parse_in_range("MAX_IN_FLIGHT", &raw, 1..=100_000)?;
        }
        if let Some(raw) = lookup("MAX_CONNECTIONS") {
            config.max_connections = parse_in_range("MAX_CONNECTIONS", &raw, 1..=1_000_000)?;
        }
        if let Some(raw) = lookup("HEADER_READ_TIMEOUT_SECS") {
            let secs = parse_in_range("HEADER_READ_TIMEOUT_SECS", &raw, 1..=3600)?;
            config.header_read_timeout = Duration::from_secs(secs as u64);
        }
        Ok(config)
    }
}

/// 1,024 connections, or fewer when the file limit is low: every connection is a file
/// descriptor, and a server that runs out of them cannot even open a database
/// connection. Keeps [`RESERVED_FDS`] free, or half the limit when that is tiny.
pub fn default_max_connections(soft_fd_limit: Option<u64>) -> usize {
    let Some(limit) = soft_fd_limit else {
        return DEFAULT_MAX_CONNECTIONS;
    };
    let usable = limit.saturating_sub(RESERVED_FDS).max(limit / 2).max(1);
    usize::try_from(usable).map_or(DEFAULT_MAX_CONNECTIONS, |usable| {
        usable.min(DEFAULT_MAX_CONNECTIONS)
    })
}

/// The process's soft limit on open files (`ulimit -n`), if it has one.
fn soft_fd_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    /// The contract's numbers: 30 s for a request head (and so for an idle keep-alive
    /// connection, under API.md's 75 s), 64 requests in flight.
    #[test]
    fn defaults_are_the_documented_ones() {
        let config = ServeConfig::from_lookup(&lookup(&[])).unwrap();
        assert_eq!(config.header_read_timeout, Duration::from_secs(30));
        assert_eq!(config.max_in_flight, 64);
        assert!((1..=1024).contains(&config.max_connections));
    }

    #[test]
    fn the_connection_cap_follows_the_file_limit() {
        assert_eq!(default_max_connections(None), 1024);
        assert_eq!(default_max_connections(Some(1_048_576)), 1024);
        assert_eq!(default_max_connections(Some(1024)), 896);
        assert_eq!(default_max_connections(Some(200)), 100);
        assert_eq!(default_max_connections(Some(1)), 1);
    }

    #[test]
    fn values_are_parsed_strictly() {
        let config = ServeConfig::from_lookup(&lookup(&[
            ("MAX_IN_FLIGHT", "4"),
            ("MAX_CONNECTIONS", " 8 "),
            ("HEADER_READ_TIMEOUT_SECS", "2"),
        ]))
        .unwrap();
        assert_eq!(
            config,
            ServeConfig {
                max_in_flight: 4,
                max_connections: 8,
                header_read_timeout: Duration::from_secs(2),
            }
        );
        for (name, bad) in [
            ("MAX_IN_FLIGHT", "0"),
            ("MAX_IN_FLIGHT", "lots"),
            ("MAX_IN_FLIGHT", "-1"),
            ("MAX_CONNECTIONS", "0"),
            ("HEADER_READ_TIMEOUT_SECS", "0"),
            ("HEADER_READ_TIMEOUT_SECS", "1.5"),
        ] {
            let err = ServeConfig::from_lookup(&|key: &str| (key == name).then(|| bad.to_owned()))
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{name}={bad}: {err}");
        }
    }
}
