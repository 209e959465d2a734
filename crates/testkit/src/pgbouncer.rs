//! A real PgBouncer in front of the test server: [`PgBouncer::start`] runs Debian's
//! `pgbouncer` (1.18) as a child process on a free port of 127.0.0.1, in transaction
//! pooling mode, and stops it when the value is dropped.
//!
//! Its configuration is the committed template `deploy/pgbouncer/pgbouncer.ini`, the
//! very file `docker compose --profile scale` runs, with a few lines rewritten by key
//! ([`render`]): where to listen, how clients authenticate (trust, with an auth file of
//! our own), the `*` entry's upstream (the test server) and the pool size. Everything
//! else (`pool_mode = transaction`, `ignore_startup_parameters =
//! extra_float_digits,options`, ...) is what production runs with.
//!
//! Things found by trying, that shape this file:
//! * PgBouncer refuses to run as root ("PgBouncer should not run as root"), and CI runs
//!   as root: as root it is started with `-u nobody`. It reads its files before it
//!   drops to that user, so they may stay private to root.
//! * A database that PgBouncer failed to log into is not tried again for
//!   `server_login_retry` (15 s): a client asking meanwhile waits that long. Each case
//!   here uses a database that exists before any client asks for it.
//! * PgBouncer cannot create databases: every test database is created directly on
//!   PostgreSQL ([`TestDb::create`](crate::TestDb::create)), and the `*` entry makes
//!   each reachable through the one PgBouncer.
//!
//! PgBouncer runs under a small `sh` that ends it when our end of its stdin closes, so
//! even a test binary that is killed leaves no PgBouncer behind.

use std::fs;
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use url::Url;
use users_api::config::{Config, DatabaseConfig};

use crate::admin_database;

/// The committed template (see `deploy/pgbouncer/pgbouncer.ini`'s own comments).
pub const TEMPLATE: &str = include_str!("../../../deploy/pgbouncer/pgbouncer.ini");

/// PgBouncer's server connections per database in the conformance runs: fewer than a
/// tier's pool of [`TEST_POOL_SIZE`](crate::TEST_POOL_SIZE), so that the tier's
/// connections really share server connections, transaction by transaction.
pub const CONFORMANCE_POOL_SIZE: usize = 2;

/// How long PgBouncer gets to listen once started.
const START_WITHIN: Duration = Duration::from_secs(10);

/// The shell around PgBouncer: it runs the command in its arguments with stdin
/// closed, ends it with SIGTERM (PgBouncer's fast shutdown) when its own stdin reaches
/// its end (we dropped our end, or died), and exits with PgBouncer's status. A
/// background job's stdin is /dev/null unless redirected, hence fd 3.
const SUPERVISOR: &str = r#"exec 3<&0
"$@" </dev/null 3<&- &
pid=$!
(read -r _ <&3; kill -TERM "$pid" 2>/dev/null) &
exec 3<&-
wait "$pid""#;

/// A PgBouncer process in front of the test server, stopped when dropped.
pub struct PgBouncer {
    port: u16,
    pool_size: usize,
    dir: PathBuf,
    child: Child,
    /// Our end of the supervisor's stdin: dropping it stops PgBouncer.
    stdin: Option<ChildStdin>,
}

impl PgBouncer {
    /// Starts PgBouncer on a free port with `pool_size` server connections per
    /// database (`default_pool_size`), in front of the server of `DATABASE_URL`, and
    /// waits until it accepts connections. Fails the test, saying how to install it,
    /// if `pgbouncer` is not installed.
    pub fn start(pool_size: usize) -> Self {
        let program = find_pgbouncer();
        // The port is free when we ask; PgBouncer binds it a moment later. Another
        // process may take it in between: then PgBouncer exits, and we try again.
        let mut last_log = String::new();
        for _ in 0..3 {
            match Self::try_start(&program, pool_size) {
                Ok(pgbouncer) => return pgbouncer,
                Err(log) => last_log = log,
            }
        }
        panic!("PgBouncer did not start:\n{last_log}");
    }

