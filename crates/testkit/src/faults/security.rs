//! Security basics, checked against each tier:
//!
//! * the password of `DATABASE_URL` never appears in a log line or a response: not
//!   while serving with `LOG_SQL=true` and `RUST_LOG=debug`, not when the database
//!   goes away mid-flight, not when start-up fails (refused, unknown role, a URL that
//!   does not parse). The real binary runs as a process and all its output is read;
//! * values travel as bound parameters, never inside SQL text: a capturing
//!   [`FaultProxy`] reads the PostgreSQL protocol messages the tier sends, and the
//!   SQL-injection-shaped values of the test must appear in `Bind` messages and in no
//!   `Parse` or simple `Query` text; they round-trip verbatim and the table survives;
//! * the one identifier spliced into SQL (the database name in `CREATE DATABASE`,
//!   which cannot be a parameter) is quoted: a tier creates and serves a database
//!   whose name holds quotes, a semicolon and a comment marker.
//!
//! (The statement timeout is proved in [`super::timeouts`]: a query blocked on a lock
//! is cancelled by PostgreSQL itself.)

use std::time::Duration;

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use url::Url;
use users_api::UserStore;
use users_api::config::{Config, DatabaseConfig, quote_identifier};

use super::helpers::timed;
use crate::db::admin_client;
use crate::process::{TierBinary, TierProcess};
use crate::proxy::FaultProxy;
use crate::{TEST_POOL_SIZE, TestApp, TestDb, TestResponse, admin_database};

/// A password no log line could contain by accident.
const SECRET: &str = "hunter2-Sekr3t-4711";

/// `database`'s URL with `password` instead of its own.
fn with_password(database: &DatabaseConfig, password: &str) -> String {
    let mut url = Url::parse(database.url().expose_secret()).expect("a valid URL");
    url.set_password(Some(password)).expect("set the password");
    url.to_string()
}

/// Does the tests' server accept [`SECRET`] as the password (trust authentication, as
/// on the development and CI machines)? If not, the configured password is the
/// secret to look for, when it is distinctive enough to search for.
async fn usable_secret(database: &DatabaseConfig) -> Option<(String, String)> {
    let url = with_password(database, SECRET);
    if tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .is_ok()
    {
        return Some((SECRET.to_owned(), url));
    }
    let own = Url::parse(database.url().expose_secret())
        .ok()?
        .password()
        .map(str::to_owned)?;
    let shown = format!("{database}");
    (own.len() >= 6 && !shown.contains(&own))
        .then(|| (own, database.url().expose_secret().to_owned()))
}

fn assert_hidden(secret: &str, what: &str, text: &str) {
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    assert!(
        !text.contains(secret) && !text.contains(&encoded),
        "the database password appears in {what}:\n{text}"
    );
}

fn response_text(response: &TestResponse) -> String {
    format!("{:?}\n{}", response.headers, response.text())
}

