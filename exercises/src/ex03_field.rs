//! # Exercise 03: a new column, through all three tiers
//!
//! Lecture: "Async databases: three tiers" (`crates/tier-*/src/store.rs`, and
//! `cargo run --example fetch_users_raw`, `..._sqlx`, `..._orm`).
//!
//! A small `people` table and one store per tier, as in the course's crates:
//! [`RawStore`] (tokio-postgres, rows mapped by hand), [`SqlxStore`] (sqlx's run-time
//! `query_as`, a row struct with `FromRow`) and [`OrmStore`] (SeaORM, the entity in
//! [`person`]). Product wants an optional nickname. [`Person`] and [`NewPerson`] already
//! have the field; nothing stores it yet. Add it everywhere:
//!
//! 1. the schema: a second migration step in [`MIGRATIONS`] that adds a nullable text
//!    column `nickname` to `people` (never edit a step that has already run somewhere);
//! 2. each store: write it in `create`, read it in `create` and `get`;
//! 3. the entity: a field for the column.
//!
//! Then count what you had to change per tier, and what the compiler told you about:
//! that is the "schema change" row of the lecture's comparison.
//!
//! Check: `cargo test -p exercises ex03`. Hints: `exercises/hints/ex03.md`.

use anyhow::Context as _;
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, EntityTrait as _};

/// The schema, one step per entry, applied in order to a fresh database (each tier
/// crate applies `migrations/` the same way at start-up).
pub const MIGRATIONS: &[&str] = &["CREATE TABLE people (
        id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text   NOT NULL
    )"];

/// A person, as every store returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Assigned by the database.
    pub id: i64,
    /// Their name.
    pub name: String,
    /// What their friends call them, if anything.
    pub nickname: Option<String>,
}

/// A person to create.
#[derive(Debug, Clone)]
pub struct NewPerson {
    /// Their name.
    pub name: String,
    /// What their friends call them, if anything.
    pub nickname: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Tier I: tokio-postgres. SQL by hand, columns read by name.

/// The people table through tokio-postgres.
pub struct RawStore {
    client: tokio_postgres::Client,
}

impl RawStore {
    /// Connects to `url` (one connection, driven by a task of its own).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        Ok(Self { client })
    }

    /// Inserts `new` and returns the stored person.
    pub async fn create(&self, new: &NewPerson) -> anyhow::Result<Person> {
        let row = self
            .client
            .query_one(
                "INSERT INTO people (name) VALUES ($1) RETURNING id, name",
                &[&new.name],
            )
            .await?;
        raw_person(&row)
    }

    /// The person with `id`, if there is one.
    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Person>> {
        let row = self
            .client
            .query_opt("SELECT id, name FROM people WHERE id = $1", &[&id])
            .await?;
        row.as_ref().map(raw_person).transpose()
    }
}

fn raw_person(row: &tokio_postgres::Row) -> anyhow::Result<Person> {
    Ok(Person {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        nickname: None, // not stored yet
    })
}

// ---------------------------------------------------------------------------------------
// Tier II: sqlx, with `query_as` checked at run time (the macros would need a database
// or a `.sqlx/` directory at compile time); `FromRow` maps the columns by name.

/// A row of `people`, as sqlx reads it.
#[derive(sqlx::FromRow)]
struct PersonRow {
    id: i64,
    name: String,
}

impl From<PersonRow> for Person {
    fn from(row: PersonRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            nickname: None, // not stored yet
        }
    }
}

/// The people table through sqlx.
pub struct SqlxStore {
    pool: sqlx::PgPool,
}

impl SqlxStore {
    /// Connects a pool of two connections to `url`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    /// Inserts `new` and returns the stored person.
    pub async fn create(&self, new: &NewPerson) -> anyhow::Result<Person> {
        let row: PersonRow =
            sqlx::query_as("INSERT INTO people (name) VALUES ($1) RETURNING id, name")
                .bind(&new.name)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.into())
    }

    /// The person with `id`, if there is one.
    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Person>> {
        let row: Option<PersonRow> = sqlx::query_as("SELECT id, name FROM people WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Person::from))
    }
}

// ---------------------------------------------------------------------------------------
// Tier III: SeaORM. No SQL: the entity describes the table.

/// The `people` table as a SeaORM entity.
pub mod person {
    use sea_orm::entity::prelude::*;

    /// A row of `people`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "people")]
    pub struct Model {
        /// Assigned by the database.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Their name.
        #[sea_orm(column_type = "Text")]
        pub name: String,
    }

    /// `people` has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

impl From<person::Model> for Person {
    fn from(model: person::Model) -> Self {
        Self {
            id: model.id,
            name: model.name,
            nickname: None, // not stored yet
        }
    }
}

/// The people table through SeaORM.
pub struct OrmStore {
    db: sea_orm::DatabaseConnection,
}

impl OrmStore {
    /// Connects a pool of two connections to `url`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let mut options = sea_orm::ConnectOptions::new(url);
        options.max_connections(2).sqlx_logging(false);
        let db = sea_orm::Database::connect(options).await?;
        Ok(Self { db })
    }

    /// Inserts `new` and returns the stored person.
    pub async fn create(&self, new: &NewPerson) -> anyhow::Result<Person> {
        let model = person::ActiveModel {
            name: Set(new.name.clone()),
            ..Default::default()
        };
        let stored = model.insert(&self.db).await.context("inserting a person")?;
        Ok(stored.into())
    }

    /// The person with `id`, if there is one.
    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Person>> {
        let model = person::Entity::find_by_id(id).one(&self.db).await?;
        Ok(model.map(Person::from))
    }
}
