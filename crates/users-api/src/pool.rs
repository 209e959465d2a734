//! The pool settings every tier shares, decided once.
//!
//! Each tier hands these numbers to its own library in that library's idiom (see each
//! tier's `connect`): the settings are one decision, how to express them is the lesson.
//! The same numbers in every tier also let the benchmark compare the libraries, not
//! their configurations.

use std::time::Duration;

/// Connections in a tier's pool, unless `DB_POOL_SIZE` says otherwise.
///
/// On a 2-core machine PostgreSQL runs at most two queries at a time anyway; more
/// connections only add server processes (~10 MB each) taking turns on the cores. The
/// classic sizing rule, cores x 2 + disks, says about 5. 8 measured best of 4, 8 and 16
/// for every tier on the 2-core machine: the README's tuning table has the figures and
/// the bench command that reruns them (`--variant raw:DB_POOL_SIZE=4` and so on). On a
/// bigger machine, measure again.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// The longest a request waits for a pooled connection before it is answered 503.
///
/// The contract promises the 503 within 5 s. This deadline covers the whole checkout
/// (waiting for a free connection, opening a new one, any liveness check); half a
/// second under 5 s leaves room for the rest of the request. The fault tests measured
/// the pools answering an outage right at their deadline, so the margin matters.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(4_500);

/// The longest one statement may run on the server. A runaway query is cancelled by
/// PostgreSQL itself, and the connection is freed for the next request.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled connection idle for this long is pinged before a request gets it (the two
/// tiers on sqlx's pool; deadpool, in tier-raw, learns by itself that a connection
/// closed, from the driver's connection task).
///
/// Idle connections are the ones a database restart, an idle-session timeout or a
/// firewall may have closed behind our back; a busy server's connections come back to
/// the pool within milliseconds and are never pinged. The window is short on purpose:
/// a connection that dies within it fails one request with a 503, and is then closed.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);
