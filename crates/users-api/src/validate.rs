//! Validation: turns a parsed JSON body into a [`UserCreate`], [`UserUpdate`],
//! [`UserBatch`] or [`PostCreate`], collecting *every* failing field, FastAPI-style.
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
    BATCH_MAX_USERS, EMAIL_MAX_CHARS, NAME_MAX_CHARS, POST_BODY_MAX_CHARS, PostCreate,
    TITLE_MAX_CHARS, UserBatch, UserCreate, UserUpdate,
};

const BODY_DETAIL: &str = "request body failed validation";
/// The members of a user body.
const USER_FIELDS: &[&str] = &["name", "email"];
/// The members of a batch body.
const BATCH_FIELDS: &[&str] = &["users"];
/// The members of a post body.
const POST_FIELDS: &[&str] = &["title", "body"];

/// Validates the body of `POST /users`: `{"name": string, "email": string}`.
// ANCHOR: user_create
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
// ANCHOR_END: user_create

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

/// Validates the body of `POST /users/batch`: `{"users": [UserCreate, ...]}`, 1 to 100
/// entries. Each entry is checked exactly as a `POST /users` body, and its errors are
/// reported at `["body", "users", INDEX, ...]`. A list that is too long is refused as a
/// whole, before any entry is looked at.
pub fn user_batch(body: &Value) -> Result<UserBatch, ApiError> {
    let object = as_object(body)?;
    let mut errors = unknown_members(object, BATCH_FIELDS);
    let Some(entries) = array(object, "users", &mut errors) else {
        return Err(invalid(errors));
    };
    if entries.is_empty() || entries.len() > BATCH_MAX_USERS {
        let (kind, msg) = if entries.is_empty() {
            ("too_short", "must hold at least 1 user")
        } else {
            ("too_long", "must hold at most 100 users")
        };
        errors.push(FieldError::new(&["body", "users"], kind, msg));
        return Err(invalid(errors));
    }
    let mut users = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        match user_create(entry) {
            Ok(user) => users.push(user),
            Err(ApiError::Validation {
                errors: entry_errors,
                ..
            }) => errors.extend(
                entry_errors
                    .into_iter()
                    .map(|error| error.in_entry("users", index)),
            ),
            Err(other) => return Err(other),
        }
    }
    if errors.is_empty() {
        Ok(UserBatch::new(users))
    } else {
        Err(invalid(errors))
    }
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

/// A required member that must be a JSON array.
fn array<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a Vec<Value>> {
    let Some(value) = object.get(field) else {
        errors.push(FieldError::new(
            &["body", field],
            "missing",
            "field required",
        ));
        return None;
    };
    let entries = value.as_array();
    if entries.is_none() {
        errors.push(FieldError::new(
            &["body", field],
            "list_type",
            "must be a list",
        ));
    }
    entries
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
mod tests;
