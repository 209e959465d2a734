//! What the load generator sends: the request of each workload, and the
//! pseudo-random ids and unique emails that go into them.
//!
//! Building a request is kept apart from sending it (`loadgen/client.rs`) and from
//! the loop that times it (`loadgen.rs`), so the requests can be tested without a
//! server, and a faster sender can reuse them unchanged.

use std::sync::atomic::{AtomicU64, Ordering};

use hyper::Method;

use crate::seed::Seeded;
use crate::workload::{BATCH_USERS, Workload};

/// Page size of the list workloads.
pub const PAGE: u64 = 50;

/// A small, fast pseudo-random generator (SplitMix64). Statistical quality is ample
/// for picking ids, and one per connection needs no lock and no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high` (the tiny modulo bias is irrelevant here).
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}

/// One request to send, and the status that means success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// GET, POST or PATCH.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// JSON body, if any.
    pub body: Option<String>,
    /// The status of a successful answer.
    pub expected: u16,
}

/// What a workload sends next. `seeded` says which ids exist (users 1..=users, posts
/// 1..=posts); `tag`, `conn` and `seq` make every created email unique across the
/// whole run.
pub fn request_for(
    workload: Workload,
    rng: &mut Rng,
    seeded: Seeded,
    tag: &str,
    conn: usize,
    seq: u64,
) -> RequestSpec {
    let rows = seeded.users;
    let get = |rng: &mut Rng| RequestSpec {
        method: Method::GET,
        path: format!("/users/{}", rng.range(1, rows)),
        body: None,
        expected: 200,
    };
    let list = |after_id: u64| RequestSpec {
        method: Method::GET,
        path: format!("/users?limit={PAGE}&after_id={after_id}"),
        body: None,
        expected: 200,
    };
    let create = || RequestSpec {
        method: Method::POST,
        path: "/users".into(),
        body: Some(format!(
            r#"{{"name":"Bench User","email":"b{tag}.{conn}.{seq}@bench.example"}}"#
        )),
        expected: 201,
    };
    // Entry `i` of batch `seq`: unique as create's are, with `i` added. The name is
    // create's too, so both write rows of one width; 100 entries come to about 8 KiB,
    // half the API's 16 KiB body limit.
    let batch = || {
        let entries: Vec<String> = (0..BATCH_USERS)
            .map(|i| {
                format!(
                    r#"{{"name":"Bench User","email":"b{tag}.{conn}.{seq}.{i}@bench.example"}}"#
                )
            })
            .collect();
        RequestSpec {
            method: Method::POST,
            path: "/users/batch".into(),
            body: Some(format!(r#"{{"users":[{}]}}"#, entries.join(","))),
            expected: 201,
        }
    };
    match workload {
        Workload::Get => get(rng),
        // A random start that still leaves a full page.
        Workload::List => list(rng.range(0, rows.saturating_sub(PAGE))),
        Workload::ListFirst => list(0),
        Workload::ListLast => list(rows.saturating_sub(PAGE)),
        Workload::Create => create(),
        Workload::Update => RequestSpec {
            method: Method::PATCH,
            path: format!("/users/{}", rng.range(1, rows)),
            body: Some(format!(r#"{{"name":"Renamed {conn}.{seq}"}}"#)),
            expected: 200,
        },
        Workload::Mixed => {
            if rng.range(0, 9) == 0 {
                create()
            } else {
                get(rng)
            }
        }
        // Like `list`: a random start that still leaves a full page of posts.
        Workload::Posts => RequestSpec {
            method: Method::GET,
            path: format!(
                "/posts?limit={PAGE}&after_id={}",
                rng.range(0, seeded.posts().saturating_sub(PAGE))
            ),
            body: None,
            expected: 200,
        },
        Workload::UserPosts => RequestSpec {
            method: Method::GET,
            path: format!("/users/{}/posts?limit={PAGE}", rng.range(1, rows)),
            body: None,
            expected: 200,
        },
        Workload::Batch => batch(),
        // Read line by line by `crate::export`, not by the closed loop.
        Workload::Export => RequestSpec {
            method: Method::GET,
            path: "/users/export".into(),
            body: None,
            expected: 200,
        },
    }
}

/// A tag unique to this process and call, for the emails of one run.
pub fn unique_tag() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:x}{}x{}",
        started,
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_in_range() {
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            let id = rng.range(1, 100);
            assert!((1..=100).contains(&id));
        }
    }

    /// 1,000 users with 10 posts each.
    const SEEDED: Seeded = Seeded {
        users: 1000,
        posts_per_user: 10,
    };

    #[test]
    fn workloads_build_the_requests_of_the_contract() {
        let mut rng = Rng::new(7);
        let get = request_for(Workload::Get, &mut rng, SEEDED, "t", 3, 9);
        assert_eq!(get.method, Method::GET);
        assert!(get.path.starts_with("/users/"));
        assert_eq!(get.expected, 200);

        let create = request_for(Workload::Create, &mut rng, SEEDED, "t", 3, 9);
        assert_eq!(create.method, Method::POST);
        assert_eq!(create.expected, 201);
        let body: serde_json::Value =
            serde_json::from_str(create.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["email"], "bt.3.9@bench.example");
        assert!(users_api::validate::user_create(&body).is_ok());

        let update = request_for(Workload::Update, &mut rng, SEEDED, "t", 3, 9);
        assert_eq!(update.method, Method::PATCH);
        let body: serde_json::Value =
            serde_json::from_str(update.body.as_deref().unwrap()).unwrap();
        assert!(users_api::validate::user_update(&body).is_ok());

        let last = request_for(Workload::ListLast, &mut rng, SEEDED, "t", 0, 0);
        assert_eq!(last.path, "/users?limit=50&after_id=950");
        let first = request_for(Workload::ListFirst, &mut rng, SEEDED, "t", 0, 0);
        assert_eq!(first.path, "/users?limit=50&after_id=0");
        for _ in 0..1000 {
            let list = request_for(Workload::List, &mut rng, SEEDED, "t", 0, 0);
            let after: u64 = list.path.rsplit('=').next().unwrap().parse().unwrap();
            assert!(after <= 950, "{after}");
        }
    }

    /// `posts` pages through every seeded post, always a full page; `user-posts`
    /// asks for the posts of a user that exists, and reaches every user.
    #[test]
    fn the_posts_workloads_ask_for_posts_and_users_that_exist() {
        let mut rng = Rng::new(11);
        let mut highest_after = 0;
        for _ in 0..10_000 {
            let posts = request_for(Workload::Posts, &mut rng, SEEDED, "t", 0, 0);
            assert_eq!(posts.method, Method::GET);
            assert_eq!(posts.expected, 200);
            let after: u64 = posts
                .path
                .strip_prefix("/posts?limit=50&after_id=")
                .unwrap()
                .parse()
                .unwrap();
            assert!(after <= 10_000 - 50, "{after}");
            highest_after = highest_after.max(after);
        }
        assert!(highest_after > 9_000, "{highest_after}");

        let mut users = std::collections::BTreeSet::new();
        for _ in 0..20_000 {
            let spec = request_for(Workload::UserPosts, &mut rng, SEEDED, "t", 0, 0);
            assert_eq!((spec.method.clone(), spec.expected), (Method::GET, 200));
            let id: u64 = spec
                .path
                .strip_prefix("/users/")
                .and_then(|rest| rest.strip_suffix("/posts?limit=50"))
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=1000).contains(&id), "{id}");
            users.insert(id);
        }
        assert_eq!(users.len(), 1000);
    }

    /// A batch is 100 valid, distinct users, under the body limit even with long
    /// tags and counters; the next batch's emails are all new.
    #[test]
    fn a_batch_is_a_hundred_new_users_within_the_body_limit() {
        let mut rng = Rng::new(3);
        let tag = unique_tag();
        let mut seen = std::collections::HashSet::new();
        for (conn, seq) in [(0, 1), (0, 2), (1, 1), (999, u64::from(u32::MAX))] {
            let spec = request_for(Workload::Batch, &mut rng, SEEDED, &tag, conn, seq);
            assert_eq!(
                (spec.method.clone(), spec.path.as_str()),
                (Method::POST, "/users/batch")
            );
            assert_eq!(spec.expected, 201);
            let body = spec.body.unwrap();
            assert!(
                body.len() < users_api::extract::BODY_LIMIT * 3 / 4,
                "{}",
                body.len()
            );
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            let batch = users_api::validate::user_batch(&json).unwrap();
            assert_eq!(batch.users().len(), BATCH_USERS);
            for email in batch.emails() {
                assert!(seen.insert(email.to_lowercase()), "{email} twice");
            }
        }
        assert_eq!(seen.len(), 4 * BATCH_USERS);
    }

    #[test]
    fn mixed_is_about_one_create_in_ten() {
        let mut rng = Rng::new(42);
        let creates = (0..10_000)
            .filter(|seq| {
                request_for(Workload::Mixed, &mut rng, SEEDED, "t", 0, *seq).method == Method::POST
            })
            .count();
        assert!((800..1200).contains(&creates), "{creates}");
    }

    #[test]
    fn tags_differ() {
        assert_ne!(unique_tag(), unique_tag());
    }
}
