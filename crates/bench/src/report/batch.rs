//! Batches against single creates: users written per second, same tier, same run.
//!
//! `POST /users/batch` writes 100 users in one transaction with one INSERT; `POST
//! /users` (the `create` workload) writes one. A request of either costs about the same
//! round trips (a transaction's BEGIN, the INSERT, COMMIT, or just the INSERT) and the
//! same HTTP overhead, so a batch should write many times more users per second: the
//! course's target is at least 10x, in every tier. The ratio is only taken between the
//! two workloads of one tier measured in the same run: a `create` figure from another
//! run (another machine load, another table size) would make it mean nothing, so
//! without `create` in this run the target says "not measured".

use std::fmt::Write as _;

use serde::Serialize;

use super::format::Align::{Left, Right};
use super::format::{ms, num, opt, table, thousands};
use super::{Report, Target};
use crate::cli::TierLabel;
use crate::workload::Workload;

/// The goal: batches write at least this many times the users per second of creates.
pub const BATCH_TO_CREATE_GOAL: f64 = 10.0;

/// One tier's `batch` against its `create`.
#[derive(Debug, Clone, Serialize)]
pub struct BatchGain {
    /// The tier row's label.
    pub tier: TierLabel,
    /// `batch`'s median requests per second.
    pub batch_rps: f64,
    /// Users `batch` wrote per second: its requests/s times the users per batch.
    pub batch_users_per_s: f64,
    /// `batch`'s median p50, ms.
    pub batch_p50_ms: f64,
    /// `create`'s users (= requests) per second.
    pub create_users_per_s: f64,
    /// `create`'s median p50, ms.
    pub create_p50_ms: f64,
    /// Database round trips per batch request, if counted.
    pub batch_round_trips: Option<f64>,
    /// Database round trips per create request, if counted.
    pub create_round_trips: Option<f64>,
    /// Batch users/s over create users/s.
    pub ratio: f64,
}

impl Report {
    /// Every tier that ran both `create` and `batch`, in the order of the tiers.
    pub fn batch_gains(&self) -> Vec<BatchGain> {
        self.tiers
            .iter()
            .filter_map(|t| {
                let create = self.cell(t.label.as_str(), Workload::Create)?;
                let batch = self.cell(t.label.as_str(), Workload::Batch)?;
                let create_users = create.summary.rps * Workload::Create.users_written() as f64;
                let batch_users = batch.summary.rps * Workload::Batch.users_written() as f64;
                (create_users > 0.0).then(|| BatchGain {
                    tier: t.label.clone(),
                    batch_rps: batch.summary.rps,
                    batch_users_per_s: batch_users,
                    batch_p50_ms: batch.summary.p50_ms,
                    create_users_per_s: create_users,
                    create_p50_ms: create.summary.p50_ms,
                    batch_round_trips: batch.round_trips.as_ref().map(|r| r.round_trips),
                    create_round_trips: create.round_trips.as_ref().map(|r| r.round_trips),
                    ratio: batch_users / create_users,
                })
            })
            .collect()
    }

    /// The batch target, one per tier: at least 10x create's users/s.
    pub(super) fn batch_targets(&self) -> Vec<Target> {
        let gains = self.batch_gains();
        let ran = |workload| self.settings.workloads.contains(&workload);
        self.tiers
            .iter()
            .map(|tier| {
                let value = gains.iter().find(|g| g.tier == tier.label).map(|g| g.ratio);
                let note = if value.is_some() {
                    String::new()
                } else if ran(Workload::Batch) && !ran(Workload::Create) {
                    "create was not run: run with --workloads create,batch".to_owned()
                } else {
                    "needs the create and batch workloads of this tier in one run".to_owned()
                };
                Target {
                    name: format!("{}: batch / create users/s", tier.label),
                    goal: format!(">= {BATCH_TO_CREATE_GOAL}"),
                    value,
                    met: value.map(|v| v >= BATCH_TO_CREATE_GOAL),
                    note,
                }
            })
            .collect()
    }

