//! Many clients at once through PgBouncer, with `DB_PREPARED_STATEMENTS=false`: every
//! answer must be the right one.
//!
//! The conformance suite sends one request at a time, and one request at a time never
//! shows what goes wrong here: PgBouncer hands the idle server connection straight back
//! to the same client. With clients competing for fewer server connections than the
//! tier has connections, a driver that splits one statement over two transactions
//! (sqlx's unnamed path: Parse, Describe, **Sync**, wait, then Bind, Execute, Sync) has
//! its Bind land on whichever server connection PgBouncer lends next, where the unnamed
//! statement is another client's. With different parameter counts that is an error
//! ("bind message supplies 2 parameters, but prepared statement \"\" requires 1",
//! SQLSTATE 08P01); with the same count it silently runs the other statement: a
//! `GET /users/{id}` that deletes the user, a `DELETE` that deletes nothing.
//!
//! So [`concurrent_clients_get_their_own_answers`] seeds users and posts, then has
//! [`CLIENTS`] clients mix, for [`RUN_FOR`], reads of several shapes (a user, a page of
//! users, a user's posts, a page of posts, a post) and writes (create a user, rename
//! them, give them a post, delete them, see them gone), and checks each body against
//! what the seeds or the write make certain, not only its status. At the end every
//! seeded row must still be there, unchanged, and every user a client created gone.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use users_api::UserStore;
use users_api::config::Config;

use crate::{TestApp, TestResponse};

/// Clients sending requests at once, each waiting for its answer before the next.
const CLIENTS: usize = 16;

/// How long they keep at it: a few seconds of CI time, thousands of requests.
const RUN_FOR: Duration = Duration::from_secs(3);

/// The tier's own pool: more connections than PgBouncer's server pool
/// ([`CONFORMANCE_POOL_SIZE`](crate::pgbouncer::CONFORMANCE_POOL_SIZE), 2), so that
/// the tier's connections take turns on each server connection.
const TIER_POOL_SIZE: usize = 8;

/// Users seeded, each with [`POSTS_EACH`] posts; no client writes to them.
const SEEDED: usize = 20;
const POSTS_EACH: usize = 2;

/// A page size both list reads ask for.
const PAGE: usize = 3;

/// What the seeds are: users `(id, name, email)` in id order, and posts `(id,
/// user_id)` in id order.
struct Seeds {
    users: Vec<(i64, String, String)>,
    posts: Vec<(i64, i64)>,
}

/// Seeds, then [`CLIENTS`] clients for [`RUN_FOR`]; fails listing the wrong answers.
/// `connect` reaches the database through PgBouncer with the setting off.
pub async fn concurrent_clients_get_their_own_answers<S, C>(connect: C)
where
    S: UserStore,
    C: AsyncFnOnce(&Config) -> anyhow::Result<S> + Copy,
{
    let wide = async move |config: &Config| {
        let config = Config {
            pool_size: TIER_POOL_SIZE,
            ..config.clone()
        };
        connect(&config).await
    };
    let app = TestApp::spawn(wide).await;
    let seeds = seed(&app).await;
    let deadline = Instant::now() + RUN_FOR;
    let clients = (0..CLIENTS).map(|client| run_client(&app, &seeds, client, deadline));
    let results = futures::future::join_all(clients).await;
    let requests: usize = results.iter().map(|(sent, _)| sent).sum();
    let wrong: Vec<String> = results.into_iter().flat_map(|(_, wrong)| wrong).collect();
    println!(
        "FIGURE concurrent clients behind PgBouncer: {requests} requests from {CLIENTS} \
         clients in {} s (tier pool {TIER_POOL_SIZE}, PgBouncer pool 2), {} wrong",
        RUN_FOR.as_secs(),
        wrong.len()
    );
    let shown: Vec<&String> = wrong.iter().take(12).collect();
    assert!(
        wrong.is_empty(),
        "{} of {requests} answers wrong through PgBouncer (unnamed statements split \
         across server connections?); the first:\n{}",
        wrong.len(),
        shown
            .iter()
            .map(|line| format!("  {line}\n"))
            .collect::<String>()
    );
    check_rows_left(&app, &seeds).await;
}

