//! The resources and their request bodies: `UserRead`, `UserCreate`, `UserUpdate`,
//! `UserBatch`; `PostRead`, `PostWithAuthor`, `PostCreate`; and `Page` for every list.
//!
//! `UserCreate`, `UserUpdate` and `PostCreate` can only be built by [`crate::validate`], which trims
//! and checks every field first ("parse, don't validate"). Their fields are private, so
//! a store that receives one knows it holds valid, trimmed data and checks nothing
//! again. Their `ToSchema` derives describe the wire format in `/openapi.json`; the
//! schemas of their text members come from [`text_schema`], patterns that trim as the
//! server does.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::error::StoreError;

pub mod text_schema;

/// Longest name, in Unicode scalar values, after trimming.
pub const NAME_MAX_CHARS: usize = 100;
/// Longest email, in characters, after trimming (the limit of a forward path in SMTP).
pub const EMAIL_MAX_CHARS: usize = 254;
/// Longest post title, in Unicode scalar values, after trimming.
pub const TITLE_MAX_CHARS: usize = 200;
/// Longest post body, in Unicode scalar values (bodies are stored as sent).
pub const POST_BODY_MAX_CHARS: usize = 4_000;
/// Most users in one `POST /users/batch`.
pub const BATCH_MAX_USERS: usize = 100;
/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page a client may ask for.
pub const MAX_LIMIT: i64 = 500;

/// A user as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"id": 1, "name": "Ada Lovelace", "email": "Ada@Example.com",
                          "created_at": "2026-11-26T05:14:52.123456Z"}))]
pub struct UserRead {
    /// Assigned by the database, never by the client.
    pub id: i64,
    /// Trimmed, 1 to 100 characters.
    pub name: String,
    /// Trimmed, case preserved; unique regardless of case.
    pub email: String,
    /// When the database stored the user: RFC 3339, UTC, always six fractional digits.
    #[serde(serialize_with = "rfc3339_micros")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-26T05:14:52.123456Z")]
    pub created_at: DateTime<Utc>,
}

/// Writes `2026-11-26T05:14:52.123456Z`: UTC with `Z` and exactly microseconds, which is
/// PostgreSQL's `timestamptz` precision. chrono's default would drop trailing zero
/// digits (and print nanoseconds if it ever had them), so two tiers could differ.
fn rfc3339_micros<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// The body of `POST /users`, validated and trimmed.
///
/// The text members' schemas come from [`text_schema`], which explains why they are
/// patterns; `deny_unknown_fields` only tells the document `additionalProperties: false`
/// (nothing deserializes this type: [`crate::validate`] refuses unknown members).
// ANCHOR: user_create
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ada Lovelace", "email": "Ada@Example.com"}))]
pub struct UserCreate {
    /// 1 to 100 characters after trimming surrounding white space; no control characters.
    #[schema(schema_with = text_schema::name)]
    name: String,
    /// A valid e-mail address (WHATWG HTML syntax, a dot in the domain), at most 254
    /// characters after trimming. Compared case-insensitively for uniqueness.
    #[schema(schema_with = text_schema::email)]
    email: String,
}
// ANCHOR_END: user_create

impl UserCreate {
    /// Only [`crate::validate`] builds these, from data it has checked.
    pub(crate) fn new(name: String, email: String) -> Self {
        Self { name, email }
    }

    /// The trimmed name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The trimmed email, case preserved.
    pub fn email(&self) -> &str {
        &self.email
    }
}

// ANCHOR: user_batch
/// The body of `POST /users/batch`: 1 to 100 valid users, to be written all or none.
///
/// Built only by [`crate::validate`], so every entry is a checked [`UserCreate`]. The
/// store inserts the whole batch with one statement that skips an entry whose email is
/// taken (`ON CONFLICT DO NOTHING`), then hands the rows it got back to
/// [`UserBatch::check_inserted`]: every entry there means commit, a missing one means
/// roll back and answer 409. So the unique index decides, inside the transaction, even
/// against a racing create of the same email, and no half batch is ever kept.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(description = "1 to 100 users to create in one transaction: all of them, or none.",
         example = json!({"users": [
    {"name": "Ada Lovelace", "email": "Ada@Example.com"},
    {"name": "Charles Babbage", "email": "charles@example.com"}]}))]
pub struct UserBatch {
    /// 1 to 100 users, each as in `POST /users`; their emails must be new and
    /// distinct (case-insensitively).
    #[schema(min_items = 1, max_items = 100)]
    users: Vec<UserCreate>,
}

