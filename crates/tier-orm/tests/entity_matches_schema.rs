//! The entities in `src/entity/` describe the tables that `migrations/` creates.
//!
//! The schema is written twice, once as SQL (the source of truth) and once as SeaORM
//! entities, so the two can drift apart: a column renamed in one and not the other
//! compiles, and fails at run time. These tests catch that. In a fresh database each
//! lets tier-orm apply the migrations as it does at start-up, reads one table back from
//! PostgreSQL's catalog (`information_schema`, `pg_constraint`), and compares it, both
//! ways, with what its entity declares: the columns (`Column::iter()` and each column's
//! `def()`: names, SQL types, nullability), the primary key, and the relations
//! (`Relation::iter()`: each `belongs_to` is a foreign key of the table, each
//! `has_many` a foreign key of another table pointing at it, with the same columns and
//! the same `ON DELETE`).
//!
//! `cargo test -p tier-orm --test entity_matches_schema` (needs PostgreSQL: see the README).

// A panic is how a test reports a failed expectation, in the helpers below too.
#![allow(clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::sea_query::{ForeignKeyAction, TableRef};
use sea_orm::{
    ColumnTrait, ColumnType, ConnectOptions, Database, DatabaseConnection, DbBackend, EntityTrait,
    FromQueryResult, IdenStatic, Iterable, PrimaryKeyToColumn, PrimaryKeyTrait, RelationDef,
    RelationTrait, RelationType, Statement,
};
use secrecy::ExposeSecret;
use tier_orm::entity::{post, user};
use users_api::UserStore;
use users_api::schema::{POSTS_TABLE, USERS_TABLE};

#[tokio::test]
async fn the_user_entity_matches_the_users_table() {
    assert_entity_matches_table::<user::Entity>(USERS_TABLE).await;
}

#[tokio::test]
async fn the_post_entity_matches_the_posts_table() {
    assert_entity_matches_table::<post::Entity>(POSTS_TABLE).await;
}

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

/// One single-column foreign key, from the catalog or from an entity's relation:
/// `table.column` references `ref_table.ref_column`, and what deleting the referenced
/// row does (`pg_constraint.confdeltype`: `c` cascade, `a` no action, ...).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, FromQueryResult)]
struct ForeignKey {
    table_name: String,
    column_name: String,
    ref_table: String,
    ref_column: String,
    on_delete: String,
}

impl ForeignKey {
    /// Which column references which, without the `ON DELETE` action.
    fn columns(&self) -> (&str, &str, &str, &str) {
        (
            &self.table_name,
            &self.column_name,
            &self.ref_table,
            &self.ref_column,
        )
    }
}