    /// "Batches against single creates": users/s of both, and the ratio.
    pub(super) fn batch_section(&self, md: &mut String) {
        let gains = self.batch_gains();
        if gains.is_empty() {
            return;
        }
        let _ = writeln!(md, "\n## Batches against single creates\n");
        let _ = writeln!(
            md,
            "`POST /users/batch` with {} new users per request (one transaction, one INSERT) \
             against `POST /users` with one (create), each tier in the same run, same \
             connections. Users written per second: a batch request's rate times {}. The \
             goal: batches write at least {} times the users per second. Round trips to \
             PostgreSQL per request, when counted, show that a batch costs a request's round \
             trips, not a row's.\n",
            Workload::Batch.users_written(),
            Workload::Batch.users_written(),
            num(BATCH_TO_CREATE_GOAL, 0)
        );
        table(
            md,
            &[
                ("tier", Left),
                ("create users/s", Right),
                ("create p50 ms", Right),
                ("create round trips", Right),
                ("batch req/s", Right),
                ("batch users/s", Right),
                ("batch p50 ms", Right),
                ("batch round trips", Right),
                ("batch / create users/s", Right),
            ],
            gains.iter().map(|g| {
                vec![
                    g.tier.to_string(),
                    thousands(g.create_users_per_s),
                    ms(g.create_p50_ms),
                    opt(g.create_round_trips, 2),
                    thousands(g.batch_rps),
                    thousands(g.batch_users_per_s),
                    ms(g.batch_p50_ms),
                    opt(g.batch_round_trips, 2),
                    num(g.ratio, 1),
                ]
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::report::fixtures::report;
    use crate::workload::Workload;

    /// The fixture: tier-raw's batches write 15x its creates' users/s (met), tier-sqlx's
    /// 8x (missed).
    #[test]
    fn users_per_second_are_compared_within_a_tier() {
        let report = report();
        let gains = report.batch_gains();
        assert_eq!(gains.len(), 2);
        let raw = &gains[0];
        assert_eq!(raw.tier, "tier-raw");
        assert_eq!(raw.create_users_per_s, 2_000.0);
        assert_eq!(raw.batch_rps, 300.0);
        assert_eq!(raw.batch_users_per_s, 30_000.0);
        assert_eq!(raw.ratio, 15.0);
        assert_eq!(gains[1].ratio, 8.0);

        let find = |name: &str| report.targets.iter().find(|t| t.name == name).unwrap();
        let met = find("tier-raw: batch / create users/s");
        assert_eq!(
            (met.value, met.met, met.goal.as_str()),
            (Some(15.0), Some(true), ">= 10")
        );
        let missed = find("tier-sqlx: batch / create users/s");
        assert_eq!((missed.value, missed.met), (Some(8.0), Some(false)));

        let md = report.markdown();
        assert!(md.contains("\n## Batches against single creates\n"), "{md}");
        assert!(
            md.contains("| tier-raw | 2,000 | 4.00 | 1.00 | 300 | 30,000 | 20.0 | 1.00 | 15 |"),
            "{md}"
        );
    }

    /// Without `create` in the run, the ratio is not invented: not measured, and why.
    #[test]
    fn without_create_the_target_is_not_measured() {
        let mut report = report();
        report.results.retain(|c| c.workload != Workload::Create);
        report.settings.workloads.retain(|w| *w != Workload::Create);
        report.check_targets();
        assert!(report.batch_gains().is_empty());
        let target = report
            .targets
            .iter()
            .find(|t| t.name == "tier-raw: batch / create users/s")
            .unwrap();
        assert_eq!((target.value, target.met), (None, None));
        assert_eq!(
            target.note,
            "create was not run: run with --workloads create,batch"
        );
        assert!(!report.markdown().contains("## Batches against"));

        report.results.retain(|c| c.workload != Workload::Batch);
        report.settings.workloads.retain(|w| *w != Workload::Batch);
        report.check_targets();
        let target = report
            .targets
            .iter()
            .find(|t| t.name == "tier-sqlx: batch / create users/s")
            .unwrap();
        assert_eq!(
            target.note,
            "needs the create and batch workloads of this tier in one run"
        );
    }
}
