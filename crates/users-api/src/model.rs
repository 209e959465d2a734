//! The resources and their request bodies: `UserRead`, `UserCreate`, `UserUpdate`;
//! `PostRead`, `PostWithAuthor`, `PostCreate`; and `Page` for every list.
//!
//! `UserCreate`, `UserUpdate` and `PostCreate` can only be built by [`crate::validate`], which trims
//! and checks every field first ("parse, don't validate"). Their fields are private, so
//! a store that receives one knows it holds valid, trimmed data and checks nothing
//! again. Their `ToSchema` derives describe the wire format in `/openapi.json`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

/// Longest name, in Unicode scalar values, after trimming.
pub const NAME_MAX_CHARS: usize = 100;
/// Longest email, in characters, after trimming (the limit of a forward path in SMTP).
pub const EMAIL_MAX_CHARS: usize = 254;
/// Longest post title, in Unicode scalar values, after trimming.
pub const TITLE_MAX_CHARS: usize = 200;
/// Longest post body, in Unicode scalar values (bodies are stored as sent).
pub const POST_BODY_MAX_CHARS: usize = 4_000;
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
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(example = json!({"name": "Ada Lovelace", "email": "Ada@Example.com"}))]
pub struct UserCreate {
    /// 1 to 100 characters after trimming surrounding white space; no control characters.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// A valid e-mail address (WHATWG HTML syntax, a dot in the domain), at most 254
    /// characters after trimming. Compared case-insensitively for uniqueness.
    #[schema(format = Email, max_length = 254)]
    email: String,
}

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

/// The body of `PATCH /users/{id}`, validated and trimmed: at least one member is set.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(example = json!({"email": "ada@example.org"}))]
pub struct UserUpdate {
    /// New name; same rules as on create.
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    /// New email; same rules as on create.
    #[schema(format = Email, max_length = 254)]
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
#[schema(example = json!({"title": "Notes on the Analytical Engine",
                          "body": "It might act upon other things besides number."}))]
pub struct PostCreate {
    /// 1 to 200 characters after trimming surrounding white space; no control characters.
    #[schema(min_length = 1)]
    title: String,
    /// Up to 4,000 characters, stored exactly as sent; no control characters but tab,
    /// line feed and carriage return.
    #[schema(max_length = 4000)]
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
