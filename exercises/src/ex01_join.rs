//! # Exercise 01: several lookups at once (`join!`), the first answer (`select!`), a deadline
//!
//! Lecture: "Waiting for several things at once" (`cargo run --example concurrent_tasks`).
//!
//! A profile page needs a user's name and their post count, each from a slow remote
//! [`Directory`] (every lookup takes its `delay`). Write three functions:
//!
//! 1. [`profile`] works, but asks for the name, waits, then asks for the count: twice
//!    one lookup's time. Make both lookups run at once, so it takes about one.
//! 2. [`name_within`]: the name if the directory answers within `deadline`, else `None`,
//!    returned as soon as the deadline passes (not when the lookup finally ends).
//! 3. [`fastest_name`]: ask two replicas of the directory at once and return the first
//!    answer; the slower lookup must be dropped, not left running.
//!
//! Check: `cargo test -p exercises ex01`. Hints, from a nudge to nearly the answer:
//! `exercises/hints/ex01.md`.

// The stubs leave their arguments unused until you write them.
#![allow(unused_variables)]

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
    // One lookup, then the other: nothing asks for the count until the name is here.
    let name = directory.user_name(id).await;
    let posts = directory.post_count(id).await;
    Profile { name, posts }
}

/// User `id`'s name if `directory` answers within `deadline`, otherwise `None`.
pub async fn name_within(directory: &Directory, id: i64, deadline: Duration) -> Option<String> {
    todo!("exercise 01: the name, or None as soon as the deadline passes")
}

/// User `id`'s name from whichever of `primary` and `replica` answers first.
pub async fn fastest_name(primary: &Directory, replica: &Directory, id: i64) -> String {
    todo!("exercise 01: ask both directories, keep the first answer")
}
