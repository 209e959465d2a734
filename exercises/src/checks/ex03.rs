//! Checks of exercise 03: the migration adds the column, and each tier stores and reads
//! it back, both with a nickname and without one (NULL).

use anyhow::{Context as _, ensure};
use testkit::TestDb;

use super::database;
use super::ex03_field::{MIGRATIONS, NewPerson, OrmStore, Person, RawStore, SqlxStore};

checks!(
    the_migration_adds_a_nullable_nickname,
    tier_raw_stores_the_nickname,
    tier_sqlx_stores_the_nickname,
    tier_orm_stores_the_nickname,
);

/// A fresh database with every step of `MIGRATIONS` applied, in order.
async fn migrated() -> anyhow::Result<TestDb> {
    let db = database::empty().await;
    let client = db.connect().await;
    for (number, step) in MIGRATIONS.iter().enumerate() {
        client
            .batch_execute(step)
            .await
            .with_context(|| format!("applying migration step {}", number + 1))?;
    }
    Ok(db)
}

/// The people each tier creates and reads back: one with a nickname, one without.
fn people() -> [NewPerson; 2] {
    [
        NewPerson {
            name: "Ada Lovelace".into(),
            nickname: Some("Countess".into()),
        },
        NewPerson {
            name: "Alan Turing".into(),
            nickname: None,
        },
    ]
}

/// What a tier's `create` and then `get` must have returned for `new`.
fn same(tier: &str, new: &NewPerson, created: &Person, got: Option<Person>) -> anyhow::Result<()> {
    ensure!(
        created.name == new.name && created.nickname == new.nickname,
        "{tier}: create returned {created:?} for a person created with name {:?} and \
         nickname {:?}",
        new.name,
        new.nickname
    );
    let got = got.with_context(|| format!("{tier}: get({}) found nobody", created.id))?;
    ensure!(
        &got == created,
        "{tier}: get({}) returned {got:?}, but create returned {created:?}",
        created.id
    );
    Ok(())
}

async fn the_migration_adds_a_nullable_nickname() -> anyhow::Result<()> {
    let db = migrated().await?;
    let client = db.connect().await;
    let column = client
        .query_opt(
            "SELECT data_type, is_nullable FROM information_schema.columns \
             WHERE table_name = 'people' AND column_name = 'nickname'",
            &[],
        )
        .await?
        .context("after MIGRATIONS, the people table has no nickname column")?;
    let (data_type, nullable): (String, String) = (column.try_get(0)?, column.try_get(1)?);
    ensure!(
        data_type == "text" && nullable == "YES",
        "people.nickname is {data_type} (nullable: {nullable}), not a nullable text"
    );
    Ok(())
}

async fn tier_raw_stores_the_nickname() -> anyhow::Result<()> {
    let db = migrated().await?;
    let store = RawStore::connect(&database::url(&db)).await?;
    for new in people() {
        let created = store.create(&new).await.context("tier-raw: create")?;
        let got = store.get(created.id).await.context("tier-raw: get")?;
        same("tier-raw", &new, &created, got)?;
    }
    Ok(())
}

async fn tier_sqlx_stores_the_nickname() -> anyhow::Result<()> {
    let db = migrated().await?;
    let store = SqlxStore::connect(&database::url(&db)).await?;
    for new in people() {
        let created = store.create(&new).await.context("tier-sqlx: create")?;
        let got = store.get(created.id).await.context("tier-sqlx: get")?;
        same("tier-sqlx", &new, &created, got)?;
    }
    Ok(())
}

async fn tier_orm_stores_the_nickname() -> anyhow::Result<()> {
    let db = migrated().await?;
    let store = OrmStore::connect(&database::url(&db)).await?;
    for new in people() {
        let created = store.create(&new).await.context("tier-orm: create")?;
        let got = store.get(created.id).await.context("tier-orm: get")?;
        same("tier-orm", &new, &created, got)?;
    }
    Ok(())
}
