//! # Exercise 05: a user and their first post, both or neither
//!
//! Lecture: "Transactions: all or nothing, across awaits" (`cargo run --example
//! transactions`).
//!
//! [`sign_up_with_first_post`] creates a user, then their first post, in the course's
//! schema (`migrations/`), through sqlx. Each insert runs on its own and commits at
//! once, so when the post is refused (an empty title breaks `posts_title_length`), the
//! user stays behind without it. And between the two inserts, any other connection can
//! already see the user, post-less.
//!
//! Make the two inserts one transaction: a failure of either leaves nothing behind,
//! nobody sees the user before their post is in, and success returns both ids.
//!
//! Check: `cargo test -p exercises ex05`. Hints: `exercises/hints/ex05.md`.

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
    // Each statement on the pool: its own connection, its own implicit transaction.
    let user_id: i64 =
        sqlx::query_scalar("INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id")
            .bind(&user.name)
            .bind(&user.email)
            .fetch_one(pool)
            .await?;
    let post_id: i64 = sqlx::query_scalar(
        "INSERT INTO posts (user_id, title, body) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(user_id)
    .bind(&post.title)
    .bind(&post.body)
    .fetch_one(pool)
    .await?;
    Ok((user_id, post_id))
}
