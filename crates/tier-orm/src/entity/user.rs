//! The `users` table as a SeaORM entity.
//!
//! `DeriveEntityModel` reads the `Model` struct and generates the rest of the entity:
//! `Entity` (the table), `Column` (an enum with one variant per field: `Column::Email`),
//! `PrimaryKey`, and `ActiveModel` (the same fields, each wrapped in an `ActiveValue`
//! that remembers whether it was set, so an `UPDATE` sends only what changed).

use sea_orm::entity::prelude::*;

/// One row of `users`. The field names are the column names.
// ANCHOR: model
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
// ANCHOR_END: model

/// A user has many posts. This is the other end of `post::Relation::User`: the foreign
/// key lives in `posts`, so here the relation names only the entity; SeaORM finds the
/// columns from the `belongs_to` on the post's side.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `users.id` <- `posts.user_id`.
    #[sea_orm(has_many = "super::post::Entity")]
    Post,
}

/// "A user's posts" is `Relation::Post`: what `find_related(Post)` and
/// `load_many(Post, ..)` follow.
impl Related<super::post::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Post.def()
    }
}

/// Hooks around saving (`before_save`, `after_delete`, ...): none needed here.
impl ActiveModelBehavior for ActiveModel {}