    fn try_start(program: &Path, pool_size: usize) -> Result<Self, String> {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "testkit-pgbouncer-{}",
            uuid::Uuid::new_v4().simple()
        ));
        fs::create_dir_all(&dir).expect("create PgBouncer's directory");
        let upstream = admin_database();
        let auth_file = dir.join("userlist.txt");
        fs::write(&auth_file, auth_line(&upstream)).expect("write PgBouncer's auth file");
        let ini = dir.join("pgbouncer.ini");
        let settings = Settings {
            port,
            auth_file: &auth_file,
            upstream_host: upstream.host(),
            upstream_port: upstream.port(),
            pool_size,
        };
        fs::write(&ini, render(TEMPLATE, &settings)).expect("write pgbouncer.ini");
        let log = fs::File::create(dir.join("pgbouncer.log")).expect("create PgBouncer's log");

        let mut command = Command::new("sh");
        command.args(["-c", SUPERVISOR, "sh"]).arg(program);
        if rustix::process::getuid().is_root() {
            command.args(["-u", "nobody"]);
        }
        command
            .arg(&ini)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("PgBouncer's log"))
            .stderr(log);
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("could not run sh for PgBouncer: {err}"));
        let stdin = child.stdin.take();
        let mut pgbouncer = Self {
            port,
            pool_size,
            dir,
            child,
            stdin,
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        while started.elapsed() < START_WITHIN {
            if let Ok(Some(_)) = pgbouncer.child.try_wait() {
                return Err(pgbouncer.log());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(pgbouncer);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "not listening on {addr} after {START_WITHIN:?}\n{}",
            pgbouncer.log()
        ))
    }

    /// The port PgBouncer listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its server connections per database (`default_pool_size`).
    pub fn pool_size(&self) -> usize {
        self.pool_size
    }

    /// What PgBouncer has logged so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = fs::File::open(self.dir.join("pgbouncer.log")) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// `database`, reached through this PgBouncer (same name, user and password).
    pub fn database_through(&self, database: &DatabaseConfig) -> DatabaseConfig {
        database_through(database, self.port)
    }

    /// `config` with its database reached through this PgBouncer, and
    /// `DB_PREPARED_STATEMENTS=false`, as API.md asks of a tier behind it.
    pub fn config_through(&self, config: &Config) -> Config {
        config_through(config, self.port)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // Closing the supervisor's stdin makes it SIGTERM PgBouncer, which exits at once.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `config` with its database reached through a PgBouncer on `port` of 127.0.0.1 and
/// prepared statements off. A plain function of a port (which is `Copy`), so a tier's
/// `connect` can be wrapped in a closure that is `Copy` too (the suite's runner needs it).
pub fn config_through(config: &Config, port: u16) -> Config {
    Config {
        database: database_through(&config.database, port),
        prepared_statements: false,
        ..config.clone()
    }
}

/// `database` with its host and port replaced by PgBouncer's.
pub fn database_through(database: &DatabaseConfig, port: u16) -> DatabaseConfig {
    let mut url = Url::parse(database.url().expose_secret()).expect("a valid database URL");
    url.set_host(Some("127.0.0.1")).expect("set the host");
    url.set_port(Some(port)).expect("set the port");
    DatabaseConfig::parse(url.as_str()).expect("the rewritten URL parses")
}

/// The lines of the template that the harness rewrites.
pub struct Settings<'a> {
    /// `listen_port`.
    pub port: u16,
    /// `auth_file`.
    pub auth_file: &'a Path,
    /// The `*` entry's `host`.
    pub upstream_host: &'a str,
    /// The `*` entry's `port`.
    pub upstream_port: u16,
    /// `default_pool_size`.
    pub pool_size: usize,
}

