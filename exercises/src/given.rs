//! Code the exercises use and you do not change: the slow services of exercises 01
//! and 02. Read it to see what your code calls.

use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A remote directory of users (exercise 01): every lookup takes `delay`, like a call
/// to another service. It counts the lookups running at once, so the checks can see
/// whether yours overlap.
#[derive(Debug)]
pub struct Directory {
    delay: Duration,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

impl Directory {
    /// A directory whose lookups each take `delay`.
    pub fn new(delay: Duration) -> Self {
        Self {
            delay,
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        }
    }

    /// User `id`'s name, after `delay`.
    pub async fn user_name(&self, id: i64) -> String {
        let _lookup = self.start_lookup();
        tokio::time::sleep(self.delay).await;
        format!("user {id}")
    }

    /// How many posts user `id` wrote, after `delay`.
    pub async fn post_count(&self, id: i64) -> u64 {
        let _lookup = self.start_lookup();
        tokio::time::sleep(self.delay).await;
        id.unsigned_abs() * 3
    }

    /// The most lookups that were running at the same moment.
    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight.load(Ordering::SeqCst)
    }

    /// Lookups running now: one that was dropped half-way no longer counts.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    fn start_lookup(&self) -> Lookup<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        Lookup(self)
    }
}

/// A lookup in progress; dropping it (when it ends, or when its future is dropped)
/// takes it off the count.
struct Lookup<'a>(&'a Directory);

impl Drop for Lookup<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How long [`hash_password`] keeps its thread busy.
pub const HASHING_TIME: Duration = Duration::from_millis(300);

/// A deliberately slow password hash (exercise 02), standing in for argon2 or bcrypt:
/// it holds its thread for [`HASHING_TIME`] and never yields, as CPU-bound work does.
/// Not a real hash: do not store passwords with it.
pub fn hash_password(password: &str) -> String {
    std::thread::sleep(HASHING_TIME);
    // `DefaultHasher::new()` has fixed keys, so the result is the same in every run.
    let mut hasher = DefaultHasher::new();
    password.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// A user as the export of exercise 06 writes it, one JSON object per line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct ExportedUser {
    /// The user's id.
    pub id: i64,
    /// Their name.
    pub name: String,
    /// Their email address.
    pub email: String,
}

/// The rows of an export, as they come: each one a user or the error that ended it.
pub type Rows = futures::stream::BoxStream<'static, Result<ExportedUser, sqlx::Error>>;

/// Where the export of exercise 06 gets its rows: a query on the course's `users`
/// table in the app, a channel that the checks feed row by row.
#[derive(Clone)]
pub struct Source(std::sync::Arc<dyn Fn() -> Rows + Send + Sync>);

impl Source {
    /// A source that calls `rows` for each export.
    pub fn new(rows: impl Fn() -> Rows + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(rows))
    }

    /// Every user, by id, streamed from `pool` as PostgreSQL sends them: sqlx's `fetch`
    /// yields each row as it is decoded, and holds one connection until the last.
    pub fn from_pool(pool: sqlx::PgPool) -> Self {
        Self::new(move || {
            let pool = pool.clone();
            // `fetch` borrows the pool; the stream must own everything it uses, so the
            // pool moves into an async block that yields the rows.
            Box::pin(async_stream::try_stream! {
                use futures::TryStreamExt as _;
                let mut rows = sqlx::query_as::<_, ExportedUser>(
                    "SELECT id, name, email FROM users ORDER BY id",
                )
                .fetch(&pool);
                while let Some(user) = rows.try_next().await? {
                    yield user;
                }
            })
        })
    }

    /// A fresh stream of the rows, for one export.
    pub fn rows(&self) -> Rows {
        (self.0)()
    }
}
