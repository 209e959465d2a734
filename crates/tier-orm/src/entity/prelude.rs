//! The entities under their table-like names, as `sea-orm-cli` generates them:
//! `User::find()` reads like the SQL it builds.

pub use super::post::Entity as Post;
pub use super::user::Entity as User;
