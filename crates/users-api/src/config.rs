//! Configuration from the environment (or a `.env` file), as in the course.
//!
//! | variable | default |
//! | --- | --- |
//! | `DATABASE_URL` | built from `DB_USER`, `DB_PASS`, `DB_HOST`, `DB_PORT`, `DB_NAME` |
//! | `DB_USER` / `DB_PASS` / `DB_HOST` / `DB_PORT` / `DB_NAME` | `postgres` / `postgres` / `localhost` / `5432` / `users_course` |
//! | `BIND_ADDR` | `127.0.0.1:3001` raw, `:3002` sqlx, `:3003` ORM |
//! | `DB_POOL_SIZE` | the tier's tuned default |
//! | `LOG_SQL` | `false` |
//! | `DB_PREPARED_STATEMENTS` | `true` (`false`: every statement unnamed, for a pooler in transaction mode) |
//! | `DB_PIPELINE` / `DB_PIPELINE_CLIENTS` | `false` / `1` (tier-raw only: reads over shared, pipelined clients) |
//! | `MAX_IN_FLIGHT` / `MAX_CONNECTIONS` / `HEADER_READ_TIMEOUT_SECS` | `64` / `1024` or fewer (the file limit) / `30` (see [`ServeConfig`]) |
//!
//! [`load_dotenv`] reads `.env` once per process, and [`database_from_env`] is the one
//! place that turns the environment into a database address: the tiers, the tests and
//! the bench all call it, so all of them agree on one default
//! ([`DEFAULT_DATABASE_URL`]) and all of them follow a `.env` that sets a password.
//!
//! The connection string holds the password, so it lives in a [`SecretString`](secrecy::SecretString): its
//! `Debug` prints `[REDACTED]`, and reading it takes an explicit `expose_secret()`,
//! which only the code that hands it to a driver calls. For logs, [`DatabaseConfig`]
//! keeps host, port, database and user apart, and its `Display` leaves the password out.
//! (The course's original printed the whole URL at start-up; we show the better habit.)

mod database;
mod serve;

use std::sync::OnceLock;

pub use database::{DatabaseConfig, quote_identifier};
pub use serve::{
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_IN_FLIGHT, ServeConfig,
    default_max_connections,
};

/// The database every program of this workspace uses when neither `DATABASE_URL` nor
/// any of the five pieces is set: the course's `users_course` on the local server,
/// with the password `docker compose up -d db` gives it. Tests and the bench use the
/// same server and credentials, and their own databases on it.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@localhost:5432/users_course";

/// The most shared read clients `DB_PIPELINE_CLIENTS` may ask for.
pub const MAX_PIPELINE_CLIENTS: usize = 64;

/// What is fixed per tier: its name, its default port, its default pool size.
#[derive(Debug, Clone, Copy)]
pub struct TierInfo {
    /// The crate and binary name: `tier-raw`, `tier-sqlx`, `tier-orm`.
    pub name: &'static str,
    /// Default port, so all three tiers can run side by side.
    pub default_port: u16,
    /// Default pool size (see each tier's `lib.rs` for why that number).
    pub default_pool_size: usize,
    /// Whether the tier has a pipelined read path (`DB_PIPELINE=true`): tier-raw only.
    /// Asking another tier for it is a configuration error, not a silent no-op.
    pub has_pipeline: bool,
    /// Whether the tier can send every statement unnamed (`DB_PREPARED_STATEMENTS=false`):
    /// all three do now (tier-orm through its own `ConnectionTrait`). Asking a tier that
    /// cannot is a configuration error, like `DB_PIPELINE`.
    pub has_unnamed_statements: bool,
}

/// tier-raw's pipelined read path (`DB_PIPELINE`, `DB_PIPELINE_CLIENTS`): see
/// `crates/tier-raw/src/pipelined.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Serve reads through shared, pipelined clients instead of pooled connections.
    pub enabled: bool,
    /// How many shared clients (1 to [`MAX_PIPELINE_CLIENTS`]).
    pub clients: usize,
}

