//! # Exercise 02, solved: `spawn_blocking`
//!
//! The task is in `exercises/src/ex02_blocking.rs`.

pub use crate::given::hash_password;

/// Handles a sign-up: returns the hash of `password`, to be stored.
pub async fn sign_up(password: String) -> anyhow::Result<String> {
    // The hash runs on tokio's blocking pool, a set of threads kept for exactly this;
    // this task waits for it like for any other future, and the runtime's thread is
    // free meanwhile. The closure must be `'static`, so it takes the `String` by move.
    // The `?` turns a panic inside the closure (a `JoinError`) into an error.
    let hash = tokio::task::spawn_blocking(move || hash_password(&password)).await?;
    Ok(hash)
}
