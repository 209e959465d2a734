//! The one schema, embedded from `migrations/` at compile time.
//!
//! `migrations/` is the single source of truth: plain SQL, one file per step, applied
//! in file-name order. tier-sqlx applies it with `sqlx::migrate!`, which records each
//! file in `_sqlx_migrations`; tier-raw and tier-orm run every file of [`MIGRATIONS`],
//! each in a transaction, at every start-up (the analog of SQLAlchemy's
//! `Base.metadata.create_all`).
//!
//! How the two ways coexist on one database: every file is idempotent (`IF NOT EXISTS`
//! everywhere) and takes the same advisory lock first. So running a file again, or
//! after sqlx recorded it, or before sqlx did (sqlx then runs it once more and records
//! it), changes nothing, and servers starting at the same moment take turns. The
//! three tiers can start against one database in any order. The one rule this puts on
//! a new migration: it must be idempotent too, and never edit a file that has run
//! (sqlx compares checksums and refuses to start).

/// One file of `migrations/`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The file name, e.g. `0001_create_users.sql`.
    pub name: &'static str,
    /// Its SQL, several statements, run as one simple query.
    pub sql: &'static str,
}

/// Every file of `migrations/`, in the order they apply. A unit test below fails when a
/// file there is missing from this list.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_create_users.sql",
        sql: include_str!("../../../migrations/0001_create_users.sql"),
    },
    Migration {
        name: "0002_create_posts.sql",
        sql: include_str!("../../../migrations/0002_create_posts.sql"),
    },
];

/// The table of users.
pub const USERS_TABLE: &str = "users";

/// The table of posts.
pub const POSTS_TABLE: &str = "posts";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(listed, files, "schema::MIGRATIONS and migrations/ differ");
        for migration in MIGRATIONS {
            let on_disk = std::fs::read_to_string(dir.join(migration.name)).unwrap();
            assert_eq!(migration.sql, on_disk, "{}", migration.name);
        }
    }
}
