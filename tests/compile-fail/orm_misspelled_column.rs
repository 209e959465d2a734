// A misspelled column with SeaORM: columns are the variants of the entity's `Column`
// enum, generated from the `Model` struct, so a name that is not a field does not exist.

use sea_orm::{ColumnTrait as _, DatabaseConnection, DbErr, EntityTrait as _, QueryFilter as _};
use tier_orm::entity::user;

async fn by_email(db: &DatabaseConnection) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Emial.eq("ada@example.com"))
        .one(db)
        .await
}

fn main() {
    let _ = by_email;
}