/// Creates the seeded users and posts through the API, one request at a time.
async fn seed(app: &TestApp) -> Seeds {
    let mut seeds = Seeds {
        users: Vec::new(),
        posts: Vec::new(),
    };
    for n in 0..SEEDED {
        let (name, email) = (format!("Seed {n}"), format!("seed{n}@example.com"));
        let user = app.create_user(&name, &email).await;
        let id = user["id"].as_i64().expect("an id");
        seeds.users.push((id, name, email));
    }
    // Posts after all users, so each user's posts are not one run of ids.
    for _ in 0..POSTS_EACH {
        for &(id, _, _) in &seeds.users {
            let post = app.create_post(id, "Seeded", "post").await;
            seeds
                .posts
                .push((post["id"].as_i64().expect("a post id"), id));
        }
    }
    seeds
}

/// One client's loop: a read or a write sequence per step, until `deadline`. Returns
/// the requests sent and a line for each wrong answer.
async fn run_client(
    app: &TestApp,
    seeds: &Seeds,
    client: usize,
    deadline: Instant,
) -> (usize, Vec<String>) {
    let mut check = Check::default();
    let mut step = 0;
    while Instant::now() < deadline {
        // Clients start at different kinds and pick different rows, so that requests of
        // every kind (and parameter count) are in flight at once.
        let pick = (client * 7 + step * 13) % SEEDED;
        match (client + step) % 6 {
            0 => read_user(app, seeds, pick, &mut check).await,
            1 => read_users_page(app, seeds, pick, &mut check).await,
            2 => read_user_posts(app, seeds, pick, &mut check).await,
            3 => read_posts_page(app, seeds, pick * POSTS_EACH, &mut check).await,
            4 => read_post(app, seeds, pick * POSTS_EACH, &mut check).await,
            _ => write_sequence(app, client, step, &mut check).await,
        }
        step += 1;
    }
    (check.sent, check.wrong)
}

/// The requests one client sent, and what was wrong with their answers.
#[derive(Default)]
struct Check {
    sent: usize,
    wrong: Vec<String>,
}

impl Check {
    /// Counts `response`; it is wrong unless its status is `status` and `fits` its
    /// body. Returns the body when it is right.
    fn answer(
        &mut self,
        response: &TestResponse,
        status: u16,
        fits: impl FnOnce(&Value) -> bool,
    ) -> Option<Value> {
        self.sent += 1;
        let body = if response.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&response.body).unwrap_or(Value::Null)
        };
        if response.status == status && fits(&body) {
            return Some(body);
        }
        let text = response.text();
        let text: String = text.chars().take(200).collect();
        self.wrong.push(format!(
            "{} {}: {} (expected {status}) {text}",
            response.method, response.path, response.status
        ));
        None
    }
}

/// The ids of a JSON array's items.
fn ids(body: &Value) -> Vec<i64> {
    body.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["id"].as_i64())
                .collect()
        })
        .unwrap_or_default()
}

async fn read_user(app: &TestApp, seeds: &Seeds, pick: usize, check: &mut Check) {
    let (id, name, email) = &seeds.users[pick];
    let response = app.get(&format!("/users/{id}")).await;
    check.answer(&response, 200, |body| {
        body["id"] == *id && body["name"] == *name && body["email"] == *email
    });
}

/// A page after a seeded user: the seeded users that follow, as many as fit (users a
/// client creates meanwhile get higher ids than every seed).
async fn read_users_page(app: &TestApp, seeds: &Seeds, pick: usize, check: &mut Check) {
    let after = seeds.users[pick].0;
    let expected: Vec<i64> = seeds.users[pick + 1..]
        .iter()
        .map(|u| u.0)
        .take(PAGE)
        .collect();
    let response = app
        .get(&format!("/users?limit={PAGE}&after_id={after}"))
        .await;
    check.answer(&response, 200, |body| {
        let got = ids(body);
        let full = expected.len() == PAGE;
        // A short tail may be followed by users created meanwhile, all above `after`.
        if full {
            got == expected
        } else {
            got.starts_with(&expected) && got.len() <= PAGE
        }
    });
}

