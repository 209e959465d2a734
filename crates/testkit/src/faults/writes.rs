//! No lost writes: many clients writing at once all land, and a write the server
//! acknowledged survives every database connection being cut mid-way.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{id_of, timed};
use crate::TestApp;
use crate::conformance::all_users;
use crate::proxy::FaultProxy;

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
