// A wrong Rust type with SeaORM: each field of the `ActiveModel` has the type of the
// `Model`'s field, so a number cannot be set where the name (a `String`) goes, and a
// `Model`'s field cannot be read as another type.

use sea_orm::ActiveValue::Set;
use tier_orm::entity::user;

fn new_user() -> user::ActiveModel {
    user::ActiveModel {
        name: Set(42),
        email: Set("ada@example.com".to_owned()),
        ..Default::default()
    }
}

fn name_length(model: user::Model) -> i32 {
    model.name
}

fn main() {
    let _ = (new_user, name_length);
}
