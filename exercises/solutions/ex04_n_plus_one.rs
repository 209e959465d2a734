//! # Exercise 04, solved: one join instead of 1 + N
//!
//! The task is in `exercises/src/ex04_n_plus_one.rs`. One statement, whatever the page
//! size. The other way out sends two: the posts, then every author at once with
//! `SELECT id, name FROM users WHERE id = ANY($1)` (an `i64` array of the posts'
//! `user_id`s), matched up in Rust through a `HashMap`: what SeaORM's loader
//! (`load_one`) does, and the better choice when the "one" side is wide or shared by
//! many rows.

use tokio_postgres::Client;

/// A post and its author, as the page lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostWithAuthor {
    /// The post's id.
    pub post_id: i64,
    /// The post's title.
    pub title: String,
    /// The author's id (`posts.user_id`).
    pub author_id: i64,
    /// The author's name.
    pub author_name: String,
}

/// The first `limit` posts by id, each with its author.
pub async fn posts_with_authors(
    client: &Client,
    limit: i64,
) -> Result<Vec<PostWithAuthor>, tokio_postgres::Error> {
    // The database pairs each post with its author: one statement, one round trip. An
    // inner join is right here, since the foreign key guarantees every post an author.
    let rows = client
        .query(
            "SELECT p.id, p.title, p.user_id, u.name AS author_name \
             FROM posts p JOIN users u ON u.id = p.user_id \
             ORDER BY p.id LIMIT $1",
            &[&limit],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(PostWithAuthor {
                post_id: row.try_get("id")?,
                title: row.try_get("title")?,
                author_id: row.try_get("user_id")?,
                author_name: row.try_get("author_name")?,
            })
        })
        .collect()
}