impl UserBatch {
    /// Only [`crate::validate`] builds these, from 1 to 100 checked users.
    pub(crate) fn new(users: Vec<UserCreate>) -> Self {
        Self { users }
    }

    /// The entries, in request order.
    pub fn users(&self) -> &[UserCreate] {
        &self.users
    }

    /// Every entry's name, in request order: one array parameter for `UNNEST`.
    pub fn names(&self) -> Vec<&str> {
        self.users.iter().map(UserCreate::name).collect()
    }

    /// Every entry's email, in request order: the other array for `UNNEST`.
    pub fn emails(&self) -> Vec<&str> {
        self.users.iter().map(UserCreate::email).collect()
    }

    /// Decides a batch from the rows its insert returned.
    ///
    /// `Ok`: every entry was inserted; the users in request order (the database may
    /// return them in any order). `Err`: the entries to report in the 409, ascending:
    /// those whose email no returned row has (an existing user holds it), and those
    /// that repeat an earlier entry's email (the later one is listed). The store rolls
    /// back then.
    ///
    /// Emails are compared in ASCII lowercase, which is exactly what the unique index
    /// on `lower(email)` compares: a valid email is ASCII only (see
    /// [`crate::validate::is_valid_email`]), and PostgreSQL's `lower` agrees with Rust's
    /// on ASCII letters in every locale we create databases with.
    pub fn check_inserted(&self, inserted: Vec<UserRead>) -> Result<Vec<UserRead>, StoreError> {
        let mut by_email: HashMap<String, UserRead> = inserted
            .into_iter()
            .map(|user| (user.email.to_ascii_lowercase(), user))
            .collect();
        let mut seen = HashSet::new();
        let mut users = Vec::with_capacity(self.users.len());
        let mut taken = Vec::new();
        for (index, entry) in self.users.iter().enumerate() {
            let email = entry.email().to_ascii_lowercase();
            let repeat = !seen.insert(email.clone());
            match by_email.remove(&email) {
                Some(user) if !repeat => users.push(user),
                _ => taken.push(index),
            }
        }
        if taken.is_empty() {
            Ok(users)
        } else {
            Err(StoreError::BatchEmailsTaken(taken))
        }
    }
}

/// The answer to `POST /users/batch`: the new users, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UserBatchCreated {
    /// One user per entry of the batch, in the same order.
    pub users: Vec<UserRead>,
}
// ANCHOR_END: user_batch

/// The body of `PATCH /users/{id}`, validated and trimmed: at least one member is set.
///
/// A member is optional but never `null` (leave it out to keep the value), so the
/// document says so: `minProperties: 1` and plain strings, not utoipa's `["string", "null"]`
/// for an `Option`.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.org"}), min_properties = 1)]
pub struct UserUpdate {
    /// New name; same rules as on create.
    #[schema(schema_with = text_schema::name, required = false)]
    name: Option<String>,
    /// New email; same rules as on create.
    #[schema(schema_with = text_schema::email, required = false)]
    email: Option<String>,
}

impl UserUpdate {
    /// Only [`crate::validate`] builds these, from data it has checked.
    pub(crate) fn new(name: Option<String>, email: Option<String>) -> Self {
        Self { name, email }
    }

    /// The new name, if it changes.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The new email, if it changes.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
}

/// A post as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"id": 7, "user_id": 1, "title": "Notes on the Analytical Engine",
                          "body": "It might act upon other things besides number.",
                          "created_at": "2026-12-01T18:31:52.383815Z"}))]
pub struct PostRead {
    /// Assigned by the database.
    pub id: i64,
    /// The author's id; never changes.
    pub user_id: i64,
    /// Trimmed, 1 to 200 characters.
    pub title: String,
    /// Exactly as sent, 0 to 4,000 characters.
    pub body: String,
    /// When the database stored the post: RFC 3339, UTC, always six fractional digits.
    #[serde(serialize_with = "rfc3339_micros")]
    #[schema(value_type = String, format = DateTime, example = "2026-12-01T18:31:52.383815Z")]
    pub created_at: DateTime<Utc>,
}

/// A post with its author embedded: what `GET /posts` and `GET /posts/{id}` return.
///
/// This is the shape that asks for a join (or an ORM's loader): a page of 500 posts
/// must not cost 500 more queries for their authors (the N+1 problem).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PostWithAuthor {
    /// The post's own members, first.
    #[serde(flatten)]
    pub post: PostRead,
    /// The full user of `user_id`, last.
    pub author: UserRead,
}

