//! tier-raw
