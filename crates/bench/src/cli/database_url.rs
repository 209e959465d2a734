//! Where the bench's database URL comes from: the one place that decides it.
//!
//! The benchmark binary ([`crate::run`], through [`crate::cli::Options::plan`]) and the
//! store benches (`benches/stores.rs`) both take their server from here, so changing
//! how the bench finds its database (reading `.env` the way the tiers do, say) is an
//! edit of this file alone. The order: `--database-url` if given, else `$DATABASE_URL`,
//! else [`DEFAULT_DATABASE_URL`]. Only the server and credentials of that URL are
//! used; the bench database is created beside it ([`crate::cli::Plan::bench_db`]).

/// The admin connection when neither `--database-url` nor `DATABASE_URL` is given.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// `$DATABASE_URL` as the bench sees it: the only place the bench reads its database
/// URL from its environment. Kept apart from [`choose`] so that tests pass their own
/// value and need no environment.
pub fn from_environment() -> Option<String> {
    std::env::var("DATABASE_URL").ok()
}

/// The server's URL: `given` (`--database-url`) wins over `environment`
/// ([`from_environment`]), and both over [`DEFAULT_DATABASE_URL`].
pub fn choose(given: Option<String>, environment: Option<String>) -> String {
    given
        .or(environment)
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}
