//! The pool settings every tier shares, decided once.
//!
//! Each tier hands these numbers to its own library in that library's idiom (see each
//! tier's `connect`): the settings are one decision, how to express them is the lesson.
//! The same numbers in every tier also let the benchmark compare the libraries, not
//! their configurations.

use std::time::Duration;

// ANCHOR: pool_size
/// Connections in a tier's pool, unless `DB_POOL_SIZE` says otherwise.
///
/// On a 2-core machine PostgreSQL runs at most two queries at a time anyway; more
/// connections only add server processes (~10 MB each) taking turns on the cores. The
/// classic sizing rule, cores x 2 + disks, says about 5. 8 measured best of 4, 8 and 16
/// for every tier on the 2-core machine: docs/benchmark.md's tuning table has the figures and
/// the bench command that reruns them (`--variant raw:DB_POOL_SIZE=4` and so on). On a
/// bigger machine, measure again.
pub const DEFAULT_POOL_SIZE: usize = 8;
// ANCHOR_END: pool_size

/// The longest a request waits for a pooled connection before it is answered 503.
///
/// The contract promises the 503 within 5 s. This deadline covers the whole checkout
/// (waiting for a free connection, opening a new one, any liveness check); half a
/// second under 5 s leaves room for the rest of the request. The fault tests measured
/// the pools answering an outage right at their deadline, so the margin matters.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(4_500);

/// The longest a store operation may take in all, checkout and round trips together,
/// before the request is answered 503 (`crate::deadline::within_deadline`).
///
/// It is what answers a network partition: a query sent on a connection that stays
/// open while nothing comes back is waited on by no other timeout. Half a second under
/// the contract's 5 s, like [`ACQUIRE_TIMEOUT`]. It is the backstop for silence only:
/// while the server answers, [`STATEMENT_TIMEOUT`] ends a slow statement first.
pub const OPERATION_DEADLINE: Duration = Duration::from_millis(4_500);

/// TCP keepalive on the database connections, where the driver lets us set it
/// (tokio-postgres; sqlx exposes no socket options). After this long without traffic
/// the kernel probes the server, every [`TCP_KEEPALIVE_INTERVAL`], and gives up
/// after [`TCP_KEEPALIVE_RETRIES`] unanswered probes: an idle pooled connection across
/// a partition is found dead in about 25 s, and closed, instead of after the kernel's
/// two hours, so the pool does not lend it out again and again after the network heals.
pub const TCP_KEEPALIVE_IDLE: Duration = Duration::from_secs(10);

/// Time between two keepalive probes (see [`TCP_KEEPALIVE_IDLE`]).
pub const TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);

/// Unanswered keepalive probes before the kernel closes the connection.
pub const TCP_KEEPALIVE_RETRIES: u32 = 3;

/// How long sent data may stay unacknowledged before the kernel closes the connection
/// (Linux's `TCP_USER_TIMEOUT`): a query written into a partition is found dead in
/// 10 s rather than after some fifteen minutes of retransmissions. A live server
/// acknowledges within milliseconds, however long the query itself runs.
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest one statement may run on the server. A runaway query is cancelled by
/// PostgreSQL itself, and the connection is freed for the next request.
///
/// Under [`OPERATION_DEADLINE`] on purpose. A statement the server cancels has
/// certainly not happened, so its 503 means "not written, retry". A statement the
/// deadline cuts off on our side is still running there: an insert blocked on a lock
/// would commit once the lock is gone, after its client was told 503. So when the
/// server can answer, it answers first; the deadline only speaks when it cannot.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(4);

/// A pooled connection idle for this long is pinged before a request gets it (the two
/// tiers on sqlx's pool; deadpool, in tier-raw, learns by itself that a connection
/// closed, from the driver's connection task).
///
/// Idle connections are the ones a database restart, an idle-session timeout or a
/// firewall may have closed behind our back; a busy server's connections come back to
/// the pool within milliseconds and are never pinged. The window is short on purpose:
/// a connection that dies within it fails one request with a 503, and is then closed.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// The oldest a pooled connection may get: one older is closed instead of lent out, and
/// the pool opens a new one.
///
/// After a failover behind one address (a DNS name or a virtual IP moved to the
/// promoted standby), a long-lived connection still talks to the old server: read only
/// (25006, every write a 503) or about to be shut down. Replacing connections by age makes
/// the pool follow the address within this time, at the cost of one connect per
/// connection every few minutes. sqlx's pool (tiers II and III) has `max_lifetime` (its
/// default is 30 minutes); deadpool (tier-raw) has no such setting, and gets it from a
/// `pre_recycle` hook (see tier-raw's `connect`).
pub const MAX_LIFETIME: Duration = Duration::from_secs(5 * 60);
