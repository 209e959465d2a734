//! The SeaORM entities: the schema of `migrations/` described once more, in Rust.
//!
//! `sea-orm-cli generate entity` writes these files from a live database; ours are
//! written by hand in the same shape, because `migrations/` stays the single source of
//! truth and a generator would need a database to build. The price of describing the
//! schema twice is that the two can drift apart: `tests/entity_matches_schema.rs`
//! compares each entity with the table the migrations create, and fails if they differ.

pub mod post;
pub mod prelude;
pub mod user;
