//! The cross-tier request script: a walk through the whole contract (every endpoint,
//! every error status that needs no fault), and the transcript of each answer that
//! must be identical wherever it is served, with `created_at` values masked.
//!
//! Two tests send it: `tests/cross_tier.rs` to each of the three tiers (the same
//! answers from each), and `tests/several_instances.rs` round robin over six processes,
//! two of each tier, behind one PgBouncer (the same answers as from one).

use reqwest::Method;
use serde_json::{Value, json};

use crate::TestResponse;
use crate::app::send_to;

/// One request of the script.
pub struct Step {
    /// The method.
    pub method: Method,
    /// The path and query.
    pub path: &'static str,
    /// The `Content-Type`, if any.
    pub content_type: Option<&'static str>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
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
pub fn script() -> Vec<Step> {
    use Method as M;
    let mut steps = vec![
        step(M::GET, "/health", None),
        step(M::GET, "/users", None),
        step(M::GET, "/users/export", None),
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
    ];
    steps.extend(posts_script());
    steps.extend([
        // The cascade: user 3's posts (3 and 5) go with them.
        step(M::DELETE, "/users/3", None),
        step(M::DELETE, "/users/3", None),
        step(M::GET, "/users", None),
        step(M::GET, "/posts/3", None),
        step(M::GET, "/posts/5", None),
        step(M::DELETE, "/posts/5", None),
        step(M::GET, "/users/3/posts", None),
        step(
            M::POST,
            "/users/3/posts",
            Some(json!({"title": "Late", "body": ""})),
        ),
        step(M::GET, "/posts", None),
        step(M::PUT, "/users/1", Some(json!({"name": "X"}))),
        step(M::DELETE, "/users", None),
        step(M::GET, "/no/such/route", None),
    ]);
    steps.extend(batch_script());
    steps
}

/// The batch and export part of the script: users 1 and 2 exist when it starts.
fn batch_script() -> Vec<Step> {
    use Method as M;
    let user = |name: &str, email: &str| json!({"name": name, "email": email});
    let hundred_and_one: Vec<Value> = (0..101)
        .map(|i| user(&format!("U{i}"), &format!("u{i}@x.co")))
        .collect();
    vec![
        step(
            M::POST,
            "/users/batch",
            Some(json!({"users": [
                user(" Zoë \"Z\" Ñúñez ", "Zoe@Example.com "),
                user("李小龍 👩🏽‍💻", "li@example.com"),
                user("Back\\slash", "back@example.com"),
            ]})),
        ),
        step(
            M::POST,
            "/users/batch",
            Some(json!({"users": [
                user("Fine", "fine@example.com"),
                {"name": "", "email": "nope", "admin": true},
                "not a user",
                {"name": "Nul\u{0}"},
            ], "extra": 1})),
        ),
        step(M::POST, "/users/batch", Some(json!({"users": []}))),
        step(
            M::POST,
            "/users/batch",
            Some(json!({"users": hundred_and_one})),
        ),
        step(M::POST, "/users/batch", Some(json!({"people": []}))),
        step(M::POST, "/users/batch", Some(json!({"users": "all"}))),
        // Validation before conflicts: a 422, though entry 0's email is taken.
        step(
            M::POST,
            "/users/batch",
            Some(
                json!({"users": [user("Imposter", "ADA@example.com"), user("", "x@example.com")]}),
            ),
        ),
        step(
            M::POST,
            "/users/batch",
            Some(json!({"users": [
                user("New", "new@example.com"),
                user("Imposter", "ada@EXAMPLE.com"),
                user("Twin", "twin@example.com"),
                user("Twin again", "TWIN@example.com"),
            ]})),
        ),
        raw(
            M::POST,
            "/users/batch",
            Some("text/plain"),
            br#"{"users": [{"name": "A", "email": "a@b.co"}]}"#,
        ),
        raw(
            M::POST,
            "/users/batch",
            Some("application/json"),
            br#"{"users": [{"name": "A""#,
        ),
        raw(
            M::POST,
            "/users/batch",
            Some("application/json"),
            &[b' '; 20 * 1024],
        ),
        // The batch above without its conflicts, after the 409.
        step(
            M::POST,
            "/users/batch",
            Some(
                json!({"users": [user("New", "new@example.com"), user("Twin", "twin@example.com")]}),
            ),
        ),
        step(M::GET, "/users/batch", None),
        step(M::PUT, "/users/batch", Some(json!({"users": []}))),
        step(M::POST, "/users/export", None),
        step(M::GET, "/users/export", None),
        step(M::DELETE, "/users/1", None),
        step(M::GET, "/users/export", None),
    ]
}

/// The posts part of the script: users 1 to 3 exist (user 2 renamed); user 3 is
/// deleted after it, with their posts 3 and 5.
fn posts_script() -> Vec<Step> {
    use Method as M;
    vec![
        step(
            M::POST,
            "/users/1/posts",
            Some(
                json!({"title": "  Notes on the Analytical Engine ", "body": "It might act upon other things besides number.\r\n"}),
            ),
        ),
        step(
            M::POST,
            "/users/2/posts",
            Some(json!({"title": "Compilers", "body": "  indented\ttab  "})),
        ),
        step(
            M::POST,
            "/users/3/posts",
            Some(json!({"title": "李小龍 👩🏽‍💻", "body": ""})),
        ),
        step(
            M::POST,
            "/users/1/posts",
            Some(json!({"title": "Second", "body": "B"})),
        ),
        step(
            M::POST,
            "/users/3/posts",
            Some(json!({"title": "Doomed with its author", "body": "x"})),
        ),
        step(
            M::POST,
            "/users/99/posts",
            Some(json!({"title": "Nobody's", "body": ""})),
        ),
        step(
            M::POST,
            "/users/0/posts",
            Some(json!({"title": "T", "body": ""})),
        ),
        step(
            M::POST,
            "/users/abc/posts",
            Some(json!({"title": "T", "body": ""})),
        ),
        step(
            M::POST,
            "/users/1/posts",
            Some(json!({"title": " ", "body": "\u{0}", "x": 1})),
        ),
        step(M::POST, "/users/1/posts", Some(json!({}))),
        step(
            M::POST,
            "/users/1/posts",
            Some(json!({"title": 5, "body": null})),
        ),
        step(M::POST, "/users/1/posts", Some(json!([1]))),
        step(
            M::POST,
            "/users/1/posts",
            Some(json!({"title": "t".repeat(201), "body": "b".repeat(4_001)})),
        ),
        raw(
            M::POST,
            "/users/1/posts",
            Some("text/plain"),
            br#"{"title": "T", "body": ""}"#,
        ),
        raw(
            M::POST,
            "/users/1/posts",
            Some("application/json"),
            br#"{"title": "T""#,
        ),
        step(M::GET, "/users/1/posts?limit=1", None),
        step(M::GET, "/users/1/posts?limit=1&after_id=1", None),
        step(M::GET, "/users/1/posts?limit=1&after_id=4", None),
        step(M::GET, "/users/2/posts", None),
        step(M::GET, "/users/99/posts", None),
        step(M::GET, "/users/abc/posts", None),
        step(M::GET, "/users/1/posts?limit=0&after_id=-1", None),
        step(M::GET, "/posts?limit=2", None),
        step(M::GET, "/posts?limit=2&after_id=2", None),
        step(M::GET, "/posts?limit=2&after_id=4", None),
        step(M::GET, "/posts?limit=501", None),
        step(M::GET, "/posts?after_id=x", None),
        step(M::GET, "/posts/1", None),
        step(M::GET, "/posts/99", None),
        step(M::GET, "/posts/abc", None),
        step(M::PATCH, "/posts/1", Some(json!({"title": "X"}))),
        step(M::PUT, "/users/1/posts", Some(json!({"title": "X"}))),
        step(M::DELETE, "/posts/4", None),
        step(M::DELETE, "/posts/4", None),
        step(M::GET, "/users/1/posts", None),
    ]
}

/// What of a response must be identical across tiers.
pub fn transcript(response: &TestResponse) -> Value {
    let header = |name: &str| response.header(name).map(str::to_owned);
    assert!(
        header("x-request-id").is_some(),
        "{} {}: no request id",
        response.method,
        response.path
    );
    let body = if response.body.is_empty() {
        Value::Null
    } else if header("content-type").as_deref() == Some("application/x-ndjson") {
        let lines = response.ndjson_lines().into_iter().map(|line| {
            let mut user: Value = serde_json::from_str(line).expect("an export line is JSON");
            mask_created_at(&mut user);
            user
        });
        Value::Array(lines.collect())
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
        "bytes": mask_created_at_text(&response.text()),
    })
}

