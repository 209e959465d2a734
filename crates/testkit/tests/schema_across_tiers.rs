//! One schema: every tier, starting on a database, leaves exactly the same tables,
//! columns, constraints, indexes, sequences and triggers, and the three can start one
//! after another on one database, in any order.
//!
//! `migrations/` is the single source of truth, but each tier applies it in its own
//! idiom (tier-sqlx through `sqlx::migrate!`, which also records what it ran in
//! `_sqlx_migrations`; tier-raw and tier-orm by running every file at each start-up).
//! A tier that skipped a file, applied an old copy, or added something of its own
//! would still pass every HTTP test that does not happen to touch the difference.
//! This test reads what each tier left from PostgreSQL's catalog and compares:
//!
//! * tables of schema `public` (sqlx's `_sqlx_migrations` aside: it is sqlx's own
//!   bookkeeping, and only tier-sqlx writes it);
//! * columns with their types (`format_type`), nullability, defaults
//!   (`pg_get_expr`) and identity;
//! * constraints with their definitions (`pg_get_constraintdef`), indexes with
//!   theirs (`pg_get_indexdef`), sequences, and triggers that are not internal.
//!
//! First each tier on a fresh database of its own; then the three one after another
//! on one database, in two orders (raw, sqlx, orm and orm, sqlx, raw): each must start
//! on a schema another tier applied, serve it (a user and a post each, which every
//! other tier then reads), and leave the schema exactly as a tier alone does.
//!
//! `cargo test -p testkit --test schema_across_tiers` (needs PostgreSQL: see the README).

// Test code: a panic with a message is how a failed expectation is reported, in the
// helpers too (clippy.toml allows expect only inside #[test] functions).
#![allow(clippy::expect_used)]

use serde_json::json;
use testkit::TestDb;
use users_api::config::Config;
use users_api::{Page, UserStore, validate};

/// What the catalog says about schema `public`, one line per object, sorted: lines, so
/// that a failed comparison shows what differs.
#[derive(Debug, PartialEq, Eq)]
struct Schema {
    tables: Vec<String>,
    columns: Vec<String>,
    constraints: Vec<String>,
    indexes: Vec<String>,
    sequences: Vec<String>,
    triggers: Vec<String>,
}

impl Schema {
    /// What `self` has that `reference` lacks (`+`) and the reverse (`-`), by section:
    /// empty when the two are identical.
    fn differences(&self, reference: &Schema) -> Vec<String> {
        let sections = |schema: &Schema| {
            [
                ("table", schema.tables.clone()),
                ("column", schema.columns.clone()),
                ("constraint", schema.constraints.clone()),
                ("index", schema.indexes.clone()),
                ("sequence", schema.sequences.clone()),
                ("trigger", schema.triggers.clone()),
            ]
        };
        let mut differences = Vec::new();
        for ((what, mine), (_, theirs)) in sections(self).into_iter().zip(sections(reference)) {
            for line in mine.iter().filter(|line| !theirs.contains(line)) {
                differences.push(format!("+ {what} {line}"));
            }
            for line in theirs.iter().filter(|line| !mine.contains(line)) {
                differences.push(format!("- {what} {line}"));
            }
        }
        differences
    }
}

/// Fails the test unless `schema` is `reference`, listing what differs.
fn assert_same(schema: &Schema, reference: &Schema, what: &str) {
    let differences = schema.differences(reference);
    assert!(
        differences.is_empty() && schema == reference,
        "{what} (+ only there, - only in tier-raw's own):\n{}",
        differences.join("\n")
    );
}

/// The catalog queries, each giving one text column; `_sqlx_migrations` is left out.
const TABLES: &str = "
    SELECT c.relname::text
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND c.relname <> '_sqlx_migrations'
    ORDER BY 1";
const COLUMNS: &str = "
    SELECT concat_ws(' | ', c.relname, a.attnum::text, a.attname,
                     format_type(a.atttypid, a.atttypmod),
                     CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END,
                     'default ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-'),
                     'identity ' || a.attidentity::text, 'generated ' || a.attgenerated::text,
                     'collation ' || coalesce(nullif(a.attcollation, 0)::regcollation::text, '-'))
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0
      AND NOT a.attisdropped AND c.relname <> '_sqlx_migrations'
    ORDER BY c.relname, a.attnum";
const CONSTRAINTS: &str = "
    SELECT concat_ws(' | ', rel.relname, con.conname, con.contype::text,
                     pg_get_constraintdef(con.oid),
                     CASE WHEN con.condeferrable THEN 'deferrable' ELSE 'immediate' END)
    FROM pg_constraint con
    JOIN pg_class rel ON rel.oid = con.conrelid
    JOIN pg_namespace n ON n.oid = rel.relnamespace
    WHERE n.nspname = 'public' AND rel.relname <> '_sqlx_migrations'
    ORDER BY 1";
const INDEXES: &str = "
    SELECT concat_ws(' | ', tablename, indexname, indexdef)
    FROM pg_indexes
    WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'
    ORDER BY 1";
const SEQUENCES: &str = "
    SELECT concat_ws(' | ', sequencename, data_type::text, start_value::text,
                     increment_by::text, max_value::text, cycle::text)
    FROM pg_sequences
    WHERE schemaname = 'public'
    ORDER BY 1";
const TRIGGERS: &str = "
    SELECT concat_ws(' | ', c.relname, t.tgname, pg_get_triggerdef(t.oid))
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT t.tgisinternal AND c.relname <> '_sqlx_migrations'
    ORDER BY 1";

