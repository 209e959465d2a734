//! # Exercise 02: a blocking call, moved off the runtime with `spawn_blocking`
//!
//! Lecture: "When blocking cannot be avoided" (`cargo run --example blocking_pitfall`).
//!
//! [`sign_up`] is a request handler: it hashes the new user's password with
//! [`hash_password`], which holds its thread for 300 ms without ever yielding (a real
//! password hash is slow on purpose). Called straight from async code, it stalls every
//! other task on that runtime thread: on a current-thread runtime, all of them. The
//! checks run a heartbeat task that ticks every 10 ms beside your handler; today it
//! cannot tick at all while a password is hashed.
//!
//! Make [`sign_up`] return the same hash while the heartbeat keeps ticking, and let
//! several sign-ups hash at the same time.
//!
//! Check: `cargo test -p exercises ex02`. Hints: `exercises/hints/ex02.md`.

pub use crate::given::hash_password;

/// Handles a sign-up: returns the hash of `password`, to be stored.
pub async fn sign_up(password: String) -> anyhow::Result<String> {
    // A blocking call inside async code: this thread does nothing else for 300 ms.
    Ok(hash_password(&password))
}