/// The binary, serving with `LOG_SQL=true` and `RUST_LOG=debug`, through ordinary
/// requests, errors (400, 404, 409, 422), an outage (503s, connection errors in the
/// log), recovery and shutdown: the password is in no log line and no response.
pub(super) async fn password_never_logged_while_serving(binary: TierBinary) {
    let proxy = FaultProxy::in_front_of_test_server().await;
    let db = TestDb::create().await;
    let through = proxy.database_through(&db.config().database);
    let Some((secret, _)) = usable_secret(&db.config().database).await else {
        eprintln!(
            "note: the test server checks passwords and DATABASE_URL's is not distinctive; \
             only start-up failures are checked for the password (see the other test)"
        );
        return;
    };
    let url = with_password(&through, &secret);
    let mut server = TierProcess::spawn(
        binary,
        &[
            ("DATABASE_URL", &url),
            ("DB_POOL_SIZE", &TEST_POOL_SIZE.to_string()),
            ("LOG_SQL", "true"),
            ("RUST_LOG", "debug"),
        ],
    );
    let base_url = server.wait_listening(Duration::from_secs(20)).await;
    let client = reqwest::Client::new();
    let app = ServerClient {
        client: &client,
        base_url: &base_url,
    };

    let mut responses = Vec::new();
    let created = app
        .send(
            Method::POST,
            "/users",
            Some(json!({"name": "Ada", "email": "ada@example.com"})),
        )
        .await;
    created.assert_status(201);
    let id = created.json()["id"].as_i64().expect("id");
    for (method, path, body) in [
        (
            Method::POST,
            "/users".to_owned(),
            Some(json!({"name": "Ada", "email": "ADA@example.com"})),
        ),
        (
            Method::POST,
            "/users".to_owned(),
            Some(json!({"name": "", "email": "x"})),
        ),
        (Method::GET, "/users?limit=abc".to_owned(), None),
        (Method::GET, "/users".to_owned(), None),
        (Method::GET, format!("/users/{id}"), None),
        (Method::GET, "/users/999".to_owned(), None),
        (
            Method::PATCH,
            format!("/users/{id}"),
            Some(json!({"name": "Ada L."})),
        ),
        (Method::GET, "/health".to_owned(), None),
    ] {
        responses.push(app.send(method, &path, body).await);
    }
    responses.push(created);

    // The database goes away: requests fail, connection errors are logged.
    proxy.outage().await;
    for path in [
        "/health".to_owned(),
        format!("/users/{id}"),
        "/users".to_owned(),
    ] {
        let response = app.send(Method::GET, &path, None).await;
        response.assert_problem(503);
        responses.push(response);
    }
    proxy.restore().await;
    let healed = tokio::time::Instant::now();
    while app.send(Method::GET, "/health", None).await.status != 200 {
        assert!(
            healed.elapsed() < Duration::from_secs(10),
            "the server did not recover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    responses.push(
        app.send(Method::DELETE, &format!("/users/{id}"), None)
            .await,
    );

    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(15)).await;
    let output = server.output();
    assert!(status.success(), "exit {status}:\n{output}");
    for response in &responses {
        assert_hidden(&secret, "a response", &response_text(response));
    }
    assert_hidden(&secret, "the server's output", &output);
    // The test saw what it claims to have seen: SQL was logged, and so were the
    // connection errors of the outage.
    let lower = output.to_lowercase();
    assert!(
        lower.contains("insert into"),
        "LOG_SQL=true logged no SQL:\n{output}"
    );
    assert!(
        output.contains("database unavailable"),
        "the outage logged no error:\n{output}"
    );
    println!(
        "FIGURE logs: {} lines of output, no password",
        output.lines().count()
    );
}

/// Start-up against a database that refuses connections, with a role that does not
/// exist, and with a `DATABASE_URL` that does not parse: the server exits non-zero,
/// says why, and never shows the password.
pub(super) async fn password_never_logged_when_start_up_fails(binary: TierBinary) {
    let proxy = FaultProxy::in_front_of_test_server().await;
    proxy.refuse_new().await;
    let admin = admin_database();
    let refused = with_password(
        &proxy.database_through(&admin.with_database("postgres")),
        SECRET,
    );
    let mut unknown_role = Url::parse(&with_password(&admin, SECRET)).expect("URL");
    unknown_role
        .set_username(&format!("no_such_role_{}", uuid::Uuid::new_v4().simple()))
        .expect("set the user");
    let unparsable = format!("postgres://postgres:{SECRET}@[::1/users");
    let cases = [
        ("refused", refused, 1),
        ("unknown role", unknown_role.to_string(), 1),
        ("unparsable URL", unparsable, 2),
    ];
    let runs = cases.iter().map(|(what, url, code)| async move {
        let mut server = TierProcess::spawn(
            binary,
            &[
                ("DATABASE_URL", url.as_str()),
                ("LOG_SQL", "true"),
                ("RUST_LOG", "trace"),
            ],
        );
        let status = server.wait_exit(Duration::from_secs(20)).await;
        let output = server.output();
        assert_eq!(
            status.code(),
            Some(*code),
            "{what}: exit {status}:\n{output}"
        );
        assert_hidden(
            SECRET,
            &format!("the output of a failed start-up ({what})"),
            &output,
        );
        assert!(
            output.contains("could not connect") || output.contains("invalid configuration"),
            "{what}: the failure is not explained:\n{output}"
        );
    });
    futures::future::join_all(runs).await;
}

