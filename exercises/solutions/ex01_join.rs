//! # Exercise 01, solved: `join!`, `timeout`, `select!`
//!
//! The task is in `exercises/src/ex01_join.rs`. All three functions stay on one task:
//! `join!` and `select!` poll several futures from the task that awaits them, so nothing
//! is spawned and the borrowed `&Directory` needs no `Arc`.

use std::time::Duration;

pub use crate::given::Directory;

/// What the profile page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The user's name.
    pub name: String,
    /// How many posts they wrote.
    pub posts: u64,
}

/// User `id`'s profile: their name and post count, from `directory`.
pub async fn profile(directory: &Directory, id: i64) -> Profile {
    // Both futures are created first, then polled together: the two waits overlap, so
    // the whole takes as long as the slower lookup, not the sum.
    let (name, posts) = tokio::join!(directory.user_name(id), directory.post_count(id));
    Profile { name, posts }
}

/// User `id`'s name if `directory` answers within `deadline`, otherwise `None`.
pub async fn name_within(directory: &Directory, id: i64, deadline: Duration) -> Option<String> {
    // `timeout` races the lookup against a timer; when the timer wins it drops the
    // lookup's future, which is how a future is cancelled. (`select!` with a
    // `tokio::time::sleep(deadline)` branch does the same.)
    tokio::time::timeout(deadline, directory.user_name(id))
        .await
        .ok()
}

/// User `id`'s name from whichever of `primary` and `replica` answers first.
pub async fn fastest_name(primary: &Directory, replica: &Directory, id: i64) -> String {
    // `select!` polls both and returns with the first to finish; the other branch's
    // future is dropped right there, so its lookup stops (its count goes back to 0).
    tokio::select! {
        name = primary.user_name(id) => name,
        name = replica.user_name(id) => name,
    }
}
