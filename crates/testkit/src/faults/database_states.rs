//! Database states: a server that answers, but refuses the work. API.md: a database
//! that is read only (SQLSTATE 25006) or out of connections (53300) is a 503 with
//! `Retry-After`, never a 500, and the tier recovers by itself when the state ends.
//!
//! * Read only: what a standby serves after a failover behind one address, or a primary
//!   an operator set read only (`default_transaction_read_only`). Reads are 200, every
//!   write a 503.
//! * Out of connections: other clients hold every slot PostgreSQL allows, so the tier
//!   cannot open one. The tests run in parallel on one server, so the case does not
//!   use up the server's `max_connections` (that would fail every other test): the tier
//!   connects as a role of its own with a `CONNECTION LIMIT`, and the test holds the
//!   role's slots. PostgreSQL answers the tier's next connect as it would at
//!   `max_connections`: 53300, "too many connections".
//!
//! (Disk full, 53100, cannot be caused on a shared test server; it takes the same path,
//! `users_api::sqlstate::is_transient`, whose unit test lists it.)

use std::time::Duration;

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::json;
use tokio::time::Instant;
use url::Url;
use users_api::UserStore;
use users_api::config::{Config, DatabaseConfig, quote_identifier};

use super::helpers::{
    CONTRACT_BOUND, SLACK, all_at_once, every_endpoint, every_endpoint_answers_normally, id_of,
    millis, slowest_503, terminate_tier_connections, timed, until_status,
};
use crate::db::admin_client;
use crate::{TestApp, TestDb, admin_database};

/// How long the tier sits idle after its connections are terminated: longer than the
/// idle time after which the sqlx tiers check a connection before lending it (1 s), so
/// no request below meets a connection that died with the state change (that case is
/// `healing`'s).
const QUIET: Duration = Duration::from_secs(2);

/// The database turns read only, and the tier's sessions are ended so that its new ones
/// see it (a failover to a standby, in short): reads and `/health` stay 200, every write
/// is a 503 with `Retry-After` in time. Back to read-write, writes succeed again.
pub(super) async fn read_only_database_refuses_writes_with_503(app: &TestApp) {
    let existing = id_of(&app.create_user("Ada", "ada@example.com").await);
    let doomed = id_of(&app.create_user("Doomed", "doomed@example.com").await);
    // Opened before the change, so not itself read only; and left out of the kills.
    let on_test_db = app.db.connect().await;
    let admin = admin_client().await;
    let name = quote_identifier(app.db.name());
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = on"
        ))
        .await
        .expect("make the database read only");
    terminate_tier_connections(&on_test_db).await;
    tokio::time::sleep(QUIET).await;

    let requests = every_endpoint(existing, doomed, "readonly");
    let answers = all_at_once(app, &requests).await;
    let mut writes = Vec::new();
    for (answer, (method, path, _, healthy)) in answers.into_iter().zip(&requests) {
        if *method == Method::GET {
            assert_eq!(answer.response.status, *healthy, "GET {path}: {answer:?}");
        } else {
            writes.push(answer);
        }
    }
    // The writes that `every_endpoint` leaves out: a batch, and a post.
    for (path, body) in [
        (
            "/users/batch".to_owned(),
            json!({"users": [{"name": "B", "email": "b@example.com"}]}),
        ),
        (
            format!("/users/{existing}/posts"),
            json!({"title": "T", "body": "B"}),
        ),
    ] {
        writes.push(timed(app, Method::POST, &path, Some(&body)).await);
    }
    let slowest = slowest_503(&writes, CONTRACT_BOUND + SLACK, "a read-only database");

    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} RESET default_transaction_read_only"
        ))
        .await
        .expect("make the database writable again");
    terminate_tier_connections(&on_test_db).await;
    tokio::time::sleep(QUIET).await;
    every_endpoint_answers_normally(app, existing, doomed).await;
    println!(
        "FIGURE read_only: {} writes answered 503 (slowest {} ms), reads 200; writes 2xx after the reset",
        writes.len(),
        millis(slowest)
    );
}

/// Slots the test holds while the tier is out of connections.
const HELD_SLOTS: i32 = 2;

