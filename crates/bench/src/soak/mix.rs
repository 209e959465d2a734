//! What the soak sends: a mix of every kind of request the API serves, drawn at random
//! request by request, with the tables kept at their seeded size.
//!
//! The timed rounds send one kind of request per window, so a leak that only a mix
//! shows (a delete that leaves something behind, a batch's transaction, a post's join)
//! would go unseen. Here each connection draws its next request from [`WEIGHTS`]:
//! reads and lists of users and posts, renames, creates of users and posts, deletes,
//! and now and then a batch of [`BATCH_USERS`](crate::workload::BATCH_USERS) users.
//!
//! A soak that only created would grow the tables, and a bigger table is a slower
//! one: the figures would drift for a reason that is not the tier's. So what a
//! connection creates it remembers ([`Pending`], the `Location` of a create, the ids a
//! batch answers with) and deletes again, oldest first: deletes are drawn a little
//! more often than the creates they balance, and once [`PENDING_CAP`] are waiting the
//! next request is a delete, whatever the draw. Seeded users and posts are never
//! deleted, so every read of a seeded id finds it, and any status other than the
//! expected one is an error of the tier's.

use std::collections::VecDeque;

use hyper::Method;

use crate::loadgen::{RequestSpec, Rng, request_for};
use crate::seed::Seeded;
use crate::workload::Workload;

/// One kind of request of the soak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `GET /users/{id}`, a seeded user.
    GetUser,
    /// `GET /users?limit=50&after_id=A`.
    ListUsers,
    /// `GET /posts/{id}`, a seeded post.
    GetPost,
    /// `GET /posts?limit=50&after_id=A`.
    ListPosts,
    /// `GET /users/{id}/posts?limit=50`.
    UserPosts,
    /// `PATCH /users/{id}`, a new name for a seeded user.
    Update,
    /// `POST /users`, remembered to be deleted.
    CreateUser,
    /// `POST /users/{id}/posts` on a seeded user, remembered to be deleted.
    CreatePost,
    /// `DELETE` of the oldest user or post this connection created.
    Delete,
    /// `POST /users/batch` of [`BATCH_USERS`](crate::workload::BATCH_USERS) users, each remembered to be deleted.
    Batch,
}

/// How often each kind is drawn, per 1,000 requests. Creates bring in 6 % + 6 % + 0.1 %
/// x 100 = 22 % of a row per request, deletes take out 19.9 %; [`PENDING_CAP`] makes up
/// the difference.
pub const WEIGHTS: [(Kind, u64); 10] = [
    (Kind::GetUser, 330),
    (Kind::ListUsers, 110),
    (Kind::GetPost, 40),
    (Kind::ListPosts, 60),
    (Kind::UserPosts, 60),
    (Kind::Update, 80),
    (Kind::CreateUser, 60),
    (Kind::CreatePost, 60),
    (Kind::Delete, 199),
    (Kind::Batch, 1),
];

/// Created rows one connection may have waiting to be deleted before it deletes
/// whatever it draws. A batch may take it over by up to [`BATCH_USERS`](crate::workload::BATCH_USERS).
pub const PENDING_CAP: usize = 50;

/// What a connection created and has not deleted yet: paths, oldest first.
#[derive(Debug, Default)]
pub struct Pending(VecDeque<String>);

impl Pending {
    /// How many are waiting.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What to remember from a successful answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Nothing.
    Nothing,
    /// The `Location` header: a user or a post to delete later.
    Location,
    /// The ids of `{"users": [...]}`: users to delete later.
    BatchIds,
}

/// Draws a kind from [`WEIGHTS`], or [`Kind::Delete`] when [`PENDING_CAP`] rows wait.
pub fn draw(rng: &mut Rng, pending: &Pending) -> Kind {
    if pending.len() >= PENDING_CAP {
        return Kind::Delete;
    }
    let total: u64 = WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut pick = rng.range(0, total - 1);
    for (kind, weight) in WEIGHTS {
        if pick < weight {
            return kind;
        }
        pick -= weight;
    }
    Kind::GetUser
}

