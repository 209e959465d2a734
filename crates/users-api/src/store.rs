//! The `UserStore` trait: the seam between the HTTP layer and a database tier.
//!
//! Handlers are generic over `S: UserStore`, so the HTTP code is written once and each
//! tier crate supplies only this: the operations on users (a batch and an export
//! among them), then on their posts, a ping, and closing its pool. A tier's
//! `store.rs` implements them in this order, so the three files diff line by line.
//!
//! The methods return `impl Future + Send` (stable "async fn in traits", Rust 1.75+)
//! rather than using `#[async_trait]`: no boxing, and the `Send` bound lets axum run
//! a handler's future on any worker thread of the multi-threaded runtime. A tier may
//! still write `async fn` in its `impl`; the compiler checks the future is `Send`.

use std::future::Future;

use futures::stream::BoxStream;

use crate::error::StoreError;
use crate::model::{
    Page, PostCreate, PostRead, PostWithAuthor, UserBatch, UserCreate, UserRead, UserUpdate,
};

/// What every store operation returns.
pub type StoreResult<T> = Result<T, StoreError>;

/// How many rows an export reads per statement (a portal's `Execute`, or a keyset
/// page). Small enough that each statement is short and a dropped export stops within
/// one batch; large enough that the round trips between batches cost little.
pub const EXPORT_BATCH_ROWS: i64 = 1_000;

/// Every user, one item per row as it arrives from the database: what
/// [`UserStore::export`] returns. Boxed and `'static`, because it outlives the
/// handler: axum polls it while it writes the response body.
pub type UserStream = BoxStream<'static, StoreResult<UserRead>>;

/// Persistence for users. `Clone` is expected to be cheap (a pool handle).
pub trait UserStore: Clone + Send + Sync + 'static {
    /// Inserts a user; the database assigns `id` and `created_at`.
    /// Fails with [`StoreError::EmailTaken`] if the email exists in any letter case.
    fn create(&self, user: &UserCreate) -> impl Future<Output = StoreResult<UserRead>> + Send;

    /// Users with `id > page.after_id`, ascending by `id`, at most `page.limit`.
    fn list(&self, page: Page) -> impl Future<Output = StoreResult<Vec<UserRead>>> + Send;

    /// The user with this id, if any.
    fn get(&self, id: i64) -> impl Future<Output = StoreResult<Option<UserRead>>> + Send;

    /// Changes the members that `changes` sets; `None` if there is no such user.
    /// Fails with [`StoreError::EmailTaken`] if the new email belongs to another user.
    fn update(
        &self,
        id: i64,
        changes: &UserUpdate,
    ) -> impl Future<Output = StoreResult<Option<UserRead>>> + Send;

    /// Deletes the user, and with them their posts (the foreign key cascades); `false`
    /// if there was none.
    fn delete(&self, id: i64) -> impl Future<Output = StoreResult<bool>> + Send;

    // The async lessons: a transaction across awaits, and a result streamed as it arrives.

    /// Inserts every user of the batch, or none: one transaction, one `INSERT` for all
    /// rows that skips an entry whose email is taken (`ON CONFLICT DO NOTHING`), then
    /// [`UserBatch::check_inserted`] on the rows it returned decides commit (the users,
    /// in request order) or roll back ([`StoreError::BatchEmailsTaken`]).
    ///
    /// The future may be dropped at any await (the client hung up): whatever was sent
    /// must then be rolled back and the connection go back to the pool usable.
    fn create_batch(
        &self,
        batch: &UserBatch,
    ) -> impl Future<Output = StoreResult<Vec<UserRead>>> + Send;

    /// Every user, ascending by `id`, from one consistent snapshot, as a stream that
    /// yields rows as the database sends them and reads no further ahead than the
    /// reader takes (a slow client does not grow memory). Nothing happens until the
    /// stream is first polled. Dropping it (the client hung up) must stop the query
    /// within a second and leave no session `active` or `idle in transaction`. Each
    /// statement it runs stays short, so the 4 s statement timeout never cuts a slow
    /// reader off.
    fn export(&self) -> UserStream;

    // Posts. API.md's rule for all of them: a fixed number of statements whatever the
    // page size, at most 2. No N+1: the authors of a page come with the page.

    /// Inserts a post by user `user_id`; `None` if there is no such user. The foreign
    /// key decides (SQLSTATE 23503 on `posts_user_id_fkey`, see `crate::sqlstate`), not
    /// a read before the insert: a user deleted meanwhile is `None` too, never a 500.
    fn create_post(
        &self,
        user_id: i64,
        post: &PostCreate,
    ) -> impl Future<Output = StoreResult<Option<PostRead>>> + Send;

    /// User `user_id`'s posts with `id > page.after_id`, ascending, at most `page.limit`;
    /// `None` if there is no such user. The list comes first; only an empty page needs
    /// a second statement, to tell "no posts" from "no user".
    fn list_user_posts(
        &self,
        user_id: i64,
        page: Page,
    ) -> impl Future<Output = StoreResult<Option<Vec<PostRead>>>> + Send;

    /// Posts of all users with `id > page.after_id`, ascending, at most `page.limit`,
    /// each with its author: one statement, however long the page.
    fn list_posts(
        &self,
        page: Page,
    ) -> impl Future<Output = StoreResult<Vec<PostWithAuthor>>> + Send;

    /// The post with this id and its author, if any.
    fn get_post(&self, id: i64)
    -> impl Future<Output = StoreResult<Option<PostWithAuthor>>> + Send;

    /// Deletes the post; `false` if there was none.
    fn delete_post(&self, id: i64) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Checks that the database answers (for `GET /health`).
    fn ping(&self) -> impl Future<Output = StoreResult<()>> + Send;

    /// Closes the pool at shutdown: idle connections are closed, new requests refused.
    fn close(&self) -> impl Future<Output = ()> + Send;
}
