//! The workloads: which kind of traffic a measured run sends.
//!
//! A workload is one of the two halves of a result's key (the other is the tier's
//! label, [`crate::cli::TierLabel`]), so it lives in a module of its own that the
//! command line, the load generator, the rounds and the report all share. Its name
//! (`get`, `list-first`, ...) is the same on the command line, in the report's tables
//! and in `report.json`.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// How many users one request of the `batch` workload writes.
pub const BATCH_USERS: usize = 100;

/// One kind of traffic. Each request of a workload is one HTTP request. All but
/// `export` are closed-loop request rates ([`Workload::request_rate`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// `GET /users/{id}`, a random existing id.
    Get,
    /// `GET /users?limit=50&after_id=A`, a random `A` (always a full page).
    List,
    /// `POST /users` with a unique email.
    Create,
    /// `PATCH /users/{id}` renaming a random existing user.
    Update,
    /// 90 % `get`, 10 % `create`.
    Mixed,
    /// `GET /users?limit=50` (the first page), to compare with `list-last`.
    ListFirst,
    /// `GET /users?limit=50&after_id=ROWS-50` (the last full page): keyset pagination
    /// should make it cost what the first page costs, even at a million rows.
    ListLast,
    /// `GET /posts?limit=50&after_id=A`, a random `A` (always a full page), each post
    /// with its author embedded: `list` with a join, to compare with `list`.
    Posts,
    /// `GET /users/{id}/posts?limit=50`, a random existing user: one user's posts
    /// (all of them, `--posts-per-user`, when that is under 50).
    UserPosts,
    /// `POST /users/batch` with [`BATCH_USERS`] users with unique emails: one
    /// transaction, one INSERT. Compared with `create` by users written per second.
    Batch,
    /// `GET /users/export`: every user, one line of JSON each, streamed. Not a request
    /// rate: a whole export per tier and round, read as fast as the client can, its
    /// lines counted and the tier's resident memory sampled ([`crate::export`]).
    Export,
}

impl Workload {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Create => "create",
            Self::Update => "update",
            Self::Mixed => "mixed",
            Self::ListFirst => "list-first",
            Self::ListLast => "list-last",
            Self::Posts => "posts",
            Self::UserPosts => "user-posts",
            Self::Batch => "batch",
            Self::Export => "export",
        }
    }

    /// The workloads it is made of (itself, except `mixed`), so that a warm-up can
    /// prepare every statement it will use.
    pub fn parts(self) -> Vec<Workload> {
        match self {
            Self::Mixed => vec![Self::Get, Self::Create],
            other => vec![other],
        }
    }

    /// Whether it adds or changes rows (the bench database is tidied after it).
    pub fn writes(self) -> bool {
        matches!(
            self,
            Self::Create | Self::Update | Self::Mixed | Self::Batch
        )
    }

    /// Whether it is measured as a request rate (closed loop, a timed window,
    /// latencies): every workload but `export`, which is timed export by export.
    pub fn request_rate(self) -> bool {
        self != Self::Export
    }

    /// Users one successful request writes: what turns `batch`'s requests/s into the
    /// users/s that compare with `create`'s.
    pub fn users_written(self) -> usize {
        match self {
            Self::Create => 1,
            Self::Batch => BATCH_USERS,
            _ => 0,
        }
    }
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `report.json` spells a workload the way the command line and the tables do.
    #[test]
    fn one_name_on_the_command_line_in_the_tables_and_in_json() {
        for workload in Workload::value_variants() {
            let json = serde_json::to_value(workload).unwrap();
            assert_eq!(json, workload.name());
            let parsed = Workload::from_str(workload.name(), false).unwrap();
            assert_eq!(parsed, *workload);
            assert_eq!(workload.to_string(), workload.name());
        }
        assert!(Workload::Batch.writes() && !Workload::Export.writes());
        let rates: Vec<_> = Workload::value_variants()
            .iter()
            .filter(|w| !w.request_rate())
            .collect();
        assert_eq!(rates, [&Workload::Export]);
        assert_eq!(Workload::Batch.users_written(), 100);
        assert_eq!(Workload::Create.users_written(), 1);
        assert_eq!(Workload::Get.users_written(), 0);
        // Display pads, so the progress lines' columns line up.
        assert_eq!(format!("{:<6}|", Workload::Get), "get   |");
    }
}
