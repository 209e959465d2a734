//! The deadline on every store operation, and what happens to a connection it cuts off.
//!
//! A network partition is the fault no library timeout sees: the connection stays
//! open, the query was sent, and no answer ever comes. The pools' checkout deadlines
//! (`ACQUIRE_TIMEOUT`) cover getting a connection, PostgreSQL's `statement_timeout`
//! covers a query the server is running, and neither covers a round trip lost on the
//! way. So every handler runs its store call inside [`within_deadline`]: checkout and
//! round trips together get [`OPERATION_DEADLINE`], then the request is answered 503.
//!
//! Cutting the future off is the easy half. The connection it held was in the middle
//! of a round trip: an answer may still arrive, or never. Handed to the next request,
//! that request would queue behind the lost one and time out too. A tier that can see
//! its connection wraps it in a [`Lease`], released when the operation finishes and
//! abandoned (the tier's own function: check it, or close it and cancel the query)
//! when it is dropped half way, which is what a deadline does to it (or a client that
//! hangs up).
//!
//! tier-raw leases its connections (deadpool hands them out, `Object::take` removes one
//! from the pool, tokio-postgres can send a cancel request). The sqlx tiers need no
//! lease, and could not use one around `&pool` executors: sqlx's `PoolConnection`,
//! dropped, pings the connection before the pool takes it back (`return_to_pool` in
//! sqlx-core's `pool/connection.rs`), so one lost in a partition stays out, counted
//! against the pool's size, until that ping is answered (the network healed; sqlx has
//! no deadline on it, no cancel request, and no TCP keepalive settings).

use std::future::Future;
use std::ops::{Deref, DerefMut};

use crate::error::StoreError;
use crate::pool::OPERATION_DEADLINE;
use crate::store::StoreResult;

/// Runs one store operation, checkout included, within [`OPERATION_DEADLINE`]: past it
/// the operation's future is dropped (at whatever await it was suspended) and the
/// answer is [`StoreError::Unavailable`], a 503 with `Retry-After`.
pub async fn within_deadline<T>(operation: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    match tokio::time::timeout(OPERATION_DEADLINE, operation).await {
        Ok(result) => result,
        Err(_elapsed) => Err(StoreError::unavailable(format!(
            "no answer from the database within {} ms",
            OPERATION_DEADLINE.as_millis()
        ))),
    }
}

/// A connection lent to one operation, that must not go back to its pool unless the
/// operation finished with it.
///
/// Dropping a `Lease` calls its `abandon` function on the connection: the lease was
/// dropped before [`Lease::release`], so the operation's future was cut off (its
/// deadline, its client gone) or left early on an error, and a round trip on the
/// connection may be half done. `release` hands the connection back for normal return
/// to the pool. A plain `fn` rather than a closure: abandoning needs nothing but the
/// connection, and a `fn` keeps the lease `Send` without boxing.
pub struct Lease<T> {
    connection: Option<T>,
    abandon: fn(T),
}

impl<T> Lease<T> {
    /// Lends `connection` to an operation; `abandon` runs on it unless released.
    pub fn new(connection: T, abandon: fn(T)) -> Self {
        Self {
            connection: Some(connection),
            abandon,
        }
    }

    /// The operation finished (successfully, or with an error the database sent, which
    /// leaves the connection in a known state): the connection is dropped as usual,
    /// which hands it back to its pool.
    pub fn release(mut self) {
        drop(self.connection.take());
    }
}

impl<T> Deref for Lease<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.connection {
            Some(connection) => connection,
            None => unreachable_lease(),
        }
    }
}

impl<T> DerefMut for Lease<T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.connection {
            Some(connection) => connection,
            None => unreachable_lease(),
        }
    }
}

impl<T> Drop for Lease<T> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            (self.abandon)(connection);
        }
    }
}

/// The one state a `Lease` is never observed in: `connection` is `None` only once
/// [`Lease::release`] or `drop` has consumed the lease.
#[cold]
fn unreachable_lease() -> ! {
    unreachable!("a lease is used only while it holds its connection")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static ABANDONED: AtomicUsize = AtomicUsize::new(0);

    fn count_abandoned(_: u32) {
        ABANDONED.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn a_released_lease_is_not_abandoned_and_a_dropped_one_is() {
        let released = Lease::new(7, count_abandoned);
        assert_eq!(*released, 7);
        released.release();
        assert_eq!(ABANDONED.load(Ordering::SeqCst), 0);
        drop(Lease::new(8, count_abandoned));
        assert_eq!(ABANDONED.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_operation_within_the_deadline_keeps_its_answer() {
        // Past the deadline is the fault suite's business (`faults/outage.rs`): it takes
        // the deadline's 4.5 s of real time, against a database that stopped answering.
        let result = within_deadline(async { Err::<(), _>(StoreError::EmailTaken) }).await;
        assert!(matches!(result, Err(StoreError::EmailTaken)), "{result:?}");
    }
}
