//! The fault suite's statement count (`faults/statements.rs`) catches an N+1.
//!
//! A test that counts statements passes trivially if the counting is broken (nothing
//! captured, the wrong messages counted): every tier would look fine. So this test
//! runs that very case against a store that has the N+1 problem on purpose: tier-raw's
//! store, wrapped so that a list of posts then reads each post's author with a query
//! of its own, as an ORM's lazy relation does. The case must fail on it, with its
//! message about a longer page costing more.
//!
//! `cargo test -p testkit --test statements_catch_n_plus_one` (needs PostgreSQL).

// Test code: a panic with a message is how a failed expectation is reported.
#![allow(clippy::expect_used)]

use testkit::suite::Needs;
use tier_raw::RawStore;
use users_api::config::Config;
use users_api::{
    Page, PostCreate, PostRead, PostWithAuthor, StoreResult, UserBatch, UserCreate, UserRead,
    UserStore, UserStream, UserUpdate,
};

/// Which list reads its authors one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lazy {
    /// `GET /posts`.
    Posts,
    /// `GET /users/{id}/posts`.
    UserPosts,
}

/// tier-raw's store, with an N+1 in one list.
#[derive(Clone)]
struct NPlusOne {
    inner: RawStore,
    lazy: Lazy,
}

impl NPlusOne {
    /// One more query per post: the author, read again, as a lazy relation would.
    async fn read_authors_one_by_one(
        &self,
        user_ids: impl Iterator<Item = i64>,
    ) -> StoreResult<()> {
        for user_id in user_ids {
            self.inner.get(user_id).await?;
        }
        Ok(())
    }
}

impl UserStore for NPlusOne {
    async fn create(&self, user: &UserCreate) -> StoreResult<UserRead> {
        self.inner.create(user).await
    }

    async fn list(&self, page: Page) -> StoreResult<Vec<UserRead>> {
        self.inner.list(page).await
    }

    async fn get(&self, id: i64) -> StoreResult<Option<UserRead>> {
        self.inner.get(id).await
    }

    async fn update(&self, id: i64, changes: &UserUpdate) -> StoreResult<Option<UserRead>> {
        self.inner.update(id, changes).await
    }

    async fn delete(&self, id: i64) -> StoreResult<bool> {
        self.inner.delete(id).await
    }

    async fn create_batch(&self, batch: &UserBatch) -> StoreResult<Vec<UserRead>> {
        self.inner.create_batch(batch).await
    }

    fn export(&self) -> UserStream {
        self.inner.export()
    }

    async fn create_post(&self, user_id: i64, post: &PostCreate) -> StoreResult<Option<PostRead>> {
        self.inner.create_post(user_id, post).await
    }

    async fn list_user_posts(
        &self,
        user_id: i64,
        page: Page,
    ) -> StoreResult<Option<Vec<PostRead>>> {
        let posts = self.inner.list_user_posts(user_id, page).await?;
        if self.lazy == Lazy::UserPosts {
            let user_ids = posts.iter().flatten().map(|post| post.user_id);
            self.read_authors_one_by_one(user_ids).await?;
        }
        Ok(posts)
    }

    async fn list_posts(&self, page: Page) -> StoreResult<Vec<PostWithAuthor>> {
        let posts = self.inner.list_posts(page).await?;
        if self.lazy == Lazy::Posts {
            let user_ids = posts.iter().map(|post| post.post.user_id);
            self.read_authors_one_by_one(user_ids).await?;
        }
        Ok(posts)
    }

    async fn get_post(&self, id: i64) -> StoreResult<Option<PostWithAuthor>> {
        self.inner.get_post(id).await
    }

    async fn delete_post(&self, id: i64) -> StoreResult<bool> {
        self.inner.delete_post(id).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}

async fn lazy_posts(config: &Config) -> anyhow::Result<NPlusOne> {
    let inner = tier_raw::connect(config).await?;
    Ok(NPlusOne {
        inner,
        lazy: Lazy::Posts,
    })
}

async fn lazy_user_posts(config: &Config) -> anyhow::Result<NPlusOne> {
    let inner = tier_raw::connect(config).await?;
    Ok(NPlusOne {
        inner,
        lazy: Lazy::UserPosts,
    })
}

/// Runs the fault suite's statement-counting case against the store `connect` makes.
async fn run_statement_case<C>(connect: C)
where
    C: AsyncFnOnce(&Config) -> anyhow::Result<NPlusOne> + Copy + Send + 'static,
{
    testkit::init_test_logging();
    let case = testkit::faults::cases::<NPlusOne, C>()
        .into_iter()
        .find(|case| case.name == "post_pages_cost_the_statements_of_one_post")
        .expect("the fault suite lists the statement-counting case");
    let Needs::Connect(run) = case.needs else {
        panic!("the statement-counting case sets its tier up itself (a `connect` case)");
    };
    run(connect).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "GET /posts: ")]
async fn an_n_plus_one_in_the_posts_list_is_caught() {
    run_statement_case(lazy_posts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "GET /users/{id}/posts: ")]
async fn an_n_plus_one_in_a_users_posts_is_caught() {
    run_statement_case(lazy_user_posts).await;
}