/// The template with its keyed lines rewritten for the tests; every other line as it
/// is. Fails if the template lost one of the keys (so a rewrite is never skipped).
pub fn render(template: &str, settings: &Settings<'_>) -> String {
    let replacements = [
        ("listen_addr", "127.0.0.1".to_owned()),
        ("listen_port", settings.port.to_string()),
        // The test server trusts 127.0.0.1; trust still needs the user in auth_file.
        ("auth_type", "trust".to_owned()),
        ("auth_file", settings.auth_file.display().to_string()),
        ("default_pool_size", settings.pool_size.to_string()),
        (
            "*",
            format!(
                "host={} port={}",
                settings.upstream_host, settings.upstream_port
            ),
        ),
    ];
    let mut found = [false; 6];
    let lines = template.lines().map(|line| {
        let key = line.split('=').next().unwrap_or("").trim();
        let at = (!line.trim_start().starts_with(';'))
            .then(|| replacements.iter().position(|(name, _)| *name == key))
            .flatten();
        match at {
            Some(at) => {
                found[at] = true;
                format!("{key} = {}", replacements[at].1)
            }
            None => line.to_owned(),
        }
    });
    let rendered = lines.collect::<Vec<_>>().join("\n") + "\n";
    for ((key, _), found) in replacements.iter().zip(found) {
        assert!(
            found,
            "deploy/pgbouncer/pgbouncer.ini has no `{key} =` line"
        );
    }
    rendered
}

/// The auth file's line for the test server's user. With `auth_type = trust` PgBouncer
/// checks only that the user is listed; the password is what it logs into PostgreSQL
/// with, if PostgreSQL asks for one (a `docker compose` server does).
fn auth_line(database: &DatabaseConfig) -> String {
    // The driver's parser decodes the URL's percent-escapes.
    let parsed: tokio_postgres::Config = database
        .url()
        .expose_secret()
        .parse()
        .expect("a valid database URL");
    let password = String::from_utf8_lossy(parsed.get_password().unwrap_or_default());
    let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    format!("{} {}\n", quote(database.user()), quote(&password))
}

/// A port of 127.0.0.1 that is free right now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port on 127.0.0.1")
}

/// The `pgbouncer` program: on `PATH`, or in the sbin directories Debian puts it in
/// (which a user's `PATH` may lack). Fails the test, saying how to install it.
fn find_pgbouncer() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("pgbouncer"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "\n\nThis test runs PgBouncer, and `pgbouncer` is not installed.\n\
                 Install it, then run the tests again:\n  \
                 apt-get install -y pgbouncer      (Debian/Ubuntu; .ci/run does this in CI)\n"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_rewrites_only_the_keyed_lines() {
        let settings = Settings {
            port: 6999,
            auth_file: Path::new("/tmp/x/userlist.txt"),
            upstream_host: "127.0.0.1",
            upstream_port: 5432,
            pool_size: 3,
        };
        let ini = render(TEMPLATE, &settings);
        for line in [
            "listen_addr = 127.0.0.1",
            "listen_port = 6999",
            "auth_type = trust",
            "auth_file = /tmp/x/userlist.txt",
            "default_pool_size = 3",
            "* = host=127.0.0.1 port=5432",
            // Kept from the template: what production runs with.
            "pool_mode = transaction",
            "ignore_startup_parameters = extra_float_digits,options",
        ] {
            assert_eq!(
                ini.lines().filter(|l| *l == line).count(),
                1,
                "{line:?} in\n{ini}"
            );
        }
        let settings: Vec<&str> = ini.lines().filter(|l| !l.starts_with(';')).collect();
        assert!(!settings.iter().any(|l| l.contains("host=db")), "{ini}");
        assert!(!settings.iter().any(|l| l.contains("scram")), "{ini}");
        assert_eq!(ini.lines().count(), TEMPLATE.lines().count());
    }

    #[test]
    fn the_auth_line_quotes_user_and_password() {
        let database = DatabaseConfig::parse("postgres://ada:p%40ss%22w@h:1/x").unwrap();
        assert_eq!(auth_line(&database), "\"ada\" \"p@ss\"\"w\"\n");
        let trusting = DatabaseConfig::parse("postgres://postgres@h:1/x").unwrap();
        assert_eq!(auth_line(&trusting), "\"postgres\" \"\"\n");
    }

    #[test]
    fn config_through_points_at_the_pooler_without_prepared_statements() {
        let database = DatabaseConfig::parse("postgres://ada:pw@db.example:5432/shop").unwrap();
        let through = database_through(&database, 6433);
        assert_eq!(
            through.to_string(),
            "postgres://ada@127.0.0.1:6433/shop",
            "password kept, not shown"
        );
        assert!(through.url().expose_secret().contains("ada:pw@"));
    }
}
