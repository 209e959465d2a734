//! The tier under test, served: [`TestApp`] puts a tier's real router on a free port
//! of `127.0.0.1`, against a [`TestDb`] of its own, and talks HTTP to it as a client
//! would.
//!
//! A case sends requests and reads [`TestResponse`]s, never the tier's Rust API, so
//! the same case runs unchanged against every tier. The server runs on the case's own
//! runtime and stops when the `TestApp` is dropped; the database is dropped after it. [`TestApp::spawn_behind_proxy`] puts a
//! [`FaultProxy`] between the tier and PostgreSQL, for the fault suite.

use std::net::SocketAddr;
use std::sync::Once;

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use users_api::config::Config;
use users_api::{UserStore, router, serve};

use crate::proxy::FaultProxy;
use crate::{TestDb, TestResponse};

/// Installs a log subscriber for tests when `TEST_LOG` is set; quiet otherwise.
pub fn init_test_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            users_api::server::init_tracing();
        }
    });
}

/// A tier served on a free local port, with its own database.
pub struct TestApp {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// A client with keep-alive connections to the server.
    pub client: reqwest::Client,
    /// The test's database (dropped after the server stops).
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    /// Creates a database, connects the tier to it (`connect` is the tier's own
    /// `connect`, which applies the schema), and serves the tier's router.
    pub async fn spawn<S, F>(connect: F) -> Self
    where
        S: UserStore,
        F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
    {
        init_test_logging();
        let db = TestDb::create().await;
        let store = connect(db.config())
            .await
            .unwrap_or_else(|err| panic!("the tier could not connect to {}: {err:#}", db.name()));
        Self::serve(store, db).await
    }

    /// Like [`TestApp::spawn`], but the tier reaches its database through a new
    /// [`FaultProxy`], which the test then breaks on command.
    pub async fn spawn_behind_proxy<S, F>(connect: F) -> (Self, FaultProxy)
    where
        S: UserStore,
        F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
    {
        init_test_logging();
        let proxy = FaultProxy::in_front_of_test_server().await;
        let db = TestDb::create().await;
        let config = proxy.config_through(db.config());
        let store = connect(&config)
            .await
            .unwrap_or_else(|err| panic!("the tier could not connect to {}: {err:#}", db.name()));
        (Self::serve(store, db).await, proxy)
    }

    /// Like [`TestApp::spawn_behind_proxy`], with the proxy capturing every message the
    /// tier sends and the connection in plain text, so a test can read what went over
    /// the wire ([`FaultProxy::start_capturing`]).
    pub async fn spawn_capturing<S, F>(connect: F) -> (Self, FaultProxy)
    where
        S: UserStore,
        F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
    {
        init_test_logging();
        let proxy = FaultProxy::in_front_of_test_server().await;
        proxy.start_capturing();
        let db = TestDb::create().await;
        let store = connect(&proxy.plaintext_config(db.config()))
            .await
            .unwrap_or_else(|err| panic!("the tier could not connect: {err:#}"));
        (Self::serve(store, db).await, proxy)
    }

    /// Serves `store` (already connected to `db`) on a free port.
    pub async fn serve<S: UserStore>(store: S, db: TestDb) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let app = router(store.clone());
        tokio::spawn(async move {
            let _ = serve(listener, app, async {
                let _ = shutdown_rx.await;
            })
            .await;
            store.close().await;
        });
        Self {
            addr,
            base_url: format!("http://{addr}"),
            client: reqwest::Client::new(),
            db,
            shutdown: Some(shutdown),
        }
    }

    /// Sends a request with an optional raw body and content type.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> TestResponse {
        send_to(
            &self.client,
            &self.base_url,
            method,
            path,
            content_type,
            body,
        )
        .await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None, None).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> TestResponse {
        self.send(Method::DELETE, path, None, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> TestResponse {
        let bytes = serde_json::to_vec(body).expect("serialize");
        self.send(Method::POST, path, Some("application/json"), Some(bytes))
            .await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch_json(&self, path: &str, body: &Value) -> TestResponse {
        let bytes = serde_json::to_vec(body).expect("serialize");
        self.send(Method::PATCH, path, Some("application/json"), Some(bytes))
            .await
    }

    /// Creates a user and returns its JSON, failing the test unless the answer is 201.
    pub async fn create_user(&self, name: &str, email: &str) -> Value {
        let response = self
            .post_json("/users", &serde_json::json!({"name": name, "email": email}))
            .await;
        response.assert_status(201);
        response.json()
    }

    /// Writes a post by user `user_id` and returns its JSON, failing the test unless the
    /// answer is 201.
    pub async fn create_post(&self, user_id: i64, title: &str, body: &str) -> Value {
        let response = self
            .post_json(
                &format!("/users/{user_id}/posts"),
                &serde_json::json!({"title": title, "body": body}),
            )
            .await;
        response.assert_status(201);
        response.json()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Sends a request to the server at `base_url` (`http://ADDR`), with an optional raw
/// body and content type; fails the test if no response comes.
pub async fn send_to(
    client: &reqwest::Client,
    base_url: &str,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> TestResponse {
    let mut request = client.request(method.clone(), format!("{base_url}{path}"));
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|err| panic!("{method} {path}: no response: {err}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("response body").to_vec();
    TestResponse {
        method,
        path: path.to_owned(),
        status,
        headers,
        body,
    }
}
