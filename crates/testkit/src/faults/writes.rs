//! No lost writes: many clients writing at once all land, a write the server
//! acknowledged survives every database connection being cut mid-way, and a batch
//! racing single creates of its emails is written wholly or not at all.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{id_of, timed};
use crate::TestApp;
use crate::conformance::all_users;
use crate::proxy::FaultProxy;
use users_api::error::PROBLEM_JSON;

/// Concurrent clients in the write tests.
const WRITERS: usize = 64;

/// What one writer was told: its user's id (if the create succeeded) and every name
/// it tried, with whether the server acknowledged it.
struct WriterLog {
    email: String,
    id: Option<i64>,
    create: u16,
    /// `(name, status)` of the create (first) and each rename, in order.
    names: Vec<(String, u16)>,
}

async fn writer(app: &TestApp, index: usize, renames: usize) -> WriterLog {
    let email = format!("writer{index}@example.com");
    let name = format!("writer {index} v0");
    let create = timed(
        app,
        Method::POST,
        "/users",
        Some(&json!({"name": name, "email": email})),
    )
    .await;
    let mut log = WriterLog {
        email,
        id: None,
        create: create.response.status,
        names: vec![(name, create.response.status)],
    };
    if create.response.status != 201 {
        return log;
    }
    let id = id_of(&create.response.json());
    log.id = Some(id);
    for version in 1..=renames {
        let name = format!("writer {index} v{version}");
        let answer = timed(
            app,
            Method::PATCH,
            &format!("/users/{id}"),
            Some(&json!({"name": name})),
        )
        .await;
        if answer.response.status == 200 {
            assert_eq!(answer.response.json()["name"], name.as_str());
        }
        log.names.push((name, answer.response.status));
    }
    log
}

