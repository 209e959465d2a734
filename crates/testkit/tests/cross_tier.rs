//! The three tiers serve one API: the same request script, sent to each tier (each on
//! a fresh database), must get the same statuses, headers and bodies. Only
//! `created_at` values and request ids may differ, and they are masked.
//!
//! `cargo test -p testkit --test cross_tier` (needs PostgreSQL: see the README).

// Test code: a panic with a message is how a failed expectation is reported, in the
// helpers too (clippy.toml allows expect only inside #[test] functions).
#![allow(clippy::expect_used)]

use reqwest::Method;
use serde_json::{Value, json};
use testkit::{TestApp, TestResponse};

/// One request of the script.
struct Step {
    method: Method,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
}

fn step(method: Method, path: &'static str, body: Option<Value>) -> Step {
    let content_type = body.as_ref().map(|_| "application/json");
    let body = body.map(|body| serde_json::to_vec(&body).expect("serialize"));
    Step {
        method,
        path,
        content_type,
        body,
    }
}

fn raw(
    method: Method,
    path: &'static str,
    content_type: Option<&'static str>,
    body: &[u8],
) -> Step {
    Step {
        method,
        path,
        content_type,
        body: Some(body.to_vec()),
    }
}

/// A walk through the whole contract: every endpoint, every error status that does
/// not need a fault injected.
fn script() -> Vec<Step> {
    use Method as M;
    vec![
        step(M::GET, "/health", None),
        step(M::GET, "/users", None),
        step(
            M::POST,
            "/users",
            Some(json!({"name": " Ada Lovelace ", "email": "Ada@Example.com"})),
        ),
        step(
            M::POST,
            "/users",
            Some(json!({"name": "Grace Hopper", "email": "grace@example.com"})),
        ),
        step(
            M::POST,
            "/users",
            Some(json!({"name": "李小龍 👩🏽‍💻", "email": "bruce@example.com"})),
        ),
        step(
            M::POST,
            "/users",
            Some(json!({"name": "Imposter", "email": "ADA@example.COM"})),
        ),
        step(
            M::POST,
            "/users",
            Some(json!({"name": "", "email": "nope", "admin": true})),
        ),
        step(
            M::POST,
            "/users",
            Some(json!({"name": "Nul\u{0}", "email": 5})),
        ),
        step(M::POST, "/users", Some(json!([1, 2]))),
        raw(
            M::POST,
            "/users",
            Some("application/json"),
            br#"{"name": "Ada""#,
        ),
        raw(
            M::POST,
            "/users",
            Some("application/json"),
            br#"{"name": "\udc00", "email": "x@y.zz"}"#,
        ),
        raw(
            M::POST,
            "/users",
            Some("text/plain"),
            br#"{"name": "A", "email": "a@b.co"}"#,
        ),
        raw(
            M::POST,
            "/users",
            Some("application/json"),
            &[b' '; 20 * 1024],
        ),
        step(M::GET, "/users?limit=2", None),
        step(M::GET, "/users?limit=2&after_id=2", None),
        step(M::GET, "/users?limit=2&after_id=3", None),
        step(M::GET, "/users?limit=0&after_id=-1", None),
        step(M::GET, "/users?limit=abc", None),
        step(M::GET, "/users/1", None),
        step(M::GET, "/users/99", None),
        step(M::GET, "/users/0", None),
        step(M::GET, "/users/abc", None),
        step(M::GET, "/users/1.5", None),
        step(M::GET, "/users/9223372036854775808", None),
        step(
            M::PATCH,
            "/users/2",
            Some(json!({"name": "  Grace B. Hopper "})),
        ),
        step(
            M::PATCH,
            "/users/2",
            Some(json!({"email": "ada@example.com"})),
        ),
        step(
            M::PATCH,
            "/users/1",
            Some(json!({"email": "ADA@EXAMPLE.COM"})),
        ),
        step(M::PATCH, "/users/1", Some(json!({}))),
        step(
            M::PATCH,
            "/users/1",
            Some(json!({"name": null, "email": "bad@"})),
        ),
        step(M::PATCH, "/users/99", Some(json!({"name": "Nobody"}))),
        step(M::DELETE, "/users/3", None),
        step(M::DELETE, "/users/3", None),
        step(M::GET, "/users", None),
        step(M::PUT, "/users/1", Some(json!({"name": "X"}))),
        step(M::DELETE, "/users", None),
        step(M::GET, "/no/such/route", None),
    ]
}

/// What of a response must be identical across tiers.
fn transcript(response: &TestResponse) -> Value {
    let header = |name: &str| response.header(name).map(str::to_owned);
    assert!(
        header("x-request-id").is_some(),
        "{} {}: no request id",
        response.method,
        response.path
    );
    let body = if response.body.is_empty() {
        Value::Null
    } else {
        let mut body = response.json();
        mask_created_at(&mut body);
        body
    };
    json!({
        "request": format!("{} {}", response.method, response.path),
        "status": response.status,
        "content-type": header("content-type"),
        "location": header("location"),
        "link": header("link"),
        "allow": header("allow"),
        "retry-after": header("retry-after"),
        "body": body,
    })
}

fn mask_created_at(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(mask_created_at),
        Value::Object(members) => {
            if let Some(created_at) = members.get_mut("created_at") {
                *created_at = json!("<created_at>");
            }
        }
        _ => {}
    }
}

async fn run(app: &TestApp) -> Vec<Value> {
    let mut transcripts = Vec::new();
    for step in script() {
        let response = app
            .send(step.method, step.path, step.content_type, step.body)
            .await;
        transcripts.push(transcript(&response));
    }
    transcripts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_three_tiers_answer_alike() {
    let raw = run(&TestApp::spawn(tier_raw::connect).await).await;
    let sqlx = run(&TestApp::spawn(tier_sqlx::connect).await).await;
    let orm = run(&TestApp::spawn(tier_orm::connect).await).await;

    // The script exercises every status that needs no fault injection.
    let statuses: std::collections::BTreeSet<u64> =
        raw.iter().filter_map(|t| t["status"].as_u64()).collect();
    let expected = [200, 201, 204, 400, 404, 405, 409, 413, 415, 422];
    assert_eq!(statuses.into_iter().collect::<Vec<_>>(), expected);

    for (name, other) in [("tier-sqlx", &sqlx), ("tier-orm", &orm)] {
        for (a, b) in raw.iter().zip(other.iter()) {
            assert_eq!(
                a, b,
                "\n{name} answered differently from tier-raw to {}:\n tier-raw: {a:#}\n {name}: {b:#}",
                a["request"]
            );
        }
        assert_eq!(raw.len(), other.len());
    }
}
