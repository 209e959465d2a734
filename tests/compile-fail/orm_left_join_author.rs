// A LEFT JOIN's author read as if it were always there, with SeaORM:
// `find_also_related` builds `posts LEFT JOIN users`, so each post comes with an
// `Option<user::Model>`; asking for pairs with a `user::Model` does not compile
// (`find_both_related`, the INNER JOIN, is the one that yields both).

use sea_orm::{DatabaseConnection, DbErr, EntityTrait as _};
use tier_orm::entity::prelude::{Post, User};
use tier_orm::entity::{post, user};

async fn posts_with_authors(
    db: &DatabaseConnection,
) -> Result<Vec<(post::Model, user::Model)>, DbErr> {
    let rows: Vec<(post::Model, user::Model)> =
        Post::find().find_also_related(User).all(db).await?;
    Ok(rows)
}

fn main() {
    let _ = posts_with_authors;
}