/// 64 clients at once, each creating a user and renaming it three times: every
/// request succeeds, and a full listing shows exactly the users the clients were told
/// were created, each with the last name it was told was stored.
pub(super) async fn concurrent_writes_all_land(app: &TestApp) {
    let logs = futures::future::join_all((0..WRITERS).map(|index| writer(app, index, 3))).await;
    let mut expected = BTreeMap::new();
    for log in &logs {
        for (name, status) in &log.names {
            assert!(
                *status == 201 || *status == 200,
                "{}: writing {name:?} answered {status} with nothing broken",
                log.email
            );
        }
        let id = log.id.expect("created");
        let last = &log.names.last().expect("a name").0;
        expected.insert(id, (log.email.clone(), last.clone()));
    }
    let listed: BTreeMap<i64, (String, String)> = all_users(app)
        .await
        .iter()
        .map(|user| {
            (
                id_of(user),
                (
                    user["email"].as_str().expect("email").to_owned(),
                    user["name"].as_str().expect("name").to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(
        listed, expected,
        "the listing differs from what clients were told"
    );
}

/// The same 64 writers while every database connection is cut mid-way. A write the
/// server acknowledged (201, 200) is never lost: it is in the listing, and a user's
/// name is the last acknowledged one, or a later one whose answer was a 503 (the
/// database may have committed it just before the cut: the client cannot know, which
/// is what `Retry-After` and idempotent retries are for). No other status occurs, and
/// nothing appears that no client sent.
pub(super) async fn acknowledged_writes_survive_a_cut(app: &TestApp, proxy: &FaultProxy) {
    let cutter = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        proxy.cut_all();
    };
    let (logs, ()) = tokio::join!(
        futures::future::join_all((0..WRITERS).map(|index| writer(app, index, 6))),
        cutter
    );
    let listed: BTreeMap<String, Value> = all_users(app)
        .await
        .into_iter()
        .map(|user| (user["email"].as_str().expect("email").to_owned(), user))
        .collect();
    let mut ambiguous = 0;
    let mut acknowledged = 0;
    for log in &logs {
        for (name, status) in &log.names {
            assert!(
                matches!(status, 200 | 201 | 503),
                "{}: writing {name:?} answered {status}",
                log.email
            );
            if *status == 503 {
                ambiguous += 1;
            } else {
                acknowledged += 1;
            }
        }
        let stored = listed.get(&log.email);
        match (log.create, stored) {
            (201, None) => panic!("{}: created (201) but missing from the listing", log.email),
            (201, Some(user)) => {
                assert_eq!(Some(id_of(user)), log.id, "{}: id changed", log.email);
                let stored_name = user["name"].as_str().expect("name");
                let last_ack = log
                    .names
                    .iter()
                    .rposition(|(_, status)| *status != 503)
                    .expect("the create was acknowledged");
                let allowed: Vec<&str> = log.names[last_ack..]
                    .iter()
                    .enumerate()
                    .filter(|(offset, (_, status))| *offset == 0 || *status == 503)
                    .map(|(_, (name, _))| name.as_str())
                    .collect();
                assert!(
                    allowed.contains(&stored_name),
                    "{}: stored name {stored_name:?}, but the client was told {:?}",
                    log.email,
                    log.names
                );
            }
            // A 503'd create may or may not have committed; if it did, it holds the
            // only name that client ever sent for it.
            (_, Some(user)) => assert_eq!(user["name"], log.names[0].0.as_str()),
            (_, None) => {}
        }
    }
    let senders: Vec<&String> = logs.iter().map(|log| &log.email).collect();
    for email in listed.keys() {
        assert!(senders.contains(&email), "{email} was never sent");
    }
    println!(
        "FIGURE writes under a cut: {acknowledged} acknowledged (all present), {ambiguous} answered 503"
    );
}

/// Rounds of the batch-against-single-creates race, and entries per batch.
const RACE_ROUNDS: usize = 8;
const RACE_BATCH: usize = 12;

/// API.md: "Racing single creates of the same emails: every email ends up with exactly
/// one owner, and the batch is either wholly written (201) or not at all (409)." Each
/// round sends a batch and, 0 to 21 ms later, single creates of a third of its emails
/// (in upper case: the same emails). The proxy adds 5 ms each way, so the batch's
/// transaction stays open across round trips, as on a network, and single creates land
/// before it, inside it or after it. Then, read from the database itself:
///
/// * batch 201: every single create of its emails was a 409, and the batch's users own
///   all of its emails;
/// * batch 409: its `errors` list, ascending, only entries whose single create won
///   (201), at least one; the batch wrote nothing; a single create may also win after
///   the batch rolled back (it waited on the batch's uncommitted row), so the list is
///   the entries taken when the batch inserted, not necessarily every one contested;
/// * every email has at most one owner, and exactly one if any create of it was a 201.
pub(super) async fn batch_races_single_creates(app: &TestApp, proxy: &FaultProxy) {
    proxy.set_latency(Duration::from_millis(5));
    let admin = app.db.connect().await;
    let (mut whole, mut refused) = (0, 0);
    for round in 0..RACE_ROUNDS {
        let emails: Vec<String> = (0..RACE_BATCH)
            .map(|i| format!("race{round}-{i}@example.com"))
            .collect();
        let entries: Vec<Value> = emails
            .iter()
            .map(|email| json!({"name": "Batch", "email": email}))
            .collect();
        let batch_body = json!({ "users": entries });
        let contested: Vec<usize> = (0..RACE_BATCH).filter(|i| i % 3 == round % 3).collect();
        // Staggered, not synchronised: the rounds vary how far the batch has got when
        // the single creates start (before its BEGIN, around its INSERT, after it).
        let stagger = Duration::from_millis(7 * (round % 4) as u64);
        let singles = contested.iter().map(|&i| {
            let body = json!({"name": "Single", "email": emails[i].to_uppercase()});
            async move {
                tokio::time::sleep(stagger).await;
                timed(app, Method::POST, "/users", Some(&body)).await
            }
        });
        let (batch, singles) = tokio::join!(
            timed(app, Method::POST, "/users/batch", Some(&batch_body)),
            futures::future::join_all(singles)
        );
        let won: BTreeSet<usize> = contested
            .iter()
            .zip(&singles)
            .filter(|(_, answer)| answer.response.status == 201)
            .map(|(&i, _)| i)
            .collect();
        for answer in &singles {
            assert!(
                matches!(answer.response.status, 201 | 409),
                "round {round}: a single create answered {}: {}",
                answer.response.status,
                answer.response.text()
            );
        }
        let owners = owners(&admin, &format!("race{round}-%")).await;
        match batch.response.status {
            201 => {
                whole += 1;
                assert!(
                    won.is_empty(),
                    "round {round}: batch 201, yet singles won {won:?}"
                );
                let created = batch.response.json();
                let ids: Vec<i64> = created["users"]
                    .as_array()
                    .expect("users")
                    .iter()
                    .map(id_of)
                    .collect();
                for (i, email) in emails.iter().enumerate() {
                    assert_eq!(
                        owners.get(email).map(|(id, name)| (*id, name.as_str())),
                        Some((ids[i], "Batch")),
                        "round {round}: batch 201, but {email} is not the batch's"
                    );
                }
            }
            409 => {
                refused += 1;
                assert_eq!(batch.response.header("content-type"), Some(PROBLEM_JSON));
                batch.response.assert_no_internal_text();
                let listed = conflict_indexes(&batch.response.json(), round);
                assert!(
                    !listed.is_empty() && listed.iter().all(|i| won.contains(i)),
                    "round {round}: batch 409 listing {listed:?}, but singles won {won:?}"
                );
                for (i, email) in emails.iter().enumerate() {
                    let expected = won.contains(&i).then_some("Single");
                    assert_eq!(
                        owners.get(email).map(|(_, name)| name.as_str()),
                        expected,
                        "round {round}: batch 409, and {email} is owned wrongly"
                    );
                }
            }
            other => panic!(
                "round {round}: the batch answered {other}: {}",
                batch.response.text()
            ),
        }
    }
    println!(
        "FIGURE batch against single creates: {whole} of {RACE_ROUNDS} rounds wholly written, {refused} refused (409)"
    );
}

/// Who owns each email matching `pattern` (lower-cased), read from the database:
/// `(id, name)`. Fails the test if any email has two owners.
async fn owners(admin: &tokio_postgres::Client, pattern: &str) -> BTreeMap<String, (i64, String)> {
    let rows = admin
        .query(
            "SELECT lower(email), id, name, count(*) OVER (PARTITION BY lower(email)) \
             FROM users WHERE lower(email) LIKE $1",
            &[&pattern],
        )
        .await
        .expect("read the owners");
    rows.iter()
        .map(|row| {
            let email: String = row.get(0);
            let owners: i64 = row.get(3);
            assert_eq!(owners, 1, "{email} has {owners} owners");
            (email, (row.get(1), row.get(2)))
        })
        .collect()
}

/// The entry indexes a batch's 409 lists, failing the test unless every error is
/// `{"loc": ["body", "users", INDEX, "email"], "msg": "email already taken", "type":
/// "conflict"}`, in ascending order.
fn conflict_indexes(body: &Value, round: usize) -> Vec<usize> {
    assert_eq!(body["status"], 409, "round {round}: {body}");
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("round {round}: no errors: {body}"));
    let indexes: Vec<usize> = errors
        .iter()
        .map(|error| {
            let index = error["loc"][2]
                .as_u64()
                .unwrap_or_else(|| panic!("round {round}: no integer index in {error}"));
            let index = usize::try_from(index).expect("small");
            let expected = json!({"loc": ["body", "users", index, "email"],
                "msg": "email already taken", "type": "conflict"});
            assert_eq!(error, &expected, "round {round}");
            index
        })
        .collect();
    assert!(
        indexes.is_sorted_by(|a, b| a < b),
        "round {round}: not ascending: {indexes:?}"
    );
    indexes
}