/// The body's text with the value of every `"created_at":"..."` replaced, so the rest
/// compares byte for byte. (A `"` inside a name is escaped, `\"`, so a name cannot
/// look like the member.)
fn mask_created_at_text(text: &str) -> String {
    const MEMBER: &str = "\"created_at\":\"";
    let mut masked = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MEMBER) {
        let (head, tail) = rest.split_at(at + MEMBER.len());
        masked.push_str(head);
        masked.push_str("<created_at>");
        rest = tail.find('"').map_or("", |end| &tail[end..]);
    }
    masked.push_str(rest);
    masked
}

/// Masks every `created_at`, at any depth (a post's, and its embedded author's).
fn mask_created_at(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(mask_created_at),
        Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                if name == "created_at" {
                    *member = json!("<created_at>");
                } else {
                    mask_created_at(member);
                }
            }
        }
        _ => {}
    }
}

/// Sends the script in order, step `i` to `bases[i % bases.len()]` (one base: all to
/// one server), and returns the transcript of each answer.
pub async fn run_round_robin(client: &reqwest::Client, bases: &[String]) -> Vec<Value> {
    let mut transcripts = Vec::new();
    for (i, step) in script().into_iter().enumerate() {
        let base = &bases[i % bases.len()];
        let response = send_to(
            client,
            base,
            step.method,
            step.path,
            step.content_type,
            step.body,
        )
        .await;
        transcripts.push(transcript(&response));
    }
    transcripts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text mask replaces `created_at` values only, not text that quotes the member.
    #[test]
    fn text_mask_replaces_only_created_at_values() {
        let text = r#"{"id":1,"name":"\"created_at\":\"x","created_at":"2026-01-01T00:00:00.000001Z"}
    {"created_at":"2026-01-02T00:00:00.000002Z","author":{"created_at":"y"}}"#;
        assert_eq!(
            mask_created_at_text(text),
            r#"{"id":1,"name":"\"created_at\":\"x","created_at":"<created_at>"}
    {"created_at":"<created_at>","author":{"created_at":"<created_at>"}}"#
        );
    }
}
