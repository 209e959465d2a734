//! The `users` table as a SeaORM entity.
//!
//! `DeriveEntityModel` reads the `Model` struct and generates the rest of the entity:
//! `Entity` (the table), `Column` (an enum with one variant per field: `Column::Email`),
//! `PrimaryKey`, and `ActiveModel` (the same fields, each wrapped in an `ActiveValue`
//! that remembers whether it was set, so an `UPDATE` sends only what changed).

use sea_orm::entity::prelude::*;

/// One row of `users`. The field names are the column names.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// `bigint GENERATED ALWAYS AS IDENTITY`: SeaORM treats an integer primary key as
    /// auto-increment, so an insert leaves it out and reads it back with `RETURNING`.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `text`. Without `column_type`, a `String` would mean `varchar`.
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// `text`; unique regardless of case through the index on `lower(email)`, which
    /// the entity does not describe (nothing in SeaORM reads it).
    #[sea_orm(column_type = "Text")]
    pub email: String,
    /// `timestamptz` with a database default: an insert leaves it out.
    pub created_at: DateTimeUtc,
}

/// `users` relates to no other table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

/// Hooks around saving (`before_save`, `after_delete`, ...): none needed here.
impl ActiveModelBehavior for ActiveModel {}
