//! The statement timeout behind a pooler: set where a pooler keeps it.
//!
//! Every tier asks for [`STATEMENT_TIMEOUT`] as a start-up option
//! (`-c statement_timeout=4000`). PgBouncer drops start-up options it does not know
//! (`ignore_startup_parameters = extra_float_digits,options` is how it is told to accept
//! them at all), so behind it the server sessions run with the database's default, no
//! limit, and a stuck statement would hold its server connection until the operation
//! deadline gives up on our side only. A `SET` per session is no answer either: in
//! transaction mode the next transaction may run on another server connection.
//!
//! What a pooler keeps is the server's own defaults. So at start-up every tier asks its
//! first connection ([`check_sql`]) whether the timeout it asked for is in force, and
//! if not makes it the default of its own role in its database
//! ([`role_default_sql`]): `ALTER ROLE CURRENT_USER IN DATABASE ... SET`, which any role
//! may do for itself, for a setting any user may change. Every server connection opened
//! after it starts with the limit, whichever client it serves; connected directly, the
//! start-up option wins over the default and nothing changes. It is logged once, at
//! info, with why.
//!
//! The limits of this, honestly: server connections the pooler opened *before* the
//! first start-up keep their old value until it replaces them (PgBouncer's
//! `server_lifetime`, an hour by default), so the tier also `SET`s it on the session
//! it asked on (harmless to share: it is the value the default now gives). And the
//! default is the role's: other programs connecting as the same role to the same
//! database get it too (a 4 s limit they did not ask for), which is why it is logged.
//!
//! Both statements go over the simple query protocol (one text result, nothing
//! prepared), so they work behind any pooler.

use crate::config::{DatabaseConfig, quote_identifier};
use crate::pool::STATEMENT_TIMEOUT;

/// One row, one text column: `true` when the session's `statement_timeout` is
/// [`STATEMENT_TIMEOUT`], `false` otherwise (`0`, no limit, behind PgBouncer).
/// The server compares, so `4s` and `4000ms` are the same.
pub fn check_sql() -> String {
    format!(
        "SELECT (current_setting('statement_timeout')::interval \
         = interval '{} milliseconds')::text",
        STATEMENT_TIMEOUT.as_millis()
    )
}

/// Makes [`STATEMENT_TIMEOUT`] the default of the connected role in `database`, and
/// sets it on this session too (the server connection a pooler opened before the
/// default existed). Several statements in one simple query, which PostgreSQL runs as
/// one transaction.
///
/// The transaction first takes an advisory lock, held until it ends: replicas started
/// together on a fresh database all find the timeout missing and all alter the same
/// catalog row at once, and PostgreSQL refuses all but one ("tuple concurrently
/// updated"), so the others would exit. With the lock they alter it one after another.
pub fn role_default_sql(database: &str) -> String {
    let millis = STATEMENT_TIMEOUT.as_millis();
    format!(
        "SELECT pg_advisory_xact_lock(hashtext('users_api.pooler.statement_timeout')); \
         ALTER ROLE CURRENT_USER IN DATABASE {} SET statement_timeout = '{millis}ms'; \
         SET statement_timeout = '{millis}ms'",
        quote_identifier(database)
    )
}

/// Whether the answer of [`check_sql`] says the timeout is in force. An answer that is
/// neither `true` nor `false` is an error: never a silent "fine".
pub fn timeout_in_force(answer: Option<&str>) -> anyhow::Result<bool> {
    match answer {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        other => anyhow::bail!("unexpected answer to the statement_timeout check: {other:?}"),
    }
}

/// The one log line when the default was set.
pub fn log_role_default_set(database: &DatabaseConfig) {
    tracing::info!(
        database = database.name(),
        user = database.user(),
        statement_timeout_ms = STATEMENT_TIMEOUT.as_millis() as u64,
        "statement_timeout was not in force on this connection (a pooler dropped the \
         start-up option?): set it as this role's default in this database, so every \
         new server connection has it"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_names_the_timeout_and_quotes_the_database() {
        assert!(
            check_sql().contains("interval '4000 milliseconds'"),
            "{}",
            check_sql()
        );
        let sql = role_default_sql("odd\"name");
        assert!(sql.starts_with("SELECT pg_advisory_xact_lock("), "{sql}");
        assert!(
            sql.contains("; ALTER ROLE CURRENT_USER IN DATABASE \"odd\"\"name\" SET"),
            "{sql}"
        );
        assert!(sql.ends_with("SET statement_timeout = '4000ms'"), "{sql}");
    }

    #[test]
    fn only_true_or_false_is_an_answer() {
        assert!(timeout_in_force(Some("true")).unwrap());
        assert!(!timeout_in_force(Some("false")).unwrap());
        assert!(timeout_in_force(Some("4s")).is_err());
        assert!(timeout_in_force(None).is_err());
    }
}
