//! Keeping personal data out of the log, whatever `RUST_LOG` says.
//!
//! API.md promises that names, emails, post titles and bodies, and statement parameter
//! values appear in no log line at any level, `trace` included. Our own code never logs
//! them; the libraries under the tiers do, at their debug and trace levels:
//!
//! | target | level | what it prints |
//! | --- | --- | --- |
//! | `tokio_postgres::query` (tier-raw) | debug | `executing statement s3 with parameters: ["Ada", "ada@example.com"]`, through the `log` crate, which `tracing-subscriber` forwards |
//! | `sea_orm` (tier-orm) | debug | each statement with its values written into the SQL text (the `debug-print` feature) |
//! | `sea_orm` (tier-orm) | trace | spans over its functions' arguments, among them `SqlxPostgresConnector::connect`'s `ConnectOptions`, whose `Debug` shows the URL with the password |
//!
//! sqlx's own statement log (target `sqlx::query`, what `LOG_SQL=true` turns on in
//! tiers II and III) prints the SQL text, the rows and the time, never the arguments:
//! it stays as it is. tier-raw writes its `LOG_SQL` lines itself, with the SQL only.
//!
//! [`keep_private`] caps the targets above at `info` in the log filter. The cap is added
//! after `RUST_LOG`'s own directives, so `RUST_LOG=trace` or even
//! `RUST_LOG=tokio_postgres=trace` cannot lift it: for one target, the last directive
//! wins. (A span-scoped directive such as `RUST_LOG=[request]=trace` is the exception:
//! `EnvFilter` lets it enable everything inside that span. Do not use one in
//! production.)
//!
//! Errors are the other way row values reach a log: PostgreSQL's `DETAIL` quotes them
//! (`Key (lower(email))=(ada@example.com) already exists.`). Every tier logs a database
//! error by its SQLSTATE and constraint name instead: see
//! [`crate::sqlstate::DbErrorSummary`]. The fault suite's `security` module runs every
//! tier's binary at `RUST_LOG=trace` and searches its whole output for the data it sent.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Directive;

/// The log targets that print statement parameters, row values or connection options,
/// each capped at `info` (see the module docs for what each prints).
pub const PRIVATE_TARGETS: [&str; 2] = ["tokio_postgres::query", "sea_orm"];

/// `filter` with every target of [`PRIVATE_TARGETS`] capped at `info`.
pub fn keep_private(filter: EnvFilter) -> EnvFilter {
    private_directives().fold(filter, EnvFilter::add_directive)
}

/// The directives [`keep_private`] adds, `TARGET=info` for each private target.
fn private_directives() -> impl Iterator<Item = Directive> {
    // Each string is a target name and a level, which always parse; the unit test below
    // proves it, so nothing is silently dropped here.
    PRIVATE_TARGETS
        .iter()
        .filter_map(|target| format!("{target}=info").parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Runs `check` with a subscriber filtered by `RUST_LOG=rust_log` and our caps.
    fn under<T>(rust_log: &str, check: impl FnOnce() -> T) -> T {
        let filter = keep_private(EnvFilter::new(rust_log));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(filter), check)
    }

    #[test]
    fn every_private_target_becomes_a_directive() {
        assert_eq!(private_directives().count(), PRIVATE_TARGETS.len());
    }

    // One test, so no other test's subscriber runs meanwhile on this thread.
    #[test]
    fn no_rust_log_lifts_the_caps() {
        for rust_log in ["trace", "debug", "tokio_postgres=trace,sea_orm=trace"] {
            let (query_debug, query_info, orm_debug, orm_driver_trace, ours_debug) =
                under(rust_log, || {
                    (
                        tracing::enabled!(target: "tokio_postgres::query", Level::DEBUG),
                        tracing::enabled!(target: "tokio_postgres::query", Level::INFO),
                        tracing::enabled!(target: "sea_orm", Level::DEBUG),
                        // A module below a capped target is capped with it.
                        tracing::enabled!(target: "sea_orm::driver::sqlx_postgres", Level::TRACE),
                        tracing::enabled!(target: "users_api", Level::DEBUG),
                    )
                });
            assert!(!query_debug, "{rust_log}: tokio-postgres parameters");
            assert!(query_info, "{rust_log}: tokio-postgres notices");
            assert!(!orm_debug, "{rust_log}: SeaORM statements");
            assert!(!orm_driver_trace, "{rust_log}: SeaORM spans");
            // Everything else still follows RUST_LOG.
            assert_eq!(ours_debug, rust_log != "tokio_postgres=trace,sea_orm=trace");
        }
        // sqlx's statement log (SQL text only) is untouched: LOG_SQL keeps working.
        assert!(under("info", || tracing::enabled!(
            target: "sqlx::query",
            Level::INFO
        )));
    }
}