impl Default for PipelineConfig {
    /// Off, and one client when turned on (docs/benchmark.md's tuning table says why one).
    fn default() -> Self {
        Self {
            enabled: false,
            clients: 1,
        }
    }
}

/// A tier server's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen, e.g. `127.0.0.1:3001`.
    pub bind_addr: String,
    /// Which database to serve.
    pub database: DatabaseConfig,
    /// How many connections the pool may open.
    pub pool_size: usize,
    /// Log every SQL statement (SQLAlchemy's `echo=True`).
    pub log_sql: bool,
    /// Keep prepared statements on the server (named, cached per connection). `false`
    /// (`DB_PREPARED_STATEMENTS=false`) sends every statement unnamed, so nothing
    /// outlives it on the server: what a pooler in transaction mode needs (PgBouncer
    /// before 1.21 hands each transaction to any server connection). Each tier's
    /// `connect` says what its library does with it.
    pub prepared_statements: bool,
    /// tier-raw's pipelined read path; off everywhere else.
    pub pipeline: PipelineConfig,
    /// The limits on clients: requests in flight, open connections, the head timeout.
    pub serve: ServeConfig,
}

/// A configuration value that cannot be used. The messages never include the value of
/// `DATABASE_URL`, which may hold a password.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `DATABASE_URL` (or the URL built from the pieces) does not parse.
    #[error("DATABASE_URL is not a valid postgres:// URL: {0}")]
    Url(&'static str),
    /// Another variable has a value of the wrong shape.
    #[error("{name} has an invalid value: {why}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        why: String,
    },
}

impl Config {
    /// Reads the process environment, after [`load_dotenv`] (which the caller runs).
    pub fn from_env(tier: TierInfo) -> Result<Self, ConfigError> {
        Self::from_lookup(tier, |name| std::env::var(name).ok())
    }

    /// A configuration for `database` with every other setting at its default, as a
    /// test or the bench wants it (they set `bind_addr` and `pool_size` themselves).
    pub fn for_database(tier: TierInfo, database: DatabaseConfig) -> Self {
        Self {
            bind_addr: format!("127.0.0.1:{}", tier.default_port),
            database,
            pool_size: tier.default_pool_size,
            log_sql: false,
            prepared_statements: true,
            pipeline: PipelineConfig::default(),
            serve: ServeConfig::default(),
        }
    }

    /// Reads configuration through `lookup`, so tests can supply variables without
    /// touching the process environment. Every variable is parsed strictly: a value
    /// that is not understood is an error (the server exits 2), never a silent default.
    pub fn from_lookup(
        tier: TierInfo,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let database = DatabaseConfig::from_lookup(&lookup)?;
        let pool_size = match lookup("DB_POOL_SIZE") {
            None => tier.default_pool_size,
            Some(raw) => parse_in_range("DB_POOL_SIZE", &raw, 1..=1000)?,
        };
        let log_sql = parse_bool("LOG_SQL", lookup("LOG_SQL"))?;
        let prepared_statements = match lookup("DB_PREPARED_STATEMENTS") {
            // The one switch that is on unless said otherwise: unset or empty (as
            // `LOG_SQL=` is for `LOG_SQL`) means the default.
            None => true,
            Some(raw) if raw.trim().is_empty() => true,
            raw => parse_bool("DB_PREPARED_STATEMENTS", raw)?,
        };
        let mut pipeline = PipelineConfig {
            enabled: parse_bool("DB_PIPELINE", lookup("DB_PIPELINE"))?,
            ..PipelineConfig::default()
        };
        if let Some(raw) = lookup("DB_PIPELINE_CLIENTS") {
            pipeline.clients =
                parse_in_range("DB_PIPELINE_CLIENTS", &raw, 1..=MAX_PIPELINE_CLIENTS)?;
        }
        if pipeline.enabled && !prepared_statements {
            // The shared clients prepare their statements once, at start-up, and keep
            // them for their life: the opposite of what a pooler in transaction mode
            // allows, and pipelining through one is untested. Refused, not half done.
            return Err(invalid(
                "DB_PIPELINE",
                "needs DB_PREPARED_STATEMENTS=true (the pipelined clients keep their \
                 statements prepared)"
                    .into(),
            ));
        }
        if !prepared_statements && !tier.has_unnamed_statements {
            return Err(invalid(
                "DB_PREPARED_STATEMENTS",
                format!(
                    "{} cannot send unnamed statements (its library names every one; \
                     see its lib.rs)",
                    tier.name
                ),
            ));
        }
        if pipeline.enabled && !tier.has_pipeline {
            return Err(invalid(
                "DB_PIPELINE",
                format!("{} has no pipelined mode (tier-raw has)", tier.name),
            ));
        }
        Ok(Self {
            bind_addr: lookup("BIND_ADDR")
                .unwrap_or_else(|| format!("127.0.0.1:{}", tier.default_port)),
            database,
            pool_size,
            log_sql,
            prepared_statements,
            pipeline,
            serve: ServeConfig::from_lookup(&lookup)?,
        })
    }
}

