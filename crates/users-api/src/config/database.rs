//! Where the database is: [`DatabaseConfig`] holds the connection URL as a secret and
//! its parts (host, port, database, user) apart, for logs that never show the password.
//! Built from `DATABASE_URL` or from the course's five pieces (`DB_USER`, `DB_PASS`,
//! `DB_HOST`, `DB_PORT`, `DB_NAME`).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{ConfigError, DEFAULT_DATABASE_URL, invalid};

/// Where the database is: the full URL (secret), and its parts for logging.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    url: SecretString,
    host: String,
    port: u16,
    name: String,
    user: String,
}

impl DatabaseConfig {
    /// `DATABASE_URL` if set, else the URL built from the five pieces, each defaulting
    /// to its part of [`DEFAULT_DATABASE_URL`].
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if let Some(url) = lookup("DATABASE_URL") {
            return Self::parse(&url);
        }
        let default = Self::parse(DEFAULT_DATABASE_URL)?;
        let password = Url::parse(DEFAULT_DATABASE_URL)
            .ok()
            .and_then(|url| url.password().map(str::to_owned))
            .unwrap_or_default();
        let var = |name: &str, default: &str| lookup(name).unwrap_or_else(|| default.to_owned());
        Self::from_parts(
            &var("DB_USER", default.user()),
            &var("DB_PASS", &password),
            &var("DB_HOST", default.host()),
            &var("DB_PORT", &default.port().to_string()),
            &var("DB_NAME", default.name()),
        )
    }

    /// Parses a `postgres://user:password@host:port/database?options` URL.
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        // `url`'s parse errors describe the problem, never echo the input.
        let parsed = Url::parse(url).map_err(|_| ConfigError::Url("it does not parse as a URL"))?;
        Self::from_url(parsed)
    }

    /// Builds the URL from the course's five pieces, percent-encoding user and password
    /// (a password with `@` or `/` in it must not break the URL).
    pub fn from_parts(
        user: &str,
        password: &str,
        host: &str,
        port: &str,
        name: &str,
    ) -> Result<Self, ConfigError> {
        let port: u16 = port
            .trim()
            .parse()
            .map_err(|_| invalid("DB_PORT", format!("not a port: {port:?}")))?;
        let mut url =
            Url::parse("postgres://localhost/").map_err(|_| ConfigError::Url("internal"))?;
        url.set_host(Some(host))
            .map_err(|_| invalid("DB_HOST", format!("not a host: {host:?}")))?;
        url.set_port(Some(port))
            .map_err(|()| ConfigError::Url("cannot have a port"))?;
        url.set_username(user)
            .map_err(|()| ConfigError::Url("cannot have a user"))?;
        if !password.is_empty() {
            url.set_password(Some(password))
                .map_err(|()| ConfigError::Url("cannot have a password"))?;
        }
        url.path_segments_mut()
            .map_err(|()| ConfigError::Url("cannot have a path"))?
            .push(name);
        Self::from_url(url)
    }

    fn from_url(url: Url) -> Result<Self, ConfigError> {
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(ConfigError::Url(
                "the scheme must be postgres:// or postgresql://",
            ));
        }
        let decode = |text: &str| {
            percent_decode(text).ok_or(ConfigError::Url("it has an invalid percent-encoding"))
        };
        let user = decode(url.username())?;
        let name = decode(url.path().trim_start_matches('/'))?;
        Ok(Self {
            host: url.host_str().unwrap_or("localhost").to_owned(),
            port: url.port().unwrap_or(5432),
            // libpq's defaults: the user is `postgres` here, the database is the user's.
            name: if name.is_empty() { user.clone() } else { name },
            user,
            url: SecretString::from(url.to_string()),
        })
    }

    /// The same server and credentials, another database (used by tests, and to reach
    /// the `postgres` maintenance database when creating ours).
    pub fn with_database(&self, name: &str) -> Self {
        let mut url = match Url::parse(self.url.expose_secret()) {
            Ok(url) => url,
            Err(_) => return self.clone(),
        };
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.clear().push(name);
        }
        Self {
            url: SecretString::from(url.to_string()),
            name: name.to_owned(),
            ..self.clone()
        }
    }

    /// The full connection URL, password included. Hand it to a driver; never log it.
    pub fn url(&self) -> &SecretString {
        &self.url
    }

    /// The host name or address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }
}

/// `postgres://user@host:port/database`: everything but the password.
impl fmt::Display for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "postgres://{}@{}:{}/{}",
            self.user, self.host, self.port, self.name
        )
    }
}

fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

/// Quotes a PostgreSQL identifier (`"name"`, inner quotes doubled).
///
/// `CREATE DATABASE` cannot take its name as a bound parameter, so this is the one
/// place where an identifier is spliced into SQL text; quoting makes any name safe.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_swaps_only_the_name() {
        let db = DatabaseConfig::parse("postgres://ada:pw@h:1/one?sslmode=disable").unwrap();
        let other = db.with_database("two");
        assert_eq!(
            other.url().expose_secret(),
            "postgres://ada:pw@h:1/two?sslmode=disable"
        );
        assert_eq!(other.name(), "two");
    }

    #[test]
    fn one_default_database_for_every_program() {
        let pieces = DatabaseConfig::from_lookup(&|_: &str| None).unwrap();
        assert_eq!(pieces.url().expose_secret(), DEFAULT_DATABASE_URL);
        let named = DatabaseConfig::from_lookup(&|name: &str| {
            (name == "DB_NAME").then(|| "other".to_owned())
        })
        .unwrap();
        assert_eq!(
            named.url().expose_secret(),
            "postgres://postgres:postgres@localhost:5432/other"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("users_course"), "\"users_course\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }
}
