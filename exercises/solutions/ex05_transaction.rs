//! # Exercise 05, solved: one transaction for both inserts
//!
//! The task is in `exercises/src/ex05_transaction.rs`.

use sqlx::PgPool;

/// The user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Their name (1 to 100 characters).
    pub name: String,
    /// Their email address (unique, whatever the letter case).
    pub email: String,
}

/// Their first post.
#[derive(Debug, Clone)]
pub struct NewPost {
    /// Its title (1 to 200 characters).
    pub title: String,
    /// Its text.
    pub body: String,
}

/// Creates `user` and their first `post`, and returns `(user id, post id)`.
pub async fn sign_up_with_first_post(
    pool: &PgPool,
    user: &NewUser,
    post: &NewPost,
) -> Result<(i64, i64), sqlx::Error> {
    // `begin` takes one connection from the pool and sends BEGIN; both statements must
    // run on that connection (`&mut *tx`), not on the pool, or they would escape it.
    let mut tx = pool.begin().await?;
    let user_id: i64 =
        sqlx::query_scalar("INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id")
            .bind(&user.name)
            .bind(&user.email)
            .fetch_one(&mut *tx)
            .await?;
    let post_id: i64 = sqlx::query_scalar(
        "INSERT INTO posts (user_id, title, body) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(user_id)
    .bind(&post.title)
    .bind(&post.body)
    .fetch_one(&mut *tx)
    .await?;
    // Nothing is visible to anyone else until this COMMIT. If a `?` above returns early,
    // or this future is dropped (a client that went away, a timeout), `tx` is dropped
    // uncommitted and sqlx rolls it back before the connection is used again.
    tx.commit().await?;
    Ok((user_id, post_id))
}
