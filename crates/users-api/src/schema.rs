//! The one schema, embedded from `migrations/` at compile time.
//!
//! `migrations/` is the single source of truth. tier-sqlx applies it with
//! `sqlx::migrate!`; tier-raw and tier-orm run [`SCHEMA_SQL`] in a transaction at
//! start-up (the analog of SQLAlchemy's `Base.metadata.create_all`). The SQL is
//! idempotent and serialises itself with an advisory lock, so all three tiers may
//! start against one database at the same moment.

/// The schema of the `users` table, as plain SQL.
pub const SCHEMA_SQL: &str = include_str!("../../../migrations/0001_create_users.sql");

/// The table every tier reads and writes.
pub const USERS_TABLE: &str = "users";