/// The next request of one connection, and what to remember from its answer. A
/// delete with nothing to delete reads a user instead. `tag`, `conn` and `seq` make
/// every created email unique across the run, as in the timed rounds.
pub fn next(
    rng: &mut Rng,
    seeded: Seeded,
    tag: &str,
    conn: usize,
    seq: u64,
    pending: &mut Pending,
) -> (RequestSpec, Follow) {
    let mut kind = draw(rng, pending);
    if kind == Kind::Delete && pending.is_empty() {
        kind = Kind::GetUser;
    }
    let mut rate = |workload| request_for(workload, rng, seeded, tag, conn, seq);
    match kind {
        Kind::GetUser => (rate(Workload::Get), Follow::Nothing),
        Kind::ListUsers => (rate(Workload::List), Follow::Nothing),
        Kind::ListPosts => (rate(Workload::Posts), Follow::Nothing),
        Kind::UserPosts => (rate(Workload::UserPosts), Follow::Nothing),
        Kind::Update => (rate(Workload::Update), Follow::Nothing),
        Kind::CreateUser => (rate(Workload::Create), Follow::Location),
        Kind::Batch => (rate(Workload::Batch), Follow::BatchIds),
        Kind::GetPost => (
            RequestSpec {
                method: Method::GET,
                path: format!("/posts/{}", rng.range(1, seeded.posts().max(1))),
                body: None,
                expected: 200,
            },
            Follow::Nothing,
        ),
        Kind::CreatePost => (
            RequestSpec {
                method: Method::POST,
                path: format!("/users/{}/posts", rng.range(1, seeded.users)),
                body: Some(format!(
                    r#"{{"title":"Soak {conn}.{seq}","body":"Written and deleted again by the soak."}}"#
                )),
                expected: 201,
            },
            Follow::Location,
        ),
        Kind::Delete => {
            let path = pending.0.pop_front().unwrap_or_default();
            (
                RequestSpec {
                    method: Method::DELETE,
                    path,
                    body: None,
                    expected: 204,
                },
                Follow::Nothing,
            )
        }
    }
}