/// The binary at `RUST_LOG=trace` with `LOG_SQL=true` and a password in `DATABASE_URL`,
/// through creates, an update, posts, a batch, a 409, a post for a missing author (the
/// foreign key's 23503, a 404) and a 500 whose `DETAIL` quotes the row (a check
/// constraint the test adds): no personal data, no parameter value and no password is
/// in any line of its output (see `users_api::privacy`).
pub(super) async fn personal_data_never_logged_at_trace(binary: TierBinary) {
    let db = TestDb::create().await;
    let Some((secret, url)) = usable_secret(&db.config().database).await else {
        eprintln!("note: the test server checks passwords; see the other password tests");
        return;
    };
    let mut server = TierProcess::spawn(
        binary,
        &[
            ("DATABASE_URL", &url),
            ("LOG_SQL", "true"),
            ("RUST_LOG", "trace"),
        ],
    );
    let app = ServerClient {
        client: &reqwest::Client::new(),
        base_url: &server.wait_listening(Duration::from_secs(20)).await,
    };
    // Every value is distinctive, so finding it in the output cannot be a coincidence.
    let private = [
        "Zelda Qx7Private",
        "zelda.qx7@private.example",
        "Yorick Qx7Private",
        "yorick.qx7@private.example",
        "Xavier Qx7Batch",
        "xavier.qx7@batch.example",
        "Wanda Qx7Renamed",
        "Qx7 Title of a post",
        "Qx7 body of a post",
        "Qx7 orphan title",
        "Vera Qx7Refused",
        "vera.qx7@refused.example",
    ];
    let user = |i: usize| json!({"name": private[i], "email": private[i + 1]});
    let post = json!({"title": private[7], "body": private[8]});
    let created = app.send(Method::POST, "/users", Some(user(0))).await;
    created.assert_status(201);
    let id = created.json()["id"].as_i64().expect("id");
    // A check constraint that refuses one name: its 23514's DETAIL quotes the whole row.
    db.connect()
        .await
        .batch_execute(&format!(
            "ALTER TABLE users ADD CONSTRAINT qx7_refused CHECK (name <> '{}')",
            private[10]
        ))
        .await
        .expect("add the check constraint");
    for (method, path, body, status) in [
        (Method::POST, "/users".to_owned(), Some(user(2)), 201),
        (
            Method::POST,
            "/users/batch".to_owned(),
            Some(json!({"users": [user(4)]})),
            201,
        ),
        (Method::POST, "/users".to_owned(), Some(user(0)), 409),
        (
            Method::PATCH,
            format!("/users/{id}"),
            Some(json!({"name": private[6]})),
            200,
        ),
        (Method::POST, format!("/users/{id}/posts"), Some(post), 201),
        (Method::GET, "/posts".to_owned(), None, 200),
        (
            Method::POST,
            "/users/987654321/posts".to_owned(),
            Some(json!({"title": private[9], "body": ""})),
            404,
        ),
        (Method::POST, "/users".to_owned(), Some(user(10)), 500),
    ] {
        app.send(method, &path, body).await.assert_status(status);
    }
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(15)).await;
    let output = server.output();
    assert!(status.success(), "exit {status}:\n{output}");
    assert_hidden(&secret, "the server's output at RUST_LOG=trace", &output);
    for value in private {
        assert!(
            !output.contains(value),
            "{value:?} is in the log:\n{output}"
        );
    }
    // The test saw what it claims: debug lines (where the libraries print parameters;
    // some log nothing at trace), the SQL, and the 500 logged by its code.
    assert!(output.contains(" DEBUG "), "no debug line:\n{output}");
    assert!(
        output.to_lowercase().contains("insert into"),
        "no SQL:\n{output}"
    );
    assert!(
        output.contains("23514"),
        "the 500 was not logged by its code:\n{output}"
    );
    println!(
        "FIGURE trace logs: {} lines of output, no personal data, no password",
        output.lines().count()
    );
}

