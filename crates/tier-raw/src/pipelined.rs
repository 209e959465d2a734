//! The async lesson, measured: one connection, many requests in flight.
//!
//! `DB_PIPELINE=true` starts tier-raw with this store. Reads (`get`, `list`) share one
//! long-lived `tokio_postgres::Client` (or a few: `DB_PIPELINE_CLIENTS`) instead of
//! borrowing a pooled connection each.
//! A `Client` is a handle to a connection task: when several requests issue queries on
//! one client at the same time, it writes them all to the socket without waiting for
//! the answers (pipelining), and PostgreSQL answers them in order. One round trip then
//! carries many queries, where the pool pays one round trip per query.
//!
//! Writes keep using the pooled [`RawStore`]: a transaction, or a statement whose
//! failure must not disturb its neighbours in a pipeline, wants a connection of its own.
//!
//! Posts, reads included, go through the pooled store too. The shared clients serve
//! the benchmark's hot path (`get` and `list` of users), and keeping them to that keeps
//! them cheap: each statement they hold is prepared again on every reconnect (one more
//! round trip inside the same [`ACQUIRE_TIMEOUT`]), and a join returning 500 posts
//! with their authors would delay every index lookup queued behind it on the socket.
//!
//! The default stays the pool, the canonical deadpool pattern: it is simpler to reason
//! about, and a long query on a shared client delays every query queued behind it.
//! The benchmark (`crates/bench`) shows what the pipeline buys.
//!
//! Why one shared client by default: every extra client spreads the same queries over
//! more connections, so each batch is smaller and every query pays more system calls
//! and wake-ups, while one PostgreSQL backend keeps up with all that two cores can send.
//! Reads here are index lookups, so one slow read cannot hold up the rest for long
//! (`statement_timeout` bounds it); a machine with more cores may want more. The
//! tuning table of docs/benchmark.md has the measured figures for 1, 2, 4 and 8 clients, and the
//! command that reruns them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Statement};
use users_api::{
    Page, PostCreate, PostRead, PostWithAuthor, StoreError, StoreResult, UserBatch, UserCreate,
    UserRead, UserStore, UserStream, UserUpdate,
};

use anyhow::Context as _;
use users_api::Config;
use users_api::deadline::Lease;
use users_api::pool::ACQUIRE_TIMEOUT;

use crate::store::{db_error, user_from_row};
use crate::{RawStore, connect, driver_config};

const GET_SQL: &str = "SELECT id, name, email, created_at FROM users WHERE id = $1";
const LIST_SQL: &str = "SELECT id, name, email, created_at FROM users \
                        WHERE id > $1 ORDER BY id LIMIT $2";

/// Like [`connect`], but reads go through `config.pipeline.clients` shared, pipelined
/// clients (`DB_PIPELINE=true`). Writes still use the pool.
pub async fn connect_pipelined(config: &Config) -> anyhow::Result<PipelinedStore> {
    // `Config::from_env` refuses the combination (exit 2); this guards other callers.
    if !config.prepared_statements {
        anyhow::bail!(
            "DB_PREPARED_STATEMENTS=false: the pipelined mode cannot send unnamed statements \
             (its shared clients keep theirs prepared for their life)"
        );
    }
    let pooled = connect(config).await?;
    let clients = config.pipeline.clients;
    let store = PipelinedStore::new(pooled, driver_config(&config.database)?, clients);
    // Connect every shared client now (pings go round robin), so that a bad
    // configuration fails at start-up rather than on the first request.
    for _ in 0..clients {
        store
            .ping()
            .await
            .context("connecting the shared read clients")?;
    }
    Ok(store)
}

/// A connected client with its statements prepared.
struct Shared {
    client: Client,
    get: Statement,
    list: Statement,
}

/// One slot: the current client, replaced by a fresh one when its connection dies.
struct Slot {
    current: Mutex<Option<Arc<Shared>>>,
}

/// A shared client lent to one read, with the slot it came from.
struct Lent {
    shared: Arc<Shared>,
    slots: Arc<Vec<Slot>>,
    index: usize,
}

impl std::ops::Deref for Lent {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// A read cut off before it released its client (see `users_api::deadline::Lease`):
/// its deadline passed with the query unanswered, so the client is suspect (a
/// partition, most likely), and every read queued on it would wait out its own
/// deadline too. The slot forgets it, so the next read connects afresh; the old
/// connection closes once the reads still holding it are done. No cancel request: on
/// a shared connection it could stop another request's query.
fn retire(lent: Lent) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut current = lent.slots[lent.index].current.lock().await;
        if current
            .as_ref()
            .is_some_and(|now| Arc::ptr_eq(now, &lent.shared))
        {
            *current = None;
        }
    });
}