/// Applies the migrations to a fresh database as tier-orm does at start-up, then
/// compares `E` with `table` in the catalog: columns, primary key, foreign keys.
async fn assert_entity_matches_table<E: EntityTrait + Default>(table: &str) {
    let test_db = testkit::TestDb::create().await;
    let store = tier_orm::connect(test_db.config())
        .await
        .expect("tier-orm connects and applies the migrations");
    store.close().await;

    let mut options = ConnectOptions::new(test_db.config().database.url().expose_secret());
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .expect("connect to the test database");

    // The table, as PostgreSQL describes it.
    let catalog = catalog_columns(&db, table).await;
    let table_columns: BTreeMap<String, ColumnShape> = catalog
        .iter()
        .map(|column| {
            let shape = ColumnShape {
                sql_type: column.data_type.clone(),
                nullable: column.is_nullable == "YES",
            };
            (column.column_name.clone(), shape)
        })
        .collect();
    assert!(
        !table_columns.is_empty(),
        "the migrations created no `{table}` table"
    );

    // The table, as the entity describes it.
    assert_eq!(
        E::default().table_name(),
        table,
        "the entity names another table"
    );
    let entity_columns: BTreeMap<String, ColumnShape> = E::Column::iter()
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
        entity_columns, table_columns,
        "the entity (left) and the `{table}` table created by migrations/ (right) differ"
    );

    // The primary key: the same columns, and "auto-increment" in the entity exactly
    // when the database generates the value (an identity column).
    let entity_key: Vec<String> = E::PrimaryKey::iter()
        .map(|key| key.into_column().as_str().to_owned())
        .collect();
    let table_key = primary_key_columns(&db, table).await;
    assert_eq!(
        entity_key, table_key,
        "primary key columns of `{table}` differ"
    );
    let identity: Vec<String> = catalog
        .iter()
        .filter(|column| column.is_identity == "YES")
        .map(|column| column.column_name.clone())
        .collect();
    let auto_increment = <E::PrimaryKey as PrimaryKeyTrait>::auto_increment();
    assert_eq!(
        auto_increment,
        identity == table_key,
        "the entity's primary key is auto-increment exactly when the table's is an identity \
         column (identity columns of `{table}`: {identity:?})"
    );

    // The relations: a `belongs_to` is a foreign key of this table, `ON DELETE`
    // included; a `has_many` is the same foreign key seen from the table it points at
    // (SeaORM derives it from the other side's `belongs_to` and keeps only the
    // columns). Both ways again: a foreign key the entity does not declare fails too
    // (the ORM could not join along it).
    let foreign_keys = catalog_foreign_keys(&db).await;
    let outgoing: BTreeSet<&ForeignKey> = foreign_keys
        .iter()
        .filter(|key| key.table_name == table)
        .collect();
    let incoming: BTreeSet<_> = foreign_keys
        .iter()
        .filter(|key| key.ref_table == table)
        .map(ForeignKey::columns)
        .collect();
    let belongs_to = relation_keys::<E>(Declared::BelongsTo);
    let has_many = relation_keys::<E>(Declared::HasMany);
    assert_eq!(
        belongs_to.iter().collect::<BTreeSet<_>>(),
        outgoing,
        "the entity's belongs_to relations (left) and the foreign keys of `{table}` (right) differ"
    );
    assert_eq!(
        has_many
            .iter()
            .map(ForeignKey::columns)
            .collect::<BTreeSet<_>>(),
        incoming,
        "the entity's has_many relations (left) and the foreign keys pointing at `{table}` \
         (right) differ"
    );

    db.close().await.expect("close the connection");
}

/// Which end of a foreign key an entity's relation declares.
#[derive(Debug, Clone, Copy)]
enum Declared {
    /// `#[sea_orm(belongs_to = ...)]`: the entity's table holds the foreign key.
    BelongsTo,
    /// `#[sea_orm(has_many = ...)]`: another table's foreign key points at this one.
    HasMany,
}

/// The foreign keys that `E`'s relations of one kind describe. SeaORM records a
/// `belongs_to` as `RelationType::HasOne` with `is_owner` false (the owner, in its
/// words, is the row pointed at, not the one holding the key; `has_one` is the same
/// type with `is_owner` true). A `has_many` is the reverse of the other entity's
/// `belongs_to`, so its `to` end is the referencing column, and it carries no
/// `on_delete` (which the caller ignores for it).
fn relation_keys<E: EntityTrait>(kind: Declared) -> Vec<ForeignKey> {
    E::Relation::iter()
        .map(|relation| relation.def())
        .filter(|def| match kind {
            Declared::BelongsTo => !def.is_owner && matches!(def.rel_type, RelationType::HasOne),
            Declared::HasMany => matches!(def.rel_type, RelationType::HasMany),
        })
        .map(|def| {
            let (table_name, column_name, ref_table, ref_column) = relation_ends(&def, kind);
            ForeignKey {
                table_name,
                column_name,
                ref_table,
                ref_column,
                on_delete: on_delete_code(def.on_delete.as_ref()).to_owned(),
            }
        })
        .collect()
}

