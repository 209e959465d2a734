//! The generators of hostile requests (proptest strategies): methods, paths, query
//! strings, content types, request ids and bodies, each weighted towards what a
//! validator or a database might trip on, with a share of plain junk.
//!
//! A strategy describes how to generate values, and how to shrink a failing one to a
//! smaller value that still fails; `prop_oneof!` picks among alternatives by weight.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Value, json};

pub(super) fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec!["GET", "POST", "PATCH", "DELETE"]),
        1 => prop::sample::select(vec!["PUT", "HEAD", "OPTIONS", "TRACE", "PURGE", "get", "Patch"]),
    ]
    .prop_map(str::to_owned)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => (1i64..6).prop_map(|id| id.to_string()),
        2 => any::<i64>().prop_map(|id| id.to_string()),
        1 => any::<u128>().prop_map(|n| n.to_string()),
        2 => prop::sample::select(vec![
            "", "0", "-0", "+1", "1.5", "1e3", "%201", "0x10", "%", "%zz", "%FF", "%00", "..",
            ".", "%2F", "%2e%2e", "null", "9223372036854775807", "9223372036854775808",
            "-9223372036854775809", "%EF%BC%91", "1;2", "1,2", "~1",
        ])
        .prop_map(str::to_owned),
        2 => any::<String>().prop_map(|text| encode(&text)),
        1 => "[ -~]{0,12}".prop_map(|text| encode(&text)),
    ]
}

pub(super) fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("/users".to_owned()),
        5 => segment().prop_map(|id| format!("/users/{id}")),
        1 => (segment(), segment()).prop_map(|(a, b)| format!("/users/{a}/{b}")),
        2 => segment().prop_map(|id| format!("/users/{id}/posts")),
        2 => Just("/posts".to_owned()),
        3 => segment().prop_map(|id| format!("/posts/{id}")),
        1 => Just("/health".to_owned()),
        1 => prop::sample::select(vec![
            "/openapi.json", "/docs", "/docs/", "/docs/index.html", "/", "/users/", "//users",
            "/USERS", "/health/", "/users//1", "/users/1/", "/%75sers", "/posts/",
            "/users/1/posts/", "/posts/1/author", "/POSTS",
        ])
        .prop_map(str::to_owned),
        1 => segment().prop_map(|rest| format!("/docs/{rest}")),
        1 => segment().prop_map(|rest| format!("/{rest}")),
    ]
}

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => (-2i64..600).prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec![
            "", "abc", "1.5", "1e2", " 5", "5 ", "+5", "-0", "0x1", "99999999999999999999",
            "NaN", "1\u{0}", "５",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

pub(super) fn query() -> impl Strategy<Value = Option<String>> {
    let key = prop_oneof![
        4 => prop::sample::select(vec!["limit", "after_id"]).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    prop_oneof![
        2 => Just(None),
        4 => vec((key, query_value()), 0..4).prop_map(|pairs| {
            Some(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish(),
            )
        }),
        1 => "[ -~]{0,30}".prop_map(Some),
    ]
}

pub(super) fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        4 => Just(Some("application/json".to_owned())),
        2 => prop::sample::select(vec![
            "application/json; charset=utf-8", "APPLICATION/JSON", "application/problem+json",
            "application/merge-patch+json", "text/plain", "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x", "application/json; charset=utf-16",
            "application/", "json", ";", "", "application/json;;;", "application/+json",
        ])
        .prop_map(|value| Some(value.to_owned())),
        1 => "[ -~]{0,40}".prop_map(Some),
    ]
}

pub(super) fn request_id() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        3 => Just(None),
        1 => "[ -~]{0,40}".prop_map(|id| Some(id.into_bytes())),
        1 => vec(any::<u8>(), 0..40).prop_map(Some),
        1 => (1usize..8000).prop_map(|n| Some(vec![b'r'; n])),
    ]
}

pub(super) fn body() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        2 => Just(None),
        3 => user_object().prop_map(|value| Some(serde_json::to_vec(&value).expect("serialize"))),
        2 => json_value().prop_map(|value| Some(serde_json::to_vec(&value).expect("serialize"))),
        1 => vec(any::<u8>(), 0..64).prop_map(Some),
        1 => special_body().prop_map(Some),
    ]
}