/// Other clients hold every connection the tier's role may open, and the tier's own
/// sessions are ended: every request, `/health` included, is a 503 with `Retry-After`
/// within the contract's 5 s (plus slack). The slots are released: the tier recovers by
/// itself.
pub(super) async fn out_of_connections_answers_503_then_recovers<S, F>(connect: F)
where
    S: UserStore,
    F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
{
    let admin = admin_client().await;
    // Declared before the database, so dropped after it: the role owns the database.
    let role = TestRole::create(&admin).await;
    let db = TestDb::create().await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} OWNER TO {}",
            quote_identifier(db.name()),
            quote_identifier(&role.name)
        ))
        .await
        .expect("give the database to the role");
    let mut config = db.config().clone();
    config.database = role.login(&config.database);
    let store = connect(&config)
        .await
        .unwrap_or_else(|err| panic!("the tier could not connect as a role: {err:#}"));
    let app = TestApp::serve(store, db).await;
    let existing = id_of(&app.create_user("Ada", "ada@example.com").await);
    let doomed = id_of(&app.create_user("Doomed", "doomed@example.com").await);

    // The limit applies to new connections: end the tier's, then take every slot.
    admin
        .batch_execute(&format!(
            "ALTER ROLE {} CONNECTION LIMIT {HELD_SLOTS}",
            quote_identifier(&role.name)
        ))
        .await
        .expect("limit the role's connections");
    terminate_tier_connections(&app.db.connect().await).await;
    role.until_no_session(&admin).await;
    let mut held = Vec::new();
    for _ in 0..HELD_SLOTS {
        held.push(connect_as(&config.database).await.expect("hold a slot"));
    }
    let refused = connect_as(&config.database).await.err();
    assert_eq!(
        refused
            .as_ref()
            .and_then(|err| err.code())
            .map(|code| code.code()),
        Some("53300"),
        "the role's limit does not hold: {refused:?}"
    );
    tokio::time::sleep(QUIET).await;

    let answers = all_at_once(&app, &every_endpoint(existing, doomed, "full")).await;
    let slowest = slowest_503(&answers, CONTRACT_BOUND + SLACK, "no connection to be had");
    // The other clients leave: their slots are free, and the limit, which stands in for
    // the server's `max_connections`, no longer caps the tier's pool below its size.
    drop(held);
    admin
        .batch_execute(&format!(
            "ALTER ROLE {} CONNECTION LIMIT -1",
            quote_identifier(&role.name)
        ))
        .await
        .expect("lift the role's limit");
    let healed = until_status(&app, "/health", 200, CONTRACT_BOUND + SLACK).await;
    every_endpoint_answers_normally(&app, existing, doomed).await;
    println!(
        "FIGURE too_many_connections: {} requests answered 503, slowest {} ms; /health 200 {} ms after the slots were released",
        answers.len(),
        millis(slowest),
        millis(healed)
    );
}

/// Opens a connection to `database` (its connection task on a task of its own).
async fn connect_as(
    database: &DatabaseConfig,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) =
        tokio_postgres::connect(database.url().expose_secret(), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// A login role of the test's own (not a superuser: PostgreSQL exempts superusers from
/// connection limits), dropped with this value, after the database it owns.
struct TestRole {
    name: String,
}

impl TestRole {
    async fn create(admin: &tokio_postgres::Client) -> Self {
        let name = format!("users_test_role_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE ROLE {} LOGIN", quote_identifier(&name)))
            .await
            .expect("create a role");
        Self { name }
    }

    /// `database` as this role (the test server trusts local connections: no password).
    fn login(&self, database: &DatabaseConfig) -> DatabaseConfig {
        let mut url = Url::parse(database.url().expose_secret()).expect("a valid URL");
        url.set_username(&self.name).expect("set the user");
        url.set_password(None).expect("clear the password");
        DatabaseConfig::parse(url.as_str()).expect("the role's URL")
    }

    /// Waits until no session of this role is left (terminated backends go away
    /// asynchronously, and would count against the limit).
    async fn until_no_session(&self, admin: &tokio_postgres::Client) {
        let started = Instant::now();
        loop {
            let row = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
                    &[&self.name],
                )
                .await
                .expect("count the role's sessions");
            if row.get::<_, i64>(0) == 0 {
                return;
            }
            assert!(
                started.elapsed() < CONTRACT_BOUND,
                "the role's sessions did not end"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestRole {
    /// Drops the role, on a thread of its own as [`TestDb`]'s `Drop` does.
    fn drop(&mut self) {
        let sql = format!("DROP ROLE IF EXISTS {}", quote_identifier(&self.name));
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let admin = admin_database();
                let (client, connection) =
                    tokio_postgres::connect(admin.url().expose_secret(), tokio_postgres::NoTls)
                        .await
                        .map_err(std::io::Error::other)?;
                tokio::spawn(connection);
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(std::io::Error::other)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop role {}: {dropped:?}", self.name);
        }
    }
}
