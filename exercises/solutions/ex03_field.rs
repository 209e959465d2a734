//! # Exercise 03, solved: a nullable column through three tiers
//!
//! The task is in `exercises/src/ex03_field.rs`. What had to change, per tier:
//!
//! * the schema: one new migration step (the first is never edited: it may have run);
//! * tier I (tokio-postgres): two SQL strings and the hand mapping. The compiler caught
//!   nothing: a forgotten column is a run-time error (`try_get("nickname")` on a row
//!   without it), or, as in the stub, silently `None`;
//! * tier II (sqlx, run-time `query_as`): two SQL strings and the row struct. A field
//!   in `PersonRow` that the SQL does not select fails at run time; with `query_as!`
//!   and `.sqlx/` it would fail at compile time;
//! * tier III (SeaORM): one entity field, one `Set` and the mapping. No SQL to edit; the
//!   compiler points at every `person::Model { .. }` written out in full.
//!
//! `Option<String>` is how every tier spells a nullable column: NULL reads as `None`.

use anyhow::Context as _;
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, EntityTrait as _};

/// The schema, one step per entry, applied in order to a fresh database (each tier
/// crate applies `migrations/` the same way at start-up).
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE people (
        id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text   NOT NULL
    )",
    // A new step, never an edit of the first: a database that already ran it would
    // not run it again. Nullable, so existing rows need no value.
    "ALTER TABLE people ADD COLUMN nickname text",
];

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
                "INSERT INTO people (name, nickname) VALUES ($1, $2) \
                 RETURNING id, name, nickname",
                &[&new.name, &new.nickname],
            )
            .await?;
        raw_person(&row)
    }

    /// The person with `id`, if there is one.
    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Person>> {
        let row = self
            .client
            .query_opt(
                "SELECT id, name, nickname FROM people WHERE id = $1",
                &[&id],
            )
            .await?;
        row.as_ref().map(raw_person).transpose()
    }
}

fn raw_person(row: &tokio_postgres::Row) -> anyhow::Result<Person> {
    Ok(Person {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        // tokio-postgres reads a NULL as `None` when asked for an `Option`.
        nickname: row.try_get("nickname")?,
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
    nickname: Option<String>,
}

impl From<PersonRow> for Person {
    fn from(row: PersonRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            nickname: row.nickname,
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
        let row: PersonRow = sqlx::query_as(
            "INSERT INTO people (name, nickname) VALUES ($1, $2) RETURNING id, name, nickname",
        )
        .bind(&new.name)
        .bind(&new.nickname)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.into())
    }

    /// The person with `id`, if there is one.
    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Person>> {
        let row: Option<PersonRow> =
            sqlx::query_as("SELECT id, name, nickname FROM people WHERE id = $1")
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
        /// What their friends call them: `Option`, so the column is nullable.
        #[sea_orm(column_type = "Text", nullable)]
        pub nickname: Option<String>,
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
            nickname: model.nickname,
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
            nickname: Set(new.nickname.clone()),
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
