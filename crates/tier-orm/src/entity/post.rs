//! The `posts` table as a SeaORM entity, and its relation to `users`.
//!
//! The same shape as `user.rs`, plus what makes an ORM an ORM: a `Relation`. The
//! `belongs_to` below tells SeaORM that `posts.user_id` points at `users.id`, and the
//! `Related` impl lets a query name the other entity instead of spelling a join:
//! `Post::find().find_both_related(User)` builds `posts INNER JOIN users ON
//! posts.user_id = users.id` from it. The database's foreign key
//! (`posts_user_id_fkey`, ON DELETE CASCADE) is what enforces the relation; this
//! describes it to the ORM, which reads it only to build joins.

use sea_orm::entity::prelude::*;

/// One row of `posts`. The field names are the column names.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "posts")]
pub struct Model {
    /// `bigint GENERATED ALWAYS AS IDENTITY`: left out of an insert, read back with
    /// `RETURNING`, as for `users`.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `bigint NOT NULL`, the author: a foreign key to `users.id` (see `Relation`).
    pub user_id: i64,
    /// `text`, trimmed by the API; the database checks 1 to 200 characters.
    #[sea_orm(column_type = "Text")]
    pub title: String,
    /// `text`, stored exactly as sent; the database checks at most 4,000 characters.
    #[sea_orm(column_type = "Text")]
    pub body: String,
    /// `timestamptz` with a database default: an insert leaves it out.
    pub created_at: DateTimeUtc,
}

/// A post belongs to one user, its author.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `posts.user_id` -> `users.id`. `on_delete` repeats the schema's `ON DELETE
    /// CASCADE` for a reader; SeaORM uses it only when it creates tables itself, which
    /// we never ask it to do (`migrations/` creates them).
    // ANCHOR: relation
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
    // ANCHOR_END: relation
}

/// "A post's user" is `Relation::User`: what `find_both_related(User)`,
/// `find_related(User)` and the loaders follow.
impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

/// Hooks around saving (`before_save`, `after_delete`, ...): none needed here.
impl ActiveModelBehavior for ActiveModel {}
