//! The statement timeout holds on a connection that did not get the start-up option, as
//! behind PgBouncer, which drops `-c statement_timeout=...` (`users_api::pooler`).
//!
//! A bare connection (no options: what a pooler hands the server) runs with the
//! database's default, no limit. `tier_raw::ensure_statement_timeout` on it must make
//! the tier's timeout the role's default in that database, and set it on that session:
//! the session and every connection opened after it have it. A tier connected directly
//! (the option arrives) changes nothing. The same check and statements, from
//! `users_api::pooler`, run in tier-sqlx and tier-orm over sqlx's `raw_sql`; those
//! tiers are checked for the "changes nothing" half here, and through a real PgBouncer
//! by `conformance_pgbouncer`.
//!
//! `cargo test -p testkit --test statement_timeout_behind_pooler` (needs PostgreSQL).

// Test code: a panic with a message is how a failed expectation is reported.
#![allow(clippy::expect_used)]

use testkit::TestDb;
use users_api::UserStore;

/// The session's `statement_timeout`, as `SHOW` prints it.
async fn shown(client: &tokio_postgres::Client) -> String {
    let row = client
        .query_one("SHOW statement_timeout", &[])
        .await
        .expect("SHOW statement_timeout");
    row.get(0)
}

/// How many per-role-and-database defaults the server keeps for `db`.
async fn role_defaults(db: &TestDb) -> i64 {
    let client = db.connect().await;
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase \
             WHERE d.datname = $1",
            &[&db.name()],
        )
        .await
        .expect("read pg_db_role_setting");
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_the_option_makes_it_the_role_default() {
    let db = TestDb::create().await;
    let bare = db.connect().await;
    assert_ne!(
        shown(&bare).await,
        "4s",
        "a connection without the start-up option already has 4 s: the test shows nothing"
    );
    tier_raw::ensure_statement_timeout(&bare, &db.config().database)
        .await
        .expect("ensure_statement_timeout on a bare connection");
    assert_eq!(shown(&bare).await, "4s", "the session it asked on");
    let later = db.connect().await;
    assert_eq!(shown(&later).await, "4s", "a connection opened after it");
    assert_eq!(
        role_defaults(&db).await,
        1,
        "one role default in this database"
    );
    // Once in force, checking again changes nothing.
    tier_raw::ensure_statement_timeout(&later, &db.config().database)
        .await
        .expect("ensure_statement_timeout again");
    assert_eq!(role_defaults(&db).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tier_connected_directly_changes_nothing() {
    let raw = TestDb::create().await;
    tier_raw::connect(raw.config())
        .await
        .expect("tier-raw connects")
        .close()
        .await;
    let sqlx = TestDb::create().await;
    tier_sqlx::connect(sqlx.config())
        .await
        .expect("tier-sqlx connects")
        .close()
        .await;
    let orm = TestDb::create().await;
    tier_orm::connect(orm.config())
        .await
        .expect("tier-orm connects")
        .close()
        .await;
    for db in [&raw, &sqlx, &orm] {
        assert_eq!(
            role_defaults(db).await,
            0,
            "{}: the start-up option was in force, yet a role default was set",
            db.name()
        );
    }
}
