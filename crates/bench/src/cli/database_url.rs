//! Where the bench's database server comes from: the one place that decides it.
//!
//! The benchmark binary ([`crate::run`], through [`crate::cli::Options::plan`]) and the
//! store benches (`benches/stores.rs`) both take their server from here. The order:
//! `--database-url` if given, else what the environment names exactly as the tiers
//! read it (`DATABASE_URL`, else the five `DB_*` pieces, `.env` included, through
//! `users_api::config::database_from_env`), else the workspace's one default. So the
//! bench works wherever the tiers do, `docker compose up -d db` with its password
//! included. Only the server and credentials of that URL are used; the bench database
//! is created beside it ([`crate::cli::Plan::bench_db`]).

use secrecy::ExposeSecret as _;

/// The server when nothing else names one: the tiers' and the tests' default.
pub use users_api::config::DEFAULT_DATABASE_URL;

/// The server the environment names, as the tiers read it (`.env` included), or
/// `None` if what it names does not parse. Kept apart from [`choose`] so that tests
/// pass their own value and need no environment.
pub fn from_environment() -> Option<String> {
    users_api::config::database_from_env()
        .ok()
        .map(|database| database.url().expose_secret().to_owned())
}

/// The server's URL: `given` (`--database-url`) wins over `environment`
/// ([`from_environment`]), and both over [`DEFAULT_DATABASE_URL`].
pub fn choose(given: Option<String>, environment: Option<String>) -> String {
    given
        .or(environment)
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}
