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
/// exceptions (class 08), shutdown or start-up (57P01-57P03), a database that is read
/// only (25006: a standby after a failover, or `default_transaction_read_only`), full
/// (53100, disk full) or out of connections (53300), a statement cancelled by
/// `statement_timeout` (57014), and a deadlock (40P01): two batches that insert the
/// same emails in opposite orders wait for each other, and PostgreSQL rolls one back.
/// That one is retried as a whole, by the client.
///
/// The first three are states of the server, not of the request: the same request
/// succeeds once an operator has promoted a primary, freed disk space, or the other
/// clients have let connections go. Reads keep working meanwhile in a read-only or
/// full database; only the writes get the 503.
pub fn is_transient(code: &str) -> bool {
    code.starts_with("08")
        || [
            "57P01", "57P02", "57P03", "25006", "53100", "53300", "57014", "40P01",
        ]
        .contains(&code)
}

/// SQLSTATE of PostgreSQL's answer to a connection to a database that does not exist
/// (`invalid_catalog_name`): the one answer on which a tier creates its database.
pub const INVALID_CATALOG_NAME: &str = "3D000";

/// Who said, at start-up, that the configured database does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingDatabase {
    /// PostgreSQL itself (SQLSTATE 3D000): the tier creates the database, as the
    /// course's set-up script would, through the `postgres` maintenance database.
    OnServer,
    /// A connection pooler in front of it. PgBouncer answers a login to a database that
    /// PostgreSQL refused with its own error, SQLSTATE 08P01 and PostgreSQL's text
    /// (`database "x" does not exist`), or `no such database: x` when its
    /// `[databases]` does not list it. A pooler cannot create databases, and the
    /// `postgres` database behind it is usually not served at all: the tier exits,
    /// saying so ([`PoolerCannotCreateDatabase`]), rather than retrying.
    BehindPooler,
}

/// What a failed connection's SQLSTATE and message say about the database, if they
/// say it is missing.
pub fn missing_database(code: &str, message: &str) -> Option<MissingDatabase> {
    if code == INVALID_CATALOG_NAME {
        Some(MissingDatabase::OnServer)
    } else if code == "08P01"
        && (message.contains("does not exist") || message.starts_with("no such database"))
    {
        Some(MissingDatabase::BehindPooler)
    } else {
        None
    }
}

/// The start-up error of a tier pointed, through a pooler, at a database that does
/// not exist: the server exits 1 with this message (never a retry loop).
#[derive(Debug, thiserror::Error)]
#[error(
    "database \"{name}\" does not exist and must be created first: {host}:{port} is a \
     connection pooler (it answered SQLSTATE 08P01, not PostgreSQL's 3D000), and a pooler \
     cannot create databases. Create it on PostgreSQL itself (`createdb {name}`, or \
     CREATE DATABASE), then start this server again"
)]
pub struct PoolerCannotCreateDatabase {
    /// The database's name.
    pub name: String,
    /// The pooler's host.
    pub host: String,
    /// The pooler's port.
    pub port: u16,
}

impl PoolerCannotCreateDatabase {
    /// The error for `database`, as configured.
    pub fn new(database: &crate::config::DatabaseConfig) -> Self {
        Self {
            name: database.name().to_owned(),
            host: database.host().to_owned(),
            port: database.port(),
        }
    }
}

/// A database error as the log may show it: its SQLSTATE, and the names of the
/// constraint, table and column it concerns, and nothing that could quote a row.
///
/// PostgreSQL's message and `DETAIL` may hold the very values a request sent
/// (`DETAIL: Key (lower(email))=(ada@example.com) already exists.`, `invalid input
/// syntax for type bigint: "..."`), and the drivers print both in their `Display`
/// (tokio-postgres even adds the `DETAIL` line). Every tier's `db_error` wraps a database
/// error in this summary instead, read out of its own driver's error, before the error
/// reaches the log through `ApiError` (the 500 and 503 paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbErrorSummary {
    /// The five-character SQLSTATE, `23505`.
    pub code: String,
    /// The constraint violated, if the error names one (`users_email_lower_key`).
    pub constraint: Option<String>,
    /// The table concerned, if the error names one.
    pub table: Option<String>,
    /// The column concerned, if the error names one (a not-null violation).
    pub column: Option<String>,
}

