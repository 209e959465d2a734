//! # Exercise 04: N+1 queries, fixed
//!
//! Lecture: "Relations: the N+1 problem" (`cargo run --example
//! n_plus_one`).
//!
//! [`posts_with_authors`] lists the first `limit` posts (by id) of the course's schema
//! (`migrations/`: `users`, and `posts` whose `user_id` is the author), each with its
//! author's name. It is right, and it sends 1 + N statements: one for the posts, then
//! one per post for its author. 21 round trips for a page of 20, 501 for a page of 500.
//!
//! Make it send at most 2 statements, whatever `limit` is, with the same result.
//! The checks count what your code sends with the bench's counting proxy
//! (`crates/bench/src/proxy.rs`), which sits between it and PostgreSQL.
//!
//! Check: `cargo test -p exercises ex04`. Hints: `exercises/hints/ex04.md`.

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
    let posts = client
        .query(
            "SELECT id, user_id, title FROM posts ORDER BY id LIMIT $1",
            &[&limit],
        )
        .await?;
    let mut page = Vec::with_capacity(posts.len());
    for post in &posts {
        let author_id: i64 = post.try_get("user_id")?;
        // One more statement, and one more round trip, per post: the N of 1 + N.
        let author = client
            .query_one("SELECT name FROM users WHERE id = $1", &[&author_id])
            .await?;
        page.push(PostWithAuthor {
            post_id: post.try_get("id")?,
            title: post.try_get("title")?,
            author_id,
            author_name: author.try_get("name")?,
        });
    }
    Ok(page)
}
