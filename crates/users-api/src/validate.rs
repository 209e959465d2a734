//! Validation: turns a parsed JSON body into a [`UserCreate`], [`UserUpdate`] or
//! [`PostCreate`], collecting *every* failing field, FastAPI-style.
//!
//! Why by hand and not with `garde` (or `validator`)? Those crates check a struct that
//! serde has already built, and serde stops at the first wrong type, missing or
//! unknown member. The contract asks for all of them at once, with a `loc`, a `msg`
//! and a machine-readable `type` per field, so we walk the `serde_json::Value`
//! ourselves. The rules themselves are a handful of lines each and are tested below;
//! they would not get shorter as attributes, and garde's reports carry no stable
//! error code to put in `type`.

use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};
use crate::model::{
    EMAIL_MAX_CHARS, NAME_MAX_CHARS, POST_BODY_MAX_CHARS, PostCreate, TITLE_MAX_CHARS, UserCreate,
    UserUpdate,
};

const BODY_DETAIL: &str = "request body failed validation";
/// The members of a user body.
const USER_FIELDS: &[&str] = &["name", "email"];
/// The members of a post body.
const POST_FIELDS: &[&str] = &["title", "body"];

/// Validates the body of `POST /users`: `{"name": string, "email": string}`.
pub fn user_create(body: &Value) -> Result<UserCreate, ApiError> {
    let object = as_object(body)?;
    let mut errors = unknown_members(object, USER_FIELDS);
    let name = required(object, "name", &mut errors).and_then(|raw| check_name(raw, &mut errors));
    let email =
        required(object, "email", &mut errors).and_then(|raw| check_email(raw, &mut errors));
    match (name, email) {
        (Some(name), Some(email)) if errors.is_empty() => Ok(UserCreate::new(name, email)),
        _ => Err(invalid(errors)),
    }
}

/// Validates the body of `PATCH /users/{id}`: `{"name"?: string, "email"?: string}`,
/// at least one member.
pub fn user_update(body: &Value) -> Result<UserUpdate, ApiError> {
    let object = as_object(body)?;
    let mut errors = unknown_members(object, USER_FIELDS);
    let name = optional(object, "name", &mut errors).map(|raw| check_name(raw, &mut errors));
    let email = optional(object, "email", &mut errors).map(|raw| check_email(raw, &mut errors));
    if !object.contains_key("name") && !object.contains_key("email") && errors.is_empty() {
        errors.push(FieldError::new(
            &["body"],
            "empty_update",
            "at least one of name, email is required",
        ));
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    // Every member present passed its checks (a failing one would have left an error).
    Ok(UserUpdate::new(name.flatten(), email.flatten()))
}

/// Validates the body of `POST /users/{id}/posts`: `{"title": string, "body": string}`.
pub fn post_create(body: &Value) -> Result<PostCreate, ApiError> {
    let object = as_object(body)?;
    let mut errors = unknown_members(object, POST_FIELDS);
    let title =
        required(object, "title", &mut errors).and_then(|raw| check_title(raw, &mut errors));
    let text =
        required(object, "body", &mut errors).and_then(|raw| check_post_body(raw, &mut errors));
    match (title, text) {
        (Some(title), Some(text)) if errors.is_empty() => Ok(PostCreate::new(title, text)),
        _ => Err(invalid(errors)),
    }
}

fn invalid(errors: Vec<FieldError>) -> ApiError {
    ApiError::Validation {
        detail: BODY_DETAIL,
        errors,
    }
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| {
        invalid(vec![FieldError::new(
            &["body"],
            "object_type",
            "expected a JSON object",
        )])
    })
}

fn unknown_members(object: &Map<String, Value>, allowed: &[&str]) -> Vec<FieldError> {
    object
        .keys()
        .filter(|key| !allowed.contains(&key.as_str()))
        .map(|key| {
            let msg = format!("unknown member; allowed: {}", allowed.join(", "));
            FieldError::new(&["body", key], "extra_forbidden", msg)
        })
        .collect()
}

fn required<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match object.get(field) {
        None => {
            errors.push(FieldError::new(
                &["body", field],
                "missing",
                "field required",
            ));
            None
        }
        Some(value) => string(value, field, errors),
    }
}

fn optional<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    object
        .get(field)
        .and_then(|value| string(value, field, errors))
}