impl DbErrorSummary {
    /// A summary of an error with SQLSTATE `code` and no names.
    pub fn new(code: impl Into<String>) -> Self {
        Self::of(&code.into(), None, None)
    }

    /// A summary of an error with SQLSTATE `code`, on `constraint` of `table` (as the
    /// drivers hand them out).
    pub fn of(code: &str, constraint: Option<&str>, table: Option<&str>) -> Self {
        Self {
            code: code.to_owned(),
            constraint: constraint.map(str::to_owned),
            table: table.map(str::to_owned),
            column: None,
        }
    }

    /// The same summary, naming the column concerned too.
    pub fn with_column(self, column: Option<&str>) -> Self {
        Self {
            column: column.map(str::to_owned),
            ..self
        }
    }

    /// The store error this database error is, carrying the summary (not the driver's
    /// error) to the log: "unavailable" (503) for a [transient](is_transient) state,
    /// "internal" (500) for anything else. A taken email or a missing author is
    /// decided before, by the tier.
    pub fn into_store_error(self) -> crate::error::StoreError {
        if is_transient(&self.code) {
            crate::error::StoreError::unavailable(self)
        } else {
            crate::error::StoreError::internal(self)
        }
    }
}

impl std::fmt::Display for DbErrorSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "database error, SQLSTATE {}", self.code)?;
        if let Some(name) = code_name(&self.code) {
            write!(f, " ({name})")?;
        }
        for (what, name) in [
            ("constraint", &self.constraint),
            ("table", &self.table),
            ("column", &self.column),
        ] {
            if let Some(name) = name {
                write!(f, ", {what} {name}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for DbErrorSummary {}

/// PostgreSQL's name for the codes this API gives a meaning to, for the log's reader.
pub fn code_name(code: &str) -> Option<&'static str> {
    Some(match code {
        UNIQUE_VIOLATION => "unique_violation",
        FOREIGN_KEY_VIOLATION => "foreign_key_violation",
        "23502" => "not_null_violation",
        "23514" => "check_violation",
        "25006" => "read_only_sql_transaction",
        // A named prepared statement missing, or given twice: what a statement cache
        // meets behind a pooler in transaction mode (DB_PREPARED_STATEMENTS).
        "26000" => "invalid_sql_statement_name",
        "42P05" => "duplicate_prepared_statement",
        "40P01" => "deadlock_detected",
        "53100" => "disk_full",
        "53300" => "too_many_connections",
        "57014" => "query_canceled",
        "57P01" => "admin_shutdown",
        _ => return None,
    })
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
            "08006", "08001", "57P01", "57P02", "57P03", "25006", "53100", "53300", "57014",
            "40P01",
        ] {
            assert!(is_transient(code), "{code}");
        }
        for code in [
            "23505", "42P01", "22001", "40001", "XX000", "25P02", "53200",
        ] {
            assert!(!is_transient(code), "{code}");
        }
    }

    #[test]
    fn only_postgres_says_create_and_a_pooler_says_exit() {
        let missing = r#"database "shop" does not exist"#;
        assert_eq!(
            missing_database("3D000", missing),
            Some(MissingDatabase::OnServer)
        );
        assert_eq!(
            missing_database("08P01", missing),
            Some(MissingDatabase::BehindPooler)
        );
        assert_eq!(
            missing_database("08P01", "no such database: shop"),
            Some(MissingDatabase::BehindPooler)
        );
        assert_eq!(
            missing_database("08P01", "server login has been failing"),
            None
        );
        assert_eq!(
            missing_database("28P01", "password authentication failed"),
            None
        );
        let message = PoolerCannotCreateDatabase {
            name: "shop".into(),
            host: "127.0.0.1".into(),
            port: 6432,
        }
        .to_string();
        assert!(
            message.starts_with(r#"database "shop" does not exist and must be created first"#),
            "{message}"
        );
    }

    #[test]
    fn a_summary_names_the_code_and_constraint_only() {
        let summary = DbErrorSummary {
            constraint: Some("users_email_lower_key".to_owned()),
            table: Some("users".to_owned()),
            ..DbErrorSummary::new("23505")
        };
        assert_eq!(
            summary.to_string(),
            "database error, SQLSTATE 23505 (unique_violation), \
             constraint users_email_lower_key, table users"
        );
        assert_eq!(
            DbErrorSummary::new("XX000").to_string(),
            "database error, SQLSTATE XX000"
        );
    }
}