async fn read_user_posts(app: &TestApp, seeds: &Seeds, pick: usize, check: &mut Check) {
    let user = seeds.users[pick].0;
    let expected: Vec<i64> = seeds
        .posts
        .iter()
        .filter(|p| p.1 == user)
        .map(|p| p.0)
        .collect();
    let response = app.get(&format!("/users/{user}/posts?limit={PAGE}")).await;
    check.answer(&response, 200, |body| ids(body) == expected);
}

/// A page of posts after a seeded post: the seeded posts that follow, each with its
/// author.
async fn read_posts_page(app: &TestApp, seeds: &Seeds, pick: usize, check: &mut Check) {
    let after = seeds.posts[pick].0;
    let expected: Vec<(i64, i64)> = seeds.posts[pick + 1..].iter().copied().take(PAGE).collect();
    let response = app
        .get(&format!("/posts?limit={PAGE}&after_id={after}"))
        .await;
    check.answer(&response, 200, |body| {
        let got: Vec<(i64, i64)> = body
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|item| item["author"]["id"] == item["user_id"])
                    .filter_map(|item| Some((item["id"].as_i64()?, item["user_id"].as_i64()?)))
                    .collect()
            })
            .unwrap_or_default();
        if expected.len() == PAGE {
            got == expected
        } else {
            got.starts_with(&expected) && got.len() <= PAGE
        }
    });
}

async fn read_post(app: &TestApp, seeds: &Seeds, pick: usize, check: &mut Check) {
    let (id, user) = seeds.posts[pick];
    let response = app.get(&format!("/posts/{id}")).await;
    check.answer(&response, 200, |body| {
        body["id"] == id && body["user_id"] == user && body["author"]["id"] == user
    });
}

/// Creates a user, renames them, gives them a post, deletes them, and sees them gone;
/// each answer must be about that user. A step that failed ends the sequence.
async fn write_sequence(app: &TestApp, client: usize, step: usize, check: &mut Check) {
    let email = format!("c{client}s{step}@example.com");
    let response = app
        .post_json("/users", &json!({"name": "New", "email": email}))
        .await;
    let Some(user) = check.answer(&response, 201, |body| body["email"] == *email.as_str()) else {
        return;
    };
    let Some(id) = user["id"].as_i64() else {
        return;
    };
    let name = format!("Renamed {client}/{step}");
    let response = app
        .patch_json(&format!("/users/{id}"), &json!({"name": name}))
        .await;
    let renamed = check.answer(&response, 200, |body| {
        body["id"] == id && body["name"] == *name.as_str() && body["email"] == *email.as_str()
    });
    if renamed.is_none() {
        return;
    }
    let response = app
        .post_json(
            &format!("/users/{id}/posts"),
            &json!({"title": name, "body": "b"}),
        )
        .await;
    check.answer(&response, 201, |body| {
        body["user_id"] == id && body["title"] == *name.as_str()
    });
    let response = app.delete(&format!("/users/{id}")).await;
    check.answer(&response, 204, |_| true);
    let response = app.get(&format!("/users/{id}")).await;
    check.answer(&response, 404, |_| true);
}

/// Straight from PostgreSQL: every seeded user and post still there and unchanged, and
/// no other user left (each client deleted what it created).
async fn check_rows_left(app: &TestApp, seeds: &Seeds) {
    let db = app.db.connect().await;
    let users: Vec<(i64, String, String)> = db
        .query("SELECT id, name, email FROM users ORDER BY id", &[])
        .await
        .expect("read users")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    assert_eq!(
        users, seeds.users,
        "the users left: the seeds, unchanged, and nothing else"
    );
    let posts: Vec<(i64, i64)> = db
        .query("SELECT id, user_id FROM posts ORDER BY id", &[])
        .await
        .expect("read posts")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(posts, seeds.posts, "the posts left: the seeded ones");
}