/// Strings a validator or a database might trip on.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        2 => "\\PC{0,120}",
        2 => prop::sample::select(vec![
            "", " ", "\u{0}", "A\u{0}B", "Robert'); DROP TABLE users;--", "\u{feff}Ada",
            "\u{202e}evil", "e\u{301}", "𝕏", "\u{ffff}", "\u{10ffff}", "\u{85}", "\t\n",
            "\u{2028}", "\\", "\"", "%s%n", "${jndi:x}", "<script>", "ada@example.com",
            "ADA@EXAMPLE.COM", " grace@example.com ",
        ])
        .prop_map(str::to_owned),
        1 => (95usize..=105).prop_map(|n| "é".repeat(n)),
        1 => (250usize..=260).prop_map(|n| format!("{}@example.com", "a".repeat(n - 12))),
        1 => (1usize..3000).prop_map(|n| "x".repeat(n)),
    ]
}

/// Strings shaped like e-mail addresses, mostly valid, some too long, some taken.
fn email_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]{1,40}@[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?){1,4}",
        1 => prop::sample::select(vec!["ada@example.com", "ADA@example.COM", "grace@example.com"])
            .prop_map(str::to_owned),
        2 => hostile_string(),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        hostile_string().prop_map(Value::String),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["name", "email", "id", "created_at", "NAME", ""])
            .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// Arbitrary JSON, nested up to 4 levels.
pub(super) fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key(), inner, 0..6).prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Objects shaped like `UserCreate` / `UserUpdate`: each member present or not, a
/// string or any other JSON, sometimes with an extra member.
pub(super) fn user_object() -> impl Strategy<Value = Value> {
    let name = prop_oneof![4 => hostile_string().prop_map(Value::String), 1 => leaf()];
    let email = prop_oneof![4 => email_string().prop_map(Value::String), 1 => leaf()];
    let extra = prop::option::weighted(0.15, (key(), json_value()));
    (
        prop::option::weighted(0.85, name),
        prop::option::weighted(0.85, email),
        extra,
    )
        .prop_map(|(name, email, extra)| {
            let mut object = serde_json::Map::new();
            if let Some((key, value)) = extra {
                object.insert(key, value);
            }
            if let Some(name) = name {
                object.insert("name".to_owned(), name);
            }
            if let Some(email) = email {
                object.insert("email".to_owned(), email);
            }
            Value::Object(object)
        })
}

/// Bodies no generator above makes: broken JSON, numbers beyond every range, nesting
/// beyond the parser's limit, invalid escapes and encodings, the size limit's edges.
pub(super) fn special_body() -> impl Strategy<Value = Vec<u8>> {
    let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
    let sized = |size: usize| {
        let name = "n".repeat(size.saturating_sub(40));
        serde_json::to_vec(&json!({"name": name, "email": "big@example.com"})).expect("serialize")
    };
    prop_oneof![
        prop::sample::select(vec![
            &b""[..],
            b"{",
            b"{\"name\":",
            b"{\"name\": \"a\", \"email\": \"b@c.de\"} trailing",
            b"{\"name\": \"\\ud800\", \"email\": \"a@b.co\"}",
            b"{\"name\": \"\\u0000\", \"email\": \"a@b.co\"}",
            b"{\"name\": \"a\", \"email\": \"a@b.co\", \"name\": \"dup\"}",
            b"\xef\xbb\xbf{\"name\": \"bom\", \"email\": \"bom@b.co\"}",
            b"{\"name\": 1e999999, \"email\": \"a@b.co\"}",
            b"{\"name\": -0, \"email\": 123456789012345678901234567890}",
            b"{\"name\": \"\xff\xfe\", \"email\": \"a@b.co\"}",
            b"nul",
            b"NaN",
            b"{'name': 'single'}",
            b"\"\\uDEAD\"",
        ])
        .prop_map(<[u8]>::to_vec),
        (100usize..2000).prop_map(deep),
        prop::sample::select(vec![16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 64 * 1024])
            .prop_map(sized),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_keeps_only_unreserved() {
        assert_eq!(encode("a b/é"), "a%20b%2F%C3%A9");
    }
}
