//! Checks of exercise 05: what the database holds after a failed sign-up, and what
//! another connection sees while one is under way.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};

use super::database;
use super::ex05_transaction::{NewPost, NewUser, sign_up_with_first_post};

checks!(
    a_refused_post_leaves_no_user_behind,
    nobody_sees_the_user_before_the_post,
);

fn ada() -> NewUser {
    NewUser {
        name: "Ada".into(),
        email: "ada@example.com".into(),
    }
}

fn post(title: &str) -> NewPost {
    NewPost {
        title: title.into(),
        body: "Notes on the Analytical Engine".into(),
    }
}

/// The number of rows in `table` (a name from this file).
async fn count(client: &tokio_postgres::Client, table: &str) -> anyhow::Result<i64> {
    let row = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await?;
    Ok(row.try_get(0)?)
}

async fn a_refused_post_leaves_no_user_behind() -> anyhow::Result<()> {
    let db = database::with_schema().await?;
    let pool = database::sqlx_pool(&db).await?;
    let client = db.connect().await;
    // An empty title breaks the posts_title_length constraint: the second insert fails.
    let refused = sign_up_with_first_post(&pool, &ada(), &post("")).await;
    ensure!(
        refused.is_err(),
        "a post with an empty title was accepted: {refused:?}"
    );
    let users = count(&client, "users").await?;
    ensure!(
        users == 0,
        "after the post was refused, {users} user(s) remain: the user's insert had \
         committed on its own"
    );
    // And the same sign-up with a valid post now succeeds, both rows in place.
    let (user_id, post_id) = sign_up_with_first_post(&pool, &ada(), &post("Hello"))
        .await
        .context("a valid sign-up after the refused one")?;
    let row = client
        .query_one("SELECT user_id FROM posts WHERE id = $1", &[&post_id])
        .await
        .context("the returned post id is not in posts")?;
    let author: i64 = row.try_get(0)?;
    ensure!(
        author == user_id,
        "post {post_id} belongs to user {author}, not {user_id}"
    );
    Ok(())
}

async fn nobody_sees_the_user_before_the_post() -> anyhow::Result<()> {
    let db = database::with_schema().await?;
    let pool = database::sqlx_pool(&db).await?;
    let (observer, locker) = (db.connect().await, db.connect().await);
    // Hold the posts table so that the post's insert waits, between the two inserts.
    locker.batch_execute("BEGIN").await?;
    locker
        .batch_execute("LOCK TABLE posts IN EXCLUSIVE MODE")
        .await?;
    let task_pool = pool.clone();
    let sign_up =
        tokio::spawn(
            async move { sign_up_with_first_post(&task_pool, &ada(), &post("Hello")).await },
        );
    // Wait until a session of this database waits for that lock: the post's insert.
    let started = Instant::now();
    let seen = loop {
        let waiting: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await?
            .try_get(0)?;
        if waiting > 0 {
            break Some(count(&observer, "users").await?);
        }
        if started.elapsed() > Duration::from_secs(5) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Let the insert through, whatever was seen, and wait for the sign-up to end.
    locker.batch_execute("COMMIT").await?;
    let signed_up = sign_up.await.context("the sign-up panicked")?;
    let Some(users) = seen else {
        bail!("after 5 s, the sign-up had still not reached the post's insert");
    };
    ensure!(
        users == 0,
        "while the post's insert waited, another connection already saw {users} user(s): \
         the user was committed before their post was written"
    );
    signed_up.context("the sign-up, once the lock was released")?;
    let (users, posts) = (
        count(&observer, "users").await?,
        count(&observer, "posts").await?,
    );
    ensure!(
        (users, posts) == (1, 1),
        "after the sign-up: {users} users and {posts} posts, not 1 and 1"
    );
    Ok(())
}