/// `(table, column, referenced table, referenced column)` of a single-column relation.
fn relation_ends(def: &RelationDef, kind: Declared) -> (String, String, String, String) {
    let table_of = |table: &TableRef| match table {
        TableRef::Table(name, _) => name.1.to_string(),
        other => panic!("a relation to something other than a table: {other:?}"),
    };
    let column_of = |columns: &sea_orm::Identity| {
        let names: Vec<String> = columns.iter().map(ToString::to_string).collect();
        assert_eq!(
            names.len(),
            1,
            "teach this test composite foreign keys: {names:?}"
        );
        names.concat()
    };
    let from = (table_of(&def.from_tbl), column_of(&def.from_col));
    let to = (table_of(&def.to_tbl), column_of(&def.to_col));
    let ((table, column), (ref_table, ref_column)) = match kind {
        Declared::BelongsTo => (from, to),
        Declared::HasMany => (to, from),
    };
    (table, column, ref_table, ref_column)
}

/// `pg_constraint.confdeltype` for an entity's `on_delete`; not given means
/// PostgreSQL's default, NO ACTION.
fn on_delete_code(action: Option<&ForeignKeyAction>) -> &'static str {
    match action {
        None | Some(ForeignKeyAction::NoAction) => "a",
        Some(ForeignKeyAction::Restrict) => "r",
        Some(ForeignKeyAction::Cascade) => "c",
        Some(ForeignKeyAction::SetNull) => "n",
        Some(ForeignKeyAction::SetDefault) => "d",
        // `ForeignKeyAction` is `#[non_exhaustive]`: an action added by a later
        // sea-query fails here until it is taught.
        Some(other) => panic!("teach on_delete_code() about {other:?}"),
    }
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

/// Every column of `table` in the current schema, in table order.
async fn catalog_columns(db: &DatabaseConnection, table: &str) -> Vec<CatalogColumn> {
    // information_schema's own column types are domains; `::text` makes them plain text.
    let sql = "SELECT column_name::text, data_type::text, is_nullable::text, \
               is_identity::text \
               FROM information_schema.columns \
               WHERE table_schema = current_schema() AND table_name = $1 \
               ORDER BY ordinal_position";
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, [table.into()]);
    CatalogColumn::find_by_statement(statement)
        .all(db)
        .await
        .expect("read information_schema.columns")
}

/// The columns of the primary key of `table`, in key order.
async fn primary_key_columns(db: &DatabaseConnection, table: &str) -> Vec<String> {
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
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, [table.into()]);
    KeyColumn::find_by_statement(statement)
        .all(db)
        .await
        .expect("read the primary key")
        .into_iter()
        .map(|key| key.column_name)
        .collect()
}

/// Every foreign key of the current schema, one row per column pair. A composite key
/// gives several rows, which no single-column relation matches: the test then fails,
/// as it should, until it learns composite keys.
async fn catalog_foreign_keys(db: &DatabaseConnection) -> Vec<ForeignKey> {
    // `pg_constraint` rather than information_schema: it names the referenced table
    // and the ON DELETE action directly (`confdeltype`).
    let sql = "SELECT src.relname::text AS table_name, src_col.attname::text AS column_name, \
                      dst.relname::text AS ref_table, dst_col.attname::text AS ref_column, \
                      c.confdeltype::text AS on_delete \
               FROM pg_constraint c \
               JOIN pg_class src ON src.oid = c.conrelid \
               JOIN pg_class dst ON dst.oid = c.confrelid \
               JOIN pg_attribute src_col \
                 ON src_col.attrelid = c.conrelid AND src_col.attnum = ANY (c.conkey) \
               JOIN pg_attribute dst_col \
                 ON dst_col.attrelid = c.confrelid AND dst_col.attnum = ANY (c.confkey) \
               WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace";
    let statement = Statement::from_string(DbBackend::Postgres, sql);
    ForeignKey::find_by_statement(statement)
        .all(db)
        .await
        .expect("read pg_constraint")
}
