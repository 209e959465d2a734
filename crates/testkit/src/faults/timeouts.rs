//! Timeouts: nothing waits forever. A statement blocked inside PostgreSQL is cancelled
//! by the statement timeout (503 from the store), and a client that stalls in the
//! middle of its body is answered 408 (its fault, not the server's).

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::helpers::{REQUEST_TIMEOUT, assert_unavailable, id_of, millis, read_one_answer, timed};
use crate::TestApp;
use crate::conformance::all_users;
use users_api::error::PROBLEM_JSON;

/// `detail` of a 503 made by a store (as opposed to the request-timeout backstop).
const STORE_503_DETAIL: &str = "the database is unavailable; retry later";

/// Every statement a tier runs is bounded by a statement timeout. Proved from outside:
/// another session locks the `users` table, so the tier's next read and write block on
/// the lock inside PostgreSQL. Within about 4 s PostgreSQL cancels them (SQLSTATE
/// 57014), the tier answers 503 from its store (not the HTTP layer's 12 s backstop,
/// whose `detail` differs), and once the lock is gone the same connections serve again.
pub(super) async fn statement_timeout_cancels_a_blocked_query(app: &TestApp) {
    let user = id_of(&app.create_user("Ada", "ada@example.com").await);
    let locker = app.db.connect().await;
    locker
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock the table");
    let watcher = app.db.connect().await;
    let observe = async {
        // While the requests wait: the tier's statements are blocked on the lock.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let row = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("read pg_stat_activity");
        row.get::<_, i64>(0)
    };
    let body = json!({"name": "Blocked", "email": "blocked@example.com"});
    let path = format!("/users/{user}");
    let (read, write, blocked) = tokio::join!(
        timed(app, Method::GET, &path, None),
        timed(app, Method::POST, "/users", Some(&body)),
        observe
    );
    assert!(blocked >= 1, "no statement of the tier waited on the lock");
    for answer in [&read, &write] {
        assert_unavailable(&answer.response);
        assert_eq!(
            answer.response.json()["detail"],
            STORE_503_DETAIL,
            "{} {} was not cancelled by the database",
            answer.response.method,
            answer.response.path
        );
        assert!(
            answer.elapsed < REQUEST_TIMEOUT,
            "cancelled only after {:?}",
            answer.elapsed
        );
    }
    locker.batch_execute("ROLLBACK").await.expect("unlock");
    app.get(&format!("/users/{user}")).await.assert_status(200);
    assert!(
        all_users(app).await.len() == 1,
        "the cancelled insert left a row"
    );
    println!(
        "FIGURE statement_timeout: blocked read cancelled after {} ms, write after {} ms",
        millis(read.elapsed),
        millis(write.elapsed)
    );
}

/// A client that announces a body and then stalls, sending nothing more and not
/// hanging up: answered 408 problem+json once `BODY_READ_TIMEOUT` (10 s) has passed,
/// not 503 by the 12 s request timeout (a 5xx would blame the server and invite
/// retries).
pub(super) async fn stalled_body_is_408_not_5xx(app: &TestApp) {
    use tokio::io::AsyncWriteExt;

    let user = app.create_user("Ada", "ada@example.com").await;
    let id = user["id"].as_i64().expect("id");
    let stall = |head: String| async move {
        let mut stream = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        stream.write_all(head.as_bytes()).await.expect("send");
        let started = tokio::time::Instant::now();
        let answer = tokio::time::timeout(
            users_api::app::REQUEST_TIMEOUT + std::time::Duration::from_secs(5),
            read_one_answer(&mut stream),
        )
        .await
        .expect("an answer");
        (
            String::from_utf8_lossy(&answer).into_owned(),
            started.elapsed(),
        )
    };
    let json = "Content-Type: application/json\r\nContent-Length: 100";
    let (post, patch) = tokio::join!(
        stall(format!(
            "POST /users HTTP/1.1\r\nHost: x\r\n{json}\r\n\r\n{{\"name\""
        )),
        stall(format!(
            "PATCH /users/{id} HTTP/1.1\r\nHost: x\r\n{json}\r\n\r\n{{"
        )),
    );
    for (answer, elapsed) in [&post, &patch] {
        assert!(
            answer.starts_with("HTTP/1.1 408 "),
            "after {elapsed:?}:\n{answer}"
        );
        let lower = answer.to_ascii_lowercase();
        assert!(
            lower.contains(&format!("content-type: {PROBLEM_JSON}")),
            "{answer}"
        );
        assert!(answer.contains("\"status\":408"), "{answer}");
        assert!(
            *elapsed < users_api::app::REQUEST_TIMEOUT,
            "408 only after {elapsed:?}"
        );
    }
    println!(
        "FIGURE stalled body: 408 after {} ms (POST), {} ms (PATCH)",
        post.1.as_millis(),
        patch.1.as_millis()
    );
}