/// Talks to a tier running as a process.
struct ServerClient<'a> {
    client: &'a reqwest::Client,
    base_url: &'a str,
}

impl ServerClient<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base_url));
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap_or_else(|err| panic!("{method} {path}: no answer: {err}"));
        TestResponse {
            method,
            path: path.to_owned(),
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("body").to_vec(),
        }
    }
}

/// Finds `needle` in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Values shaped like SQL injection round-trip verbatim and leave the table intact,
/// and on the wire each travels in a `Bind` message (a parameter), never inside the
/// text of a `Parse` or a simple `Query` (the SQL).
pub(super) async fn values_travel_as_bound_parameters<S, F>(connect: F)
where
    S: UserStore,
    F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
{
    let (app, proxy) = TestApp::spawn_capturing(connect).await;

    let name = "Robert'); DROP TABLE users; -- x7q";
    let email = "o'hara'or'1'='1-x7q@example.com";
    let renamed = "'; UPDATE users SET name = 'pwned' WHERE ''=' x7q";
    let other = app.create_user("Bystander", "bystander@example.com").await;
    let created = app.create_user(name, email).await;
    assert_eq!(created["name"], name);
    assert_eq!(created["email"], email);
    let id = created["id"].as_i64().expect("id");
    let patched = timed(
        &app,
        Method::PATCH,
        &format!("/users/{id}"),
        Some(&json!({"name": renamed})),
    )
    .await;
    patched.response.assert_status(200);
    assert_eq!(patched.response.json()["name"], renamed);
    // A duplicate of the injection-shaped email, in other letter case: still just a 409.
    let duplicate = app
        .post_json(
            "/users",
            &json!({"name": "Twin", "email": email.to_uppercase()}),
        )
        .await;
    duplicate.assert_problem(409);
    let listed = app.get("/users").await;
    listed.assert_status(200);
    let users = listed.json();
    assert_eq!(users.as_array().map(Vec::len), Some(2), "{users}");
    assert_eq!(users[0], other, "the bystander changed");
    assert_eq!(users[1]["name"], renamed);
    assert_eq!(users[1]["email"], email);

    let messages = proxy.client_messages();
    let mut bound = [false; 3];
    for (kind, body) in &messages {
        for (index, value) in [name, email, renamed].iter().enumerate() {
            let found = contains(body, value.as_bytes());
            match kind {
                b'P' | b'Q' => assert!(
                    !found,
                    "{value:?} was sent inside SQL text ({}): {}",
                    char::from(*kind),
                    String::from_utf8_lossy(body)
                ),
                b'B' if found => bound[index] = true,
                _ => {}
            }
        }
    }
    assert!(
        messages.iter().any(|(kind, _)| *kind == b'P'),
        "no Parse message was captured: the capture saw no SQL at all"
    );
    assert_eq!(
        bound, [true; 3],
        "every value should travel in a Bind message (name, email, new name)"
    );
}

/// The tier creates its database when it is missing, with the name in SQL text
/// (`CREATE DATABASE` takes no parameters). A name with a quote, a double quote, a
/// semicolon and a comment marker is created exactly as named, and served.
pub(super) async fn database_name_is_quoted<S, F>(connect: F)
where
    S: UserStore,
    F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
{
    let unique = uuid::Uuid::new_v4().simple().to_string();
    // At most 63 bytes: PostgreSQL would silently cut a longer name.
    let name = format!("users_test_{} it's \"x\"; --", &unique[..12]);
    assert!(name.len() <= 63);
    // Not created here: the tier must create it. Dropped (quoted) at the end.
    let db = TestDb::not_yet_created(&name);
    let store = connect(db.config())
        .await
        .unwrap_or_else(|err| panic!("the tier could not create {name:?}: {err:#}"));
    let app = TestApp::serve(store, db).await;
    app.create_user("Quoted", "quoted@example.com").await;
    let admin = admin_client().await;
    let found = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .expect("read pg_database");
    assert_eq!(found.len(), 1, "no database named exactly {name:?}");
    // Sanity of the helper the tiers use for this.
    assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
}