/// Remembers what a successful answer created: its `location`, or the ids of a
/// batch's `body`. A body that does not parse remembers nothing (the tidy-up after
/// the tier deletes it).
pub fn remember(follow: Follow, location: Option<&str>, body: &[u8], pending: &mut Pending) {
    match follow {
        Follow::Nothing => {}
        Follow::Location => {
            if let Some(path) = location.filter(|path| path.starts_with('/')) {
                pending.0.push_back(path.to_owned());
            }
        }
        Follow::BatchIds => {
            let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
                return;
            };
            let ids = json["users"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|user| user["id"].as_i64());
            pending.0.extend(ids.map(|id| format!("/users/{id}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::BATCH_USERS;

    const SEEDED: Seeded = Seeded {
        users: 1000,
        posts_per_user: 10,
    };

    #[test]
    fn the_weights_make_a_thousand_and_deletes_outweigh_single_creates() {
        let total: u64 = WEIGHTS.iter().map(|(_, w)| w).sum();
        assert_eq!(total, 1000);
        let weight = |kind| WEIGHTS.iter().find(|(k, _)| *k == kind).unwrap().1;
        assert!(weight(Kind::Delete) > weight(Kind::CreateUser) + weight(Kind::CreatePost));
        let mut rng = Rng::new(5);
        let pending = Pending::default();
        let batches = (0..100_000)
            .filter(|_| draw(&mut rng, &pending) == Kind::Batch)
            .count();
        assert!((50..200).contains(&batches), "{batches}");
    }

    /// Every read asks for a seeded row, every post created is a valid body on a
    /// seeded user, and every delete is of a path an answer gave.
    #[test]
    fn requests_are_valid_and_read_only_what_was_seeded() {
        let mut rng = Rng::new(9);
        let mut pending = Pending::default();
        let mut posts_created = 0;
        for seq in 0..5_000 {
            let (spec, follow) = next(&mut rng, SEEDED, "t", 2, seq, &mut pending);
            if spec.method == Method::DELETE {
                let id: u64 = spec.path.strip_prefix("/posts/").unwrap().parse().unwrap();
                assert!(id > 20_000, "only what was created: {id}");
                continue;
            }
            if let Some(id) = spec.path.strip_prefix("/posts/") {
                assert_eq!(spec.method, Method::GET);
                let id: u64 = id.parse().unwrap();
                assert!((1..=SEEDED.posts()).contains(&id), "{id}");
            }
            if spec.method == Method::POST && spec.path.ends_with("/posts") {
                let user: u64 = spec.path.split('/').nth(2).unwrap().parse().unwrap();
                assert!((1..=SEEDED.users).contains(&user), "{user}");
                let body: serde_json::Value =
                    serde_json::from_str(spec.body.as_deref().unwrap()).unwrap();
                assert!(users_api::validate::post_create(&body).is_ok(), "{body}");
                assert_eq!((follow, spec.expected), (Follow::Location, 201));
                // The server answers with where the post now is.
                posts_created += 1;
                let location = format!("/posts/{}", 20_000 + seq);
                remember(follow, Some(&location), b"", &mut pending);
            }
        }
        assert!(posts_created > 200, "{posts_created}");
    }

    /// What a connection creates it deletes, oldest first, and never more than the cap
    /// (plus one batch) waits.
    #[test]
    fn what_is_created_is_deleted_and_stays_bounded() {
        let mut rng = Rng::new(77);
        let mut pending = Pending::default();
        let mut next_id = 5_000;
        let mut created = Vec::new();
        let mut deleted = Vec::new();
        for seq in 0..20_000 {
            let (spec, follow) = next(&mut rng, SEEDED, "t", 0, seq, &mut pending);
            if spec.method == Method::DELETE {
                assert_eq!(spec.expected, 204);
                deleted.push(spec.path.clone());
            }
            match follow {
                Follow::Location => {
                    next_id += 1;
                    let path = format!("/users/{next_id}");
                    created.push(path.clone());
                    remember(follow, Some(&path), b"", &mut pending);
                }
                Follow::BatchIds => {
                    let ids: Vec<u64> = (0..BATCH_USERS as u64).map(|i| next_id + 1 + i).collect();
                    next_id += BATCH_USERS as u64;
                    created.extend(ids.iter().map(|id| format!("/users/{id}")));
                    let users: Vec<_> =
                        ids.iter().map(|id| serde_json::json!({"id": id})).collect();
                    let body = serde_json::json!({ "users": users }).to_string();
                    remember(follow, None, body.as_bytes(), &mut pending);
                }
                Follow::Nothing => {}
            }
            assert!(
                pending.len() <= PENDING_CAP + BATCH_USERS,
                "{}",
                pending.len()
            );
        }
        assert!(deleted.len() > 3_000, "{}", deleted.len());
        assert_eq!(
            deleted[..],
            created[..deleted.len()],
            "oldest first, each once"
        );
        assert_eq!(created.len() - deleted.len(), pending.len());
    }

    #[test]
    fn a_bad_answer_remembers_nothing() {
        let mut pending = Pending::default();
        remember(Follow::Location, None, b"", &mut pending);
        remember(
            Follow::Location,
            Some("http://elsewhere/x"),
            b"",
            &mut pending,
        );
        remember(Follow::BatchIds, None, b"not json", &mut pending);
        remember(Follow::BatchIds, None, br#"{"users": 3}"#, &mut pending);
        remember(Follow::Nothing, Some("/users/1"), b"", &mut pending);
        assert!(pending.is_empty());
    }
}