/// Reads over shared, pipelined clients; writes through the pool.
#[derive(Clone)]
pub struct PipelinedStore {
    pooled: RawStore,
    // Behind an `Arc`: axum clones the state for every request, and cloning a
    // `Config` copies its strings. Profiling the pipelined mode under load
    // (`perf record` on the bench's `get`) showed that clone and its drop at 2 % of the
    // server's CPU, for a value read only when a slot reconnects.
    config: Arc<tokio_postgres::Config>,
    slots: Arc<Vec<Slot>>,
    next: Arc<AtomicUsize>,
}

impl PipelinedStore {
    /// Wraps the pooled store; the shared read clients connect on first use.
    pub fn new(pooled: RawStore, config: tokio_postgres::Config, clients: usize) -> Self {
        let slots = (0..clients.max(1))
            .map(|_| Slot {
                current: Mutex::new(None),
            })
            .collect();
        Self {
            pooled,
            config: Arc::new(config),
            slots: Arc::new(slots),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A live shared client, round robin. A slot whose connection has closed (the
    /// server restarted, the network dropped) reconnects here, within the same
    /// [`ACQUIRE_TIMEOUT`] a pooled checkout gets: the store heals by itself.
    /// Leased, like the pool's connections: a read that does not release it (cut off
    /// by its deadline) has the client retired from its slot.
    async fn shared(&self) -> StoreResult<Lease<Lent>> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut current = self.slots[index].current.lock().await;
        let shared = match current.as_ref().filter(|shared| !shared.client.is_closed()) {
            Some(shared) => Arc::clone(shared),
            None => {
                let connected = tokio::time::timeout(ACQUIRE_TIMEOUT, self.connect()).await;
                let shared = Arc::new(connected.map_err(StoreError::unavailable)??);
                *current = Some(Arc::clone(&shared));
                shared
            }
        };
        let slots = Arc::clone(&self.slots);
        Ok(Lease::new(
            Lent {
                shared,
                slots,
                index,
            },
            retire,
        ))
    }

    async fn connect(&self) -> StoreResult<Shared> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(db_error)?;
        // The connection task does the socket I/O for every query on this client.
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!(error = %err, "shared read connection closed");
            }
        });
        let get = client.prepare(GET_SQL).await.map_err(db_error)?;
        let list = client.prepare(LIST_SQL).await.map_err(db_error)?;
        Ok(Shared { client, get, list })
    }
}

impl UserStore for PipelinedStore {
    async fn create(&self, user: &UserCreate) -> StoreResult<UserRead> {
        self.pooled.create(user).await
    }

    async fn list(&self, page: Page) -> StoreResult<Vec<UserRead>> {
        self.pooled.statements.log(LIST_SQL);
        let shared = self.shared().await?;
        let rows = shared
            .client
            .query(&shared.list, &[&page.after_id, &page.limit])
            .await
            .map_err(db_error)?;
        shared.release();
        rows.iter().map(user_from_row).collect()
    }

    // ANCHOR: shared_get
    async fn get(&self, id: i64) -> StoreResult<Option<UserRead>> {
        self.pooled.statements.log(GET_SQL);
        let shared = self.shared().await?;
        let row = shared
            .client
            .query_opt(&shared.get, &[&id])
            .await
            .map_err(db_error)?;
        shared.release();
        row.as_ref().map(user_from_row).transpose()
    }
    // ANCHOR_END: shared_get

    async fn update(&self, id: i64, changes: &UserUpdate) -> StoreResult<Option<UserRead>> {
        self.pooled.update(id, changes).await
    }

    async fn delete(&self, id: i64) -> StoreResult<bool> {
        self.pooled.delete(id).await
    }

    // A transaction and a long read each hold a connection of their own: the pool's.

    async fn create_batch(&self, batch: &UserBatch) -> StoreResult<Vec<UserRead>> {
        self.pooled.create_batch(batch).await
    }

    fn export(&self) -> UserStream {
        self.pooled.export()
    }

    // Posts: all through the pool (see the module docs for why).

    async fn create_post(&self, user_id: i64, post: &PostCreate) -> StoreResult<Option<PostRead>> {
        self.pooled.create_post(user_id, post).await
    }

    async fn list_user_posts(
        &self,
        user_id: i64,
        page: Page,
    ) -> StoreResult<Option<Vec<PostRead>>> {
        self.pooled.list_user_posts(user_id, page).await
    }

    async fn list_posts(&self, page: Page) -> StoreResult<Vec<PostWithAuthor>> {
        self.pooled.list_posts(page).await
    }

    async fn get_post(&self, id: i64) -> StoreResult<Option<PostWithAuthor>> {
        self.pooled.get_post(id).await
    }

    async fn delete_post(&self, id: i64) -> StoreResult<bool> {
        self.pooled.delete_post(id).await
    }

    async fn ping(&self) -> StoreResult<()> {
        let shared = self.shared().await?;
        shared
            .client
            .simple_query("SELECT 1")
            .await
            .map_err(db_error)?;
        shared.release();
        self.pooled.ping().await
    }

    async fn close(&self) {
        for slot in self.slots.iter() {
            slot.current.lock().await.take();
        }
        self.pooled.close().await;
    }
}