/// Reads the schema of `db` from the catalog.
async fn schema_of(db: &TestDb) -> Schema {
    let client = db.connect().await;
    let lines = |sql: &'static str| {
        let client = &client;
        async move {
            client
                .query(sql, &[])
                .await
                .unwrap_or_else(|err| panic!("catalog query failed: {err:?}\n{sql}"))
                .iter()
                .map(|row| row.get::<_, String>(0))
                .collect::<Vec<String>>()
        }
    };
    Schema {
        tables: lines(TABLES).await,
        columns: lines(COLUMNS).await,
        constraints: lines(CONSTRAINTS).await,
        indexes: lines(INDEXES).await,
        sequences: lines(SEQUENCES).await,
        triggers: lines(TRIGGERS).await,
    }
}

/// Starts a tier (its `connect`: connect and apply the schema) on `config`, failing the
/// test with the tier's error if it cannot.
async fn start<S, F>(tier: &str, connect: F, config: &Config) -> S
where
    S: UserStore,
    F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
{
    connect(config)
        .await
        .unwrap_or_else(|err| panic!("{tier} did not start: {err:#}"))
}

/// The schema a tier leaves on a fresh database of its own.
async fn alone<S, F>(tier: &str, connect: F) -> Schema
where
    S: UserStore,
    F: AsyncFnOnce(&Config) -> anyhow::Result<S>,
{
    let db = TestDb::create().await;
    let store = start(tier, connect, db.config()).await;
    store.close().await;
    schema_of(&db).await
}

/// Writes a user and a post through `store`, as a tier serving the database would.
async fn write_through<S: UserStore>(tier: &str, store: &S) {
    let user =
        validate::user_create(&json!({"name": tier, "email": format!("{tier}@example.com")}))
            .expect("a valid user");
    let user = store
        .create(&user)
        .await
        .unwrap_or_else(|err| panic!("{tier} could not write a user: {err}"));
    let post = validate::post_create(&json!({"title": format!("By {tier}"), "body": ""}))
        .expect("a valid post");
    let written = store
        .create_post(user.id, &post)
        .await
        .unwrap_or_else(|err| panic!("{tier} could not write a post: {err}"));
    assert!(written.is_some(), "{tier}: its own user is missing");
}

/// The titles of every post, read through `store`, with their authors.
async fn titles<S: UserStore>(tier: &str, store: &S) -> Vec<String> {
    let page = Page {
        after_id: 0,
        limit: 500,
    };
    store
        .list_posts(page)
        .await
        .unwrap_or_else(|err| panic!("{tier} could not list posts: {err}"))
        .into_iter()
        .map(|post| format!("{} by {}", post.post.title, post.author.name))
        .collect()
}

/// Starts the three tiers one after another on one database, in the order of their
/// names, all of them serving at once at the end; returns the schema left.
async fn one_after_another(order: [&str; 3]) -> Schema {
    let db = TestDb::create().await;
    let config = db.config();
    let mut raw = None;
    let mut sqlx = None;
    let mut orm = None;
    for tier in order {
        match tier {
            "tier-raw" => raw = Some(start(tier, tier_raw::connect, config).await),
            "tier-sqlx" => sqlx = Some(start(tier, tier_sqlx::connect, config).await),
            "tier-orm" => orm = Some(start(tier, tier_orm::connect, config).await),
            _ => unreachable!("no tier {tier}"),
        }
    }
    let raw = raw.expect("tier-raw started");
    let sqlx = sqlx.expect("tier-sqlx started");
    let orm = orm.expect("tier-orm started");
    write_through("tier-raw", &raw).await;
    write_through("tier-sqlx", &sqlx).await;
    write_through("tier-orm", &orm).await;
    let expected = [
        "By tier-raw by tier-raw",
        "By tier-sqlx by tier-sqlx",
        "By tier-orm by tier-orm",
    ];
    assert_eq!(titles("tier-raw", &raw).await, expected, "{order:?}");
    assert_eq!(titles("tier-sqlx", &sqlx).await, expected, "{order:?}");
    assert_eq!(titles("tier-orm", &orm).await, expected, "{order:?}");
    raw.close().await;
    sqlx.close().await;
    orm.close().await;
    schema_of(&db).await
}

/// The three tiers each leave the same schema, the one of `migrations/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tier_leaves_the_same_schema() {
    testkit::init_test_logging();
    let raw = alone("tier-raw", tier_raw::connect).await;
    assert_eq!(raw.tables, ["posts", "users"], "{raw:#?}");
    for (what, lines) in [
        ("columns", &raw.columns),
        ("constraints", &raw.constraints),
        ("indexes", &raw.indexes),
        ("sequences", &raw.sequences),
    ] {
        assert!(!lines.is_empty(), "the catalog shows no {what}: {raw:#?}");
    }
    assert!(
        raw.constraints
            .iter()
            .any(|line| line.contains("ON DELETE CASCADE")),
        "no cascading foreign key: {raw:#?}"
    );
    let sqlx = alone("tier-sqlx", tier_sqlx::connect).await;
    assert_same(&sqlx, &raw, "tier-sqlx's schema differs from tier-raw's");
    let orm = alone("tier-orm", tier_orm::connect).await;
    assert_same(&orm, &raw, "tier-orm's schema differs from tier-raw's");
}

/// The three tiers start one after another on one database, in either order, serve
/// it together, and leave the schema a tier alone leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiers_start_on_one_database_in_any_order() {
    testkit::init_test_logging();
    let reference = alone("tier-raw", tier_raw::connect).await;
    for order in [
        ["tier-raw", "tier-sqlx", "tier-orm"],
        ["tier-orm", "tier-sqlx", "tier-raw"],
    ] {
        let shared = one_after_another(order).await;
        let what = format!("the schema of the tiers started in the order {order:?} differs");
        assert_same(&shared, &reference, &what);
    }
}
