//! The statement timeout behind PgBouncer: API.md asks that it "must still hold" through
//! a pooler, though PgBouncer drops the start-up option every tier sends it in
//! (`-c statement_timeout=4000`; `ignore_startup_parameters = ...,options` only tells
//! PgBouncer to accept the option, not to pass it on).
//!
//! Without it, nothing on the server would end a statement stuck on a lock: the tier's
//! operation deadline (4.5 s, `users_api::deadline`) answers the client 503, but the
//! statement stays blocked on its server connection until the lock goes, holding that
//! connection (one of PgBouncer's few) all the while. tier-raw would cancel it at the
//! deadline with a cancel request; sqlx, under SeaORM too, has none.
//!
//! So [`statement_timeout_holds_behind_pgbouncer`] blocks a write on a table lock
//! taken directly on PostgreSQL and watches the blocked statement in
//! `pg_stat_activity`, on the server's clock: it must be ended by the server after
//! about 4 s of waiting, before the deadline could have done it. The tier finds the
//! timeout missing at start-up and sets it as its role's default in the database
//! (`users_api::pooler`); this case is the proof that it then holds on the server
//! connections PgBouncer lends.

use std::time::Duration;

use serde_json::json;
use users_api::UserStore;
use users_api::config::Config;
use users_api::pool::STATEMENT_TIMEOUT;

use crate::TestApp;

/// The longest a blocked statement may be seen waiting: the statement timeout plus
/// what a 20 ms poll on a busy machine adds, and under the operation deadline (4.5 s),
/// after which tier-raw's cancel request could have ended it instead.
const LONGEST_WAIT: Duration = Duration::from_millis(4_400);

/// How long the watcher looks: well past the deadline, so a statement still blocked
/// then (no timeout on the server) is seen waiting longer than [`LONGEST_WAIT`].
const WATCH_FOR: Duration = Duration::from_secs(7);

/// A write blocked on a lock behind PgBouncer is ended by the server's statement
/// timeout (its wait, on the server's clock, about 4 s) and answered 503.
pub async fn statement_timeout_holds_behind_pgbouncer<S, C>(connect: C)
where
    S: UserStore,
    C: AsyncFnOnce(&Config) -> anyhow::Result<S> + Copy,
{
    let app = TestApp::spawn(connect).await;
    let created = app.create_user("Ada", "ada@example.com").await;
    let user = created["id"].as_i64().expect("the created user's id");

    // Taken directly on PostgreSQL, not through PgBouncer: the lock the tier waits on.
    let locker = app.db.connect().await;
    locker
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock the table");
    let watcher = app.db.connect().await;
    let watch = async {
        // The longest wait seen, on the server's clock, and whether the wait ended.
        let mut longest = Duration::ZERO;
        let started = tokio::time::Instant::now();
        while started.elapsed() < WATCH_FOR {
            let row = watcher
                .query_one(
                    "SELECT count(*), coalesce(max(extract(epoch FROM \
                     clock_timestamp() - query_start)), 0)::float8 \
                     FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .expect("read pg_stat_activity");
            let waiting: i64 = row.get(0);
            if waiting > 0 {
                longest = longest.max(Duration::from_secs_f64(row.get(1)));
            } else if longest > Duration::ZERO {
                return (longest, true);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (longest, false)
    };
    let path = format!("/users/{user}");
    let body = json!({"name": "Blocked"});
    let rename = app.patch_json(&path, &body);
    let (answer, (longest, ended)) = tokio::join!(rename, watch);
    locker.batch_execute("ROLLBACK").await.expect("unlock");

    assert!(
        longest > Duration::ZERO,
        "no statement of the tier waited on the lock"
    );
    assert!(
        ended,
        "the blocked statement was still waiting {WATCH_FOR:?} later: no statement \
         timeout on PgBouncer's server connection"
    );
    assert!(
        longest <= LONGEST_WAIT,
        "the blocked statement waited {longest:?} (statement timeout {STATEMENT_TIMEOUT:?}, \
         at most {LONGEST_WAIT:?}): ended by the tier's deadline, not by the server"
    );
    answer.assert_problem(503);
    // The lock is gone: the same connections serve, and the cancelled write wrote nothing.
    let read = app.get(&format!("/users/{user}")).await;
    read.assert_status(200);
    assert_eq!(
        read.json()["name"],
        "Ada",
        "the cancelled rename was written"
    );
    println!(
        "FIGURE statement timeout behind PgBouncer: the blocked write waited {} ms on the \
         server, then was ended by it; answered 503",
        longest.as_millis()
    );
}
