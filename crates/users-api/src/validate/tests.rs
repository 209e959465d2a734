//! The body rules, one test per rule.

use super::*;
use serde_json::json;

fn errors_of(result: Result<impl std::fmt::Debug, ApiError>) -> Vec<(Value, String)> {
    match result {
        Err(ApiError::Validation { errors, .. }) => errors
            .into_iter()
            .map(|e| (serde_json::to_value(e.loc).unwrap(), e.kind))
            .collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn loc(parts: &[&str]) -> Value {
    json!(parts)
}

#[test]
fn batch_errors_carry_the_entry_index() {
    let body = json!({"users": [
        {"name": "A", "email": "a@x.co"},
        {"name": " ", "email": "nope"},
        "not an object",
        {"name": "D", "email": "d@x.co", "age": 3},
    ]});
    assert_eq!(
        errors_of(user_batch(&body)),
        vec![
            (
                json!(["body", "users", 1, "name"]),
                "string_too_short".into()
            ),
            (json!(["body", "users", 1, "email"]), "email".into()),
            (json!(["body", "users", 2]), "object_type".into()),
            (json!(["body", "users", 3, "age"]), "extra_forbidden".into()),
        ]
    );
}

#[test]
fn batch_size_and_shape_are_checked_as_a_whole() {
    let one = json!({"name": "A", "email": "a@x.co"});
    let cases = [
        (
            json!({"users": []}),
            vec![(loc(&["body", "users"]), "too_short")],
        ),
        (
            json!({"users": vec![one.clone(); 101]}),
            vec![(loc(&["body", "users"]), "too_long")],
        ),
        (json!({}), vec![(loc(&["body", "users"]), "missing")]),
        (
            json!({"users": {}}),
            vec![(loc(&["body", "users"]), "list_type")],
        ),
        (
            json!({"users": [one.clone()], "x": 1}),
            vec![(loc(&["body", "x"]), "extra_forbidden")],
        ),
        (json!([one.clone()]), vec![(loc(&["body"]), "object_type")]),
    ];
    for (body, expected) in cases {
        let expected: Vec<(Value, String)> = expected
            .into_iter()
            .map(|(loc, kind)| (loc, kind.to_owned()))
            .collect();
        assert_eq!(errors_of(user_batch(&body)), expected, "{body}");
    }
    let full = user_batch(&json!({"users": vec![one; 100]})).unwrap();
    assert_eq!(full.users().len(), 100);
}

#[test]
fn post_title_is_trimmed_and_body_kept_as_sent() {
    let post =
        post_create(&json!({"title": "  Notes \t", "body": "  line one\r\n\tline two\n"})).unwrap();
    assert_eq!(post.title(), "Notes");
    assert_eq!(post.body(), "  line one\r\n\tline two\n");
    assert_eq!(
        post_create(&json!({"title": "T", "body": ""}))
            .unwrap()
            .body(),
        ""
    );
}

#[test]
fn post_lists_every_failing_field() {
    let errors = errors_of(post_create(
        &json!({"title": " ", "body": "a\u{0}b", "x": 1}),
    ));
    assert_eq!(
        errors,
        vec![
            (loc(&["body", "x"]), "extra_forbidden".into()),
            (loc(&["body", "title"]), "string_too_short".into()),
            (loc(&["body", "body"]), "control_character".into()),
        ]
    );
    let long = json!({"title": "t".repeat(201), "body": "b".repeat(4001)});
    assert_eq!(
        errors_of(post_create(&long)),
        vec![
            (loc(&["body", "title"]), "string_too_long".into()),
            (loc(&["body", "body"]), "string_too_long".into()),
        ]
    );
    let just_fits = json!({"title": "é".repeat(200), "body": "é".repeat(4000)});
    assert!(post_create(&just_fits).is_ok());
    assert_eq!(
        errors_of(post_create(&json!({"title": "a\u{7}"}))),
        vec![
            (loc(&["body", "title"]), "control_character".into()),
            (loc(&["body", "body"]), "missing".into()),
        ]
    );
}

#[test]
fn create_trims_both_fields() {
    let user =
        user_create(&json!({"name": "\u{3000} Ada \t", "email": " Ada@Example.com\n"})).unwrap();
    assert_eq!(user.name(), "Ada");
    assert_eq!(user.email(), "Ada@Example.com");
}

#[test]
fn create_lists_every_failing_field() {
    let errors = errors_of(user_create(&json!({"name": 5, "extra": true})));
    assert_eq!(
        errors,
        vec![
            (loc(&["body", "extra"]), "extra_forbidden".into()),
            (loc(&["body", "name"]), "string_type".into()),
            (loc(&["body", "email"]), "missing".into()),
        ]
    );
}

#[test]
fn create_rejects_non_objects() {
    for body in [json!([]), json!("x"), json!(null), json!(1)] {
        assert_eq!(
            errors_of(user_create(&body)),
            vec![(loc(&["body"]), "object_type".into())]
        );
    }
}

#[test]
fn name_rules() {
    let cases = [
        ("   ", "string_too_short"),
        ("a\u{0}b", "control_character"),
        ("a\u{7f}", "control_character"),
        ("a\u{85}b", "control_character"),
    ];
    for (name, kind) in cases {
        let errors = errors_of(user_create(&json!({"name": name, "email": "a@b.co"})));
        assert_eq!(
            errors,
            vec![(loc(&["body", "name"]), kind.into())],
            "{name:?}"
        );
    }
    let long = "é".repeat(101);
    let errors = errors_of(user_create(&json!({"name": long, "email": "a@b.co"})));
    assert_eq!(errors[0].1, "string_too_long");
    // 100 scalar values is fine, however many bytes they take.
    let ok = "😀".repeat(100);
    assert!(user_create(&json!({"name": ok, "email": "a@b.co"})).is_ok());
}

#[test]
fn email_syntax() {
    let valid = [
        "a@b.co",
        "Ada.Lovelace+x@Example.COM",
        "x!#$%&'*+/=?^_`{|}~-@a-b.c9.d",
        "1@2.3",
    ];
    for email in valid {
        assert!(is_valid_email(email), "{email} should be valid");
    }
    let invalid = [
        "",
        "plain",
        "@b.co",
        "a@",
        "a@localhost",
        "a@b",
        "a@-b.co",
        "a@b-.co",
        "a@b..co",
        "a@.b.co",
        "a@b.co.",
        "a b@c.de",
        "a@b@c.de",
        "ä@b.co",
        "a@bü.co",
        "a(b)@c.de",
    ];
    for email in invalid {
        assert!(!is_valid_email(email), "{email:?} should be invalid");
    }
    let label63 = format!("a@{}.co", "x".repeat(63));
    let label64 = format!("a@{}.co", "x".repeat(64));
    assert!(is_valid_email(&label63));
    assert!(!is_valid_email(&label64));
}

#[test]
fn email_length_limit_counts_after_trimming() {
    let local = "a".repeat(254 - "@b.co".len());
    let at_limit = format!("  {local}@b.co  ");
    assert!(user_create(&json!({"name": "A", "email": at_limit})).is_ok());
    let over = format!("a{local}@b.co");
    let errors = errors_of(user_create(&json!({"name": "A", "email": over})));
    assert_eq!(
        errors,
        vec![(loc(&["body", "email"]), "string_too_long".into())]
    );
}

#[test]
fn update_needs_a_member_and_refuses_null() {
    assert_eq!(
        errors_of(user_update(&json!({}))),
        vec![(loc(&["body"]), "empty_update".into())]
    );
    assert_eq!(
        errors_of(user_update(&json!({"name": null}))),
        vec![(loc(&["body", "name"]), "string_type".into())]
    );
    let patch = user_update(&json!({"email": " x@y.zz "})).unwrap();
    assert_eq!((patch.name(), patch.email()), (None, Some("x@y.zz")));
}

#[test]
fn update_with_only_unknown_members_reports_them() {
    let errors = errors_of(user_update(&json!({"nmae": "typo"})));
    assert_eq!(
        errors,
        vec![(loc(&["body", "nmae"]), "extra_forbidden".into())]
    );
}