/// The body of `POST /users/{id}/posts`, validated: the title trimmed, the body as sent.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Notes on the Analytical Engine",
                          "body": "It might act upon other things besides number."}))]
pub struct PostCreate {
    /// 1 to 200 characters after trimming surrounding white space; no control characters.
    #[schema(schema_with = text_schema::title)]
    title: String,
    /// Up to 4,000 characters, stored exactly as sent; no control characters but tab,
    /// line feed and carriage return.
    #[schema(schema_with = text_schema::post_body)]
    body: String,
}

impl PostCreate {
    /// Only [`crate::validate`] builds these, from data it has checked.
    pub(crate) fn new(title: String, body: String) -> Self {
        Self { title, body }
    }

    /// The trimmed title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The body, exactly as sent.
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// One page of a keyset-paginated list: rows with `id > after_id`, ascending,
/// at most `limit` of them. Validated: `1 <= limit <= 500`, `after_id >= 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Only ids strictly greater than this.
    pub after_id: i64,
    /// At most this many users.
    pub limit: i64,
}

/// The body of `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` on a 200.
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn created_at_always_has_six_fractional_digits_and_z() {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 5, 14, 52).unwrap();
        let user = UserRead {
            id: 1,
            name: "A".into(),
            email: "a@b.c".into(),
            created_at: at,
        };
        let json = serde_json::to_value(&user).unwrap();
        assert_eq!(json["created_at"], "2026-11-26T05:14:52.000000Z");
        assert_eq!(json.as_object().unwrap().len(), 4);
    }

    fn user(id: i64, email: &str) -> UserRead {
        UserRead {
            id,
            name: "N".into(),
            email: email.into(),
            created_at: Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 0).unwrap(),
        }
    }

    fn batch(emails: &[&str]) -> UserBatch {
        UserBatch::new(
            emails
                .iter()
                .map(|email| UserCreate::new("N".into(), (*email).into()))
                .collect(),
        )
    }

    #[test]
    fn a_complete_insert_comes_back_in_request_order() {
        let batch = batch(&["b@x.co", "A@x.co"]);
        let rows = vec![user(8, "A@x.co"), user(7, "b@x.co")];
        let users = batch.check_inserted(rows).unwrap();
        assert_eq!(users.iter().map(|u| u.id).collect::<Vec<_>>(), [7, 8]);
    }

    #[test]
    fn missing_rows_and_repeats_are_the_conflicts() {
        // Entry 1 is taken in the database (no row came back); entry 3 repeats entry 0
        // in another letter case: the database kept the first, the later one is listed.
        let batch = batch(&["a@x.co", "b@x.co", "c@x.co", "A@X.CO"]);
        let rows = vec![user(1, "a@x.co"), user(2, "c@x.co")];
        match batch.check_inserted(rows) {
            Err(StoreError::BatchEmailsTaken(taken)) => assert_eq!(taken, [1, 3]),
            other => panic!("expected the conflicts, got {other:?}"),
        }
    }

    #[test]
    fn a_repeat_is_listed_even_when_the_database_kept_the_later_entry() {
        let batch = batch(&["a@x.co", "A@x.co"]);
        let rows = vec![user(5, "A@x.co")];
        match batch.check_inserted(rows) {
            Err(StoreError::BatchEmailsTaken(taken)) => assert_eq!(taken, [1]),
            other => panic!("expected the conflicts, got {other:?}"),
        }
    }

    #[test]
    fn a_post_with_its_author_lists_the_author_last() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 18, 31, 52).unwrap();
        let author = UserRead {
            id: 1,
            name: "Ada".into(),
            email: "ada@example.com".into(),
            created_at: at,
        };
        let post = PostRead {
            id: 7,
            user_id: 1,
            title: "T".into(),
            body: "B".into(),
            created_at: at,
        };
        let text = serde_json::to_string(&PostWithAuthor { post, author }).unwrap();
        assert_eq!(
            text,
            "{\"id\":7,\"user_id\":1,\"title\":\"T\",\"body\":\"B\",\
             \"created_at\":\"2026-12-01T18:31:52.000000Z\",\"author\":{\"id\":1,\
             \"name\":\"Ada\",\"email\":\"ada@example.com\",\
             \"created_at\":\"2026-12-01T18:31:52.000000Z\"}}"
        );
    }
}