/// Reads `.env` from the working directory (or a parent) into the environment, once
/// per process however often it is called; variables already set win. A missing
/// `.env` is normal and gives `Ok`; a malformed one gives the error to report (its
/// message names the line, never a value).
pub fn load_dotenv() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| match dotenvy::dotenv() {
            Ok(_) => Ok(()),
            Err(err) if err.not_found() => Ok(()),
            Err(err) => Err(err.to_string()),
        })
        .clone()
}

/// The database the environment names: `DATABASE_URL`, else the five pieces, else
/// [`DEFAULT_DATABASE_URL`]; `.env` included (see [`load_dotenv`]). The tiers, the
/// tests and the bench all find their server through this one function.
pub fn database_from_env() -> Result<DatabaseConfig, ConfigError> {
    // A malformed `.env` is reported by the servers; here the variables that did load
    // still count.
    let _ = load_dotenv();
    DatabaseConfig::from_lookup(&|name: &str| std::env::var(name).ok())
}

/// `true`/`false` and their usual spellings, or an error naming the variable.
fn parse_bool(name: &'static str, raw: Option<String>) -> Result<bool, ConfigError> {
    let Some(raw) = raw else { return Ok(false) };
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(invalid(
            name,
            format!("expected true or false, got {raw:?}"),
        )),
    }
}

/// A whole number within `range`, or an error naming the variable and the range.
fn parse_in_range(
    name: &'static str,
    raw: &str,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ConfigError> {
    match raw.trim().parse::<usize>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(invalid(
            name,
            format!("expected {} to {}, got {raw:?}", range.start(), range.end()),
        )),
    }
}

