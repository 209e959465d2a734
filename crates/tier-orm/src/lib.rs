//! tier-orm