/// `null` is a wrong type, not "absent": leave a member out to keep its value.
fn string<'a>(value: &'a Value, field: &str, errors: &mut Vec<FieldError>) -> Option<&'a str> {
    let text = value.as_str();
    if text.is_none() {
        errors.push(FieldError::new(
            &["body", field],
            "string_type",
            "must be a string",
        ));
    }
    text
}

/// Trims, then checks a name: 1 to 100 characters, no control characters.
fn check_name(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    check_line(raw, "name", NAME_MAX_CHARS, errors)
}

/// Trims, then checks a post title: 1 to 200 characters, no control characters.
fn check_title(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    check_line(raw, "title", TITLE_MAX_CHARS, errors)
}

/// The rule of a one-line text (a name, a title): trimmed, then 1 to `max` characters,
/// no control characters.
fn check_line(raw: &str, field: &str, max: usize, errors: &mut Vec<FieldError>) -> Option<String> {
    let text = raw.trim();
    let chars = text.chars().count();
    let failure = if chars == 0 {
        Some(("string_too_short", "must not be empty".to_owned()))
    } else if chars > max {
        Some((
            "string_too_long",
            format!("must be at most {max} characters"),
        ))
    } else if text.chars().any(char::is_control) {
        // `char::is_control` is exactly Unicode category Cc, NUL included. PostgreSQL
        // could not even store a NUL in `text`; we refuse every control character.
        Some((
            "control_character",
            "must not contain control characters".to_owned(),
        ))
    } else {
        None
    };
    match failure {
        Some((kind, msg)) => {
            errors.push(FieldError::new(&["body", field], kind, msg));
            None
        }
        None => Some(text.to_owned()),
    }
}

/// Checks a post body, which is stored exactly as sent (not trimmed): at most 4,000
/// characters, and no control characters but tab, line feed and carriage return, which
/// a text of several lines needs. (A NUL could not be stored in `text` at all.)
fn check_post_body(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let failure = if raw.chars().count() > POST_BODY_MAX_CHARS {
        Some((
            "string_too_long",
            format!("must be at most {POST_BODY_MAX_CHARS} characters"),
        ))
    } else if raw
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        Some((
            "control_character",
            "must not contain control characters other than tab, line feed and carriage return"
                .to_owned(),
        ))
    } else {
        None
    };
    match failure {
        Some((kind, msg)) => {
            errors.push(FieldError::new(&["body", "body"], kind, msg));
            None
        }
        None => Some(raw.to_owned()),
    }
}

/// Trims, then checks an email: at most 254 characters, WHATWG syntax, a dot in the domain.
fn check_email(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let email = raw.trim();
    if email.chars().count() > EMAIL_MAX_CHARS {
        let msg = format!("must be at most {EMAIL_MAX_CHARS} characters");
        errors.push(FieldError::new(&["body", "email"], "string_too_long", msg));
        None
    } else if !is_valid_email(email) {
        errors.push(FieldError::new(
            &["body", "email"],
            "email",
            "not a valid e-mail address",
        ));
        None
    } else {
        Some(email.to_owned())
    }
}

/// The WHATWG HTML "valid e-mail address", plus at least one dot in the domain:
///
/// ```text
/// local  = 1*( ALPHA / DIGIT / "." / "!#$%&'*+/=?^_`{|}~-" )
/// label  = ALPHA/DIGIT [ *61( ALPHA / DIGIT / "-" ) ALPHA/DIGIT ]
/// email  = local "@" label *( "." label )
/// ```
///
/// Written out rather than as a regex: it is short, needs no regex engine, and each
/// rule reads as the spec states it.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c));
    local_ok && domain.contains('.') && domain.split('.').all(is_valid_label)
}

fn is_valid_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            bytes.len() <= 63
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors_of(result: Result<impl std::fmt::Debug, ApiError>) -> Vec<(Vec<String>, String)> {
        match result {
            Err(ApiError::Validation { errors, .. }) => {
                errors.into_iter().map(|e| (e.loc, e.kind)).collect()
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn loc(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn post_title_is_trimmed_and_body_kept_as_sent() {
        let post =
            post_create(&json!({"title": "  Notes \t", "body": "  line one\r\n\tline two\n"}))
                .unwrap();
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
        let user = user_create(&json!({"name": "\u{3000} Ada \t", "email": " Ada@Example.com\n"}))
            .unwrap();
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
}