pub(crate) fn invalid(name: &'static str, why: String) -> ConfigError {
    ConfigError::Invalid { name, why }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    const TIER: TierInfo = TierInfo {
        name: "tier-test",
        default_port: 3009,
        default_pool_size: 7,
        has_pipeline: false,
        has_unnamed_statements: true,
    };

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(TIER, |name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_come_from_the_course_pieces() {
        let config = config(&[]).unwrap();
        assert_eq!(config.bind_addr, "127.0.0.1:3009");
        assert_eq!(config.pool_size, 7);
        assert!(!config.log_sql);
        assert_eq!(
            config.database.url().expose_secret(),
            "postgres://postgres:postgres@localhost:5432/users_course"
        );
        assert_eq!(
            config.database.to_string(),
            "postgres://postgres@localhost:5432/users_course"
        );
    }

    #[test]
    fn pieces_are_percent_encoded() {
        let config = config(&[
            ("DB_PASS", "p@ss/w:rd"),
            ("DB_USER", "ada"),
            ("DB_NAME", "x"),
        ])
        .unwrap();
        assert_eq!(
            config.database.url().expose_secret(),
            "postgres://ada:p%40ss%2Fw%3Ard@localhost:5432/x"
        );
        assert_eq!(config.database.user(), "ada");
    }

    #[test]
    fn the_password_never_shows() {
        let config = config(&[(
            "DATABASE_URL",
            "postgres://ada:hunter2@db.example:6543/shop",
        )])
        .unwrap();
        let shown = format!("{config:?} {}", config.database);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(config.database.host(), "db.example");
        assert_eq!(config.database.port(), 6543);
        assert_eq!(config.database.name(), "shop");
        let err = DatabaseConfig::parse("mysql://ada:hunter2@x/y")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        let err = DatabaseConfig::parse("postgres://ada:hunter2@[bad/y")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(config(&[("DB_POOL_SIZE", "0")]).is_err());
        assert!(config(&[("DB_POOL_SIZE", "many")]).is_err());
        assert!(config(&[("LOG_SQL", "maybe")]).is_err());
        assert!(config(&[("DB_PORT", "99999")]).is_err());
        assert!(config(&[("LOG_SQL", "TRUE")]).unwrap().log_sql);
    }

    #[test]
    fn prepared_statements_are_on_unless_switched_off_strictly() {
        assert!(config(&[]).unwrap().prepared_statements);
        assert!(
            config(&[("DB_PREPARED_STATEMENTS", "")])
                .unwrap()
                .prepared_statements
        );
        for on in ["true", "TRUE", " 1 ", "yes", "on"] {
            let config = config(&[("DB_PREPARED_STATEMENTS", on)]).unwrap();
            assert!(config.prepared_statements, "{on:?}");
        }
        for off in ["false", "False", "0", "no", "off"] {
            let config = config(&[("DB_PREPARED_STATEMENTS", off)]).unwrap();
            assert!(!config.prepared_statements, "{off:?}");
        }
        let orm = TierInfo {
            has_unnamed_statements: false,
            ..TIER
        };
        let err = Config::from_lookup(orm, |name: &str| {
            (name == "DB_PREPARED_STATEMENTS").then(|| "false".to_owned())
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("cannot send unnamed statements"), "{err}");
        for bad in ["maybe", "unnamed", "2"] {
            let err = config(&[("DB_PREPARED_STATEMENTS", bad)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("DB_PREPARED_STATEMENTS") && err.contains("expected true or false"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn pipeline_switches_are_strict() {
        let pipelined = TierInfo {
            has_pipeline: true,
            ..TIER
        };
        let lookup = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        let on = Config::from_lookup(pipelined, lookup(&[("DB_PIPELINE", "on")])).unwrap();
        assert_eq!(
            on.pipeline,
            PipelineConfig {
                enabled: true,
                clients: 1
            }
        );
        let four = Config::from_lookup(
            pipelined,
            lookup(&[("DB_PIPELINE", "true"), ("DB_PIPELINE_CLIENTS", " 4 ")]),
        )
        .unwrap();
        assert_eq!(four.pipeline.clients, 4);
        assert!(!config(&[]).unwrap().pipeline.enabled);
        for bad in ["0", "65", "-1", "two", ""] {
            let err = Config::from_lookup(pipelined, |name: &str| {
                (name == "DB_PIPELINE_CLIENTS").then(|| bad.to_owned())
            })
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("DB_PIPELINE_CLIENTS") && err.contains("1 to 64"),
                "{bad}: {err}"
            );
        }
        let err = config(&[("DB_PIPELINE", "maybe")]).unwrap_err().to_string();
        assert!(err.contains("DB_PIPELINE"), "{err}");
        // A tier without a pipelined mode refuses the switch rather than ignoring it.
        let err = config(&[("DB_PIPELINE", "true")]).unwrap_err().to_string();
        assert!(err.contains("no pipelined mode"), "{err}");
        assert!(config(&[("DB_PIPELINE", "false")]).is_ok());
        let err = Config::from_lookup(
            pipelined,
            lookup(&[("DB_PIPELINE", "true"), ("DB_PREPARED_STATEMENTS", "false")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("needs DB_PREPARED_STATEMENTS=true"), "{err}");
    }
}
