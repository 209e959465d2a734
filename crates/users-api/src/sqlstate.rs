//! What PostgreSQL's error codes mean for this API, decided once for all three tiers.
//!
//! Every tier's driver reports a failed statement with a SQLSTATE, a five-character
//! code (`23505` unique violation, `57P01` admin shutdown, ...), and, for a violated
//! constraint, the constraint's name. Each tier reads both out of its own error type
//! in its own idiom (see each tier's `db_error`); what they *mean* is the same for all
//! three, so it lives here.

/// The unique index on `lower(email)` (see `migrations/`): a unique violation on it,
/// and only on it, means "that email is taken" (409).
///
/// Checking the name, not just the code, is the `on_constraint` idea of
/// realworld-axum-sqlx: a unique constraint added to the schema later (say, on a post's
/// slug) must not be reported as a taken email. A violation of any other constraint
/// stays a 500 until the code learns what it means.
pub const EMAIL_UNIQUE_INDEX: &str = "users_email_lower_key";

/// SQLSTATE of a unique violation.
pub const UNIQUE_VIOLATION: &str = "23505";

/// The foreign key from a post to its author (see `migrations/0002_create_posts.sql`).
pub const POST_AUTHOR_FKEY: &str = "posts_user_id_fkey";

/// SQLSTATE of a foreign-key violation.
pub const FOREIGN_KEY_VIOLATION: &str = "23503";

/// Whether a foreign-key violation on `constraint` means "no such author": the insert
/// of a post named a user that does not exist, or that was deleted meanwhile (404).
pub fn is_missing_author(code: &str, constraint: Option<&str>) -> bool {
    code == FOREIGN_KEY_VIOLATION && constraint == Some(POST_AUTHOR_FKEY)
}

/// Whether a unique violation on `constraint` means a taken email.
pub fn is_email_taken(code: &str, constraint: Option<&str>) -> bool {
    code == UNIQUE_VIOLATION && constraint == Some(EMAIL_UNIQUE_INDEX)
}

/// Server states that say "try again later" (503 with `Retry-After`): connection
/// exceptions (class 08), shutdown or start-up (57P01-57P03), too many connections
/// (53300), a statement cancelled by `statement_timeout` (57014), and a deadlock
/// (40P01): two batches that insert the same emails in opposite orders wait for each
/// other, and PostgreSQL rolls one back. That one is retried as a whole, by the client.
pub fn is_transient(code: &str) -> bool {
    code.starts_with("08") || ["57P01", "57P02", "57P03", "53300", "57014", "40P01"].contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_email_index_means_a_taken_email() {
        assert!(is_email_taken("23505", Some("users_email_lower_key")));
        assert!(!is_email_taken("23505", Some("posts_slug_key")));
        assert!(!is_email_taken("23505", None));
        assert!(!is_email_taken("23503", Some("users_email_lower_key")));
    }

    #[test]
    fn only_the_author_key_means_a_missing_author() {
        assert!(is_missing_author("23503", Some("posts_user_id_fkey")));
        assert!(!is_missing_author("23503", Some("comments_post_id_fkey")));
        assert!(!is_missing_author("23505", Some("posts_user_id_fkey")));
    }

    #[test]
    fn transient_states_are_retryable_and_others_are_not() {
        for code in [
            "08006", "08001", "57P01", "57P02", "57P03", "53300", "57014", "40P01",
        ] {
            assert!(is_transient(code), "{code}");
        }
        for code in ["23505", "42P01", "22001", "40001", "XX000"] {
            assert!(!is_transient(code), "{code}");
        }
    }
}
