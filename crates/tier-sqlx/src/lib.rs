//! tier-sqlx
