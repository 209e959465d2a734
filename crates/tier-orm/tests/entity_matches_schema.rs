//! The entity in `src/entity/user.rs` describes the table that `migrations/` creates.
//!
//! The schema is written twice, once as SQL (the source of truth) and once as a SeaORM
//! entity, so the two can drift apart: a column renamed in one and not the other
//! compiles, and fails at run time. This test catches that. In a fresh database it lets
//! tier-orm apply the schema as it does at start-up, reads the `users` table back from
//! PostgreSQL's catalog (`information_schema`), and compares it, both ways, with the
//! columns the entity declares (`Column::iter()` and each column's `def()`): names,
//! SQL types, nullability, and the primary key.
//!
//! `cargo test -p tier-orm --test entity_matches_schema` (needs PostgreSQL: see the README).

// A panic is how a test reports a failed expectation, in the helpers below too.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;

use sea_orm::{
    ColumnTrait, ColumnType, ConnectOptions, Database, DatabaseConnection, DbBackend,
    FromQueryResult, IdenStatic, Iterable, PrimaryKeyToColumn, PrimaryKeyTrait, Statement,
};
use secrecy::ExposeSecret;
use tier_orm::entity::user;
use users_api::UserStore;
use users_api::schema::USERS_TABLE;

/// What we compare of one column: its SQL type as `information_schema` spells it, and
/// whether it may be NULL.
#[derive(Debug, PartialEq, Eq)]
struct ColumnShape {
    sql_type: String,
    nullable: bool,
}

/// One row of `information_schema.columns`.
#[derive(Debug, FromQueryResult)]
struct CatalogColumn {
    column_name: String,
    data_type: String,
    is_nullable: String,
    is_identity: String,
}

#[tokio::test]
async fn the_user_entity_matches_the_users_table() {
    let test_db = testkit::TestDb::create().await;
    // Apply the schema exactly as the tier does at start-up.
    let store = tier_orm::connect(test_db.config())
        .await
        .expect("tier-orm connects and applies the schema");
    store.close().await;

    let mut options = ConnectOptions::new(test_db.config().database.url().expose_secret());
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .expect("connect to the test database");

    // The table, as PostgreSQL describes it.
    let catalog = catalog_columns(&db).await;
    let table: BTreeMap<String, ColumnShape> = catalog
        .iter()
        .map(|column| {
            let shape = ColumnShape {
                sql_type: column.data_type.clone(),
                nullable: column.is_nullable == "YES",
            };
            (column.column_name.clone(), shape)
        })
        .collect();
    assert!(!table.is_empty(), "the schema created no `users` table");

    // The table, as the entity describes it.
    let entity: BTreeMap<String, ColumnShape> = user::Column::iter()
        .map(|column| {
            let def = column.def();
            let shape = ColumnShape {
                sql_type: sql_type(def.get_column_type()).to_owned(),
                nullable: def.is_null(),
            };
            (column.as_str().to_owned(), shape)
        })
        .collect();

    // One comparison covers both ways: a column only in the table, only in the entity,
    // or in both with another type or nullability, each shows in the failure's diff.
    assert_eq!(
        entity, table,
        "the entity (left) and the `users` table created by migrations/ (right) differ"
    );

    // The primary key: the same columns, and "auto-increment" in the entity exactly
    // when the database generates the value (an identity column).
    let entity_key: Vec<String> = user::PrimaryKey::iter()
        .map(|key| key.into_column().as_str().to_owned())
        .collect();
    let table_key = primary_key_columns(&db).await;
    assert_eq!(entity_key, table_key, "primary key columns differ");
    let identity: Vec<String> = catalog
        .iter()
        .filter(|column| column.is_identity == "YES")
        .map(|column| column.column_name.clone())
        .collect();
    let auto_increment = <user::PrimaryKey as PrimaryKeyTrait>::auto_increment();
    assert_eq!(
        auto_increment,
        identity == table_key,
        "the entity's primary key is auto-increment exactly when the table's is an identity \
         column (identity columns: {identity:?})"
    );

    db.close().await.expect("close the connection");
}

/// How `information_schema.columns.data_type` spells a SeaORM column type on
/// PostgreSQL. Only the types an entity of this workspace uses are listed: a new one
/// fails the test with a message saying what to add here.
fn sql_type(column_type: &ColumnType) -> &'static str {
    match column_type {
        ColumnType::SmallInteger => "smallint",
        ColumnType::Integer => "integer",
        ColumnType::BigInteger => "bigint",
        ColumnType::Boolean => "boolean",
        ColumnType::Text => "text",
        ColumnType::String(_) => "character varying",
        ColumnType::Timestamp | ColumnType::DateTime => "timestamp without time zone",
        ColumnType::TimestampWithTimeZone => "timestamp with time zone",
        ColumnType::Uuid => "uuid",
        other => panic!("teach sql_type() how PostgreSQL spells {other:?}"),
    }
}

/// Every column of `users` in the current schema, in table order.
async fn catalog_columns(db: &DatabaseConnection) -> Vec<CatalogColumn> {
    // information_schema's own column types are domains; `::text` makes them plain text.
    let sql = "SELECT column_name::text, data_type::text, is_nullable::text, \
               is_identity::text \
               FROM information_schema.columns \
               WHERE table_schema = current_schema() AND table_name = $1 \
               ORDER BY ordinal_position";
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, [USERS_TABLE.into()]);
    CatalogColumn::find_by_statement(statement)
        .all(db)
        .await
        .expect("read information_schema.columns")
}

/// The columns of the primary key of `users`, in key order.
async fn primary_key_columns(db: &DatabaseConnection) -> Vec<String> {
    #[derive(FromQueryResult)]
    struct KeyColumn {
        column_name: String,
    }
    let sql = "SELECT k.column_name::text \
               FROM information_schema.table_constraints c \
               JOIN information_schema.key_column_usage k \
                 ON k.constraint_schema = c.constraint_schema \
                AND k.constraint_name = c.constraint_name \
               WHERE c.table_schema = current_schema() AND c.table_name = $1 \
                 AND c.constraint_type = 'PRIMARY KEY' \
               ORDER BY k.ordinal_position";
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, [USERS_TABLE.into()]);
    KeyColumn::find_by_statement(statement)
        .all(db)
        .await
        .expect("read the primary key")
        .into_iter()
        .map(|key| key.column_name)
        .collect()
}
