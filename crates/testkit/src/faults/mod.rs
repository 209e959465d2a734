//! Fault tests: what a tier does when its database goes away, slows down, or is cut
//! off mid-traffic, when it is shut down with requests in flight, when many clients
//! write at once, when requests are hostile, and whether its secrets stay secret.
//!
//! API.md promises that no request hangs (a dead database answers 503 with
//! `Retry-After`), that a server recovers by itself when the database comes back, that
//! a shutdown finishes the requests in flight, and that no acknowledged write is lost.
//! Each case checks one of those promises against a tier, most of them through a
//! [`FaultProxy`](crate::proxy::FaultProxy) that breaks the tier's connection to
//! PostgreSQL on command. One module per family:
//!
//! | module | what it covers |
//! | --- | --- |
//! | `outage` | the database gone, or partitioned off: 503 in time, then recovery |
//! | `healing` | connections terminated or cut mid-traffic, or while idle |
//! | `overload` | a slow database and ten times more requests than connections |
//! | `writes` | concurrent writes all land; acknowledged writes survive a cut; a batch racing single creates is all or nothing |
//! | `cancellation` | a client hangs up mid-batch (during `BEGIN`, `INSERT`, `COMMIT`): nothing written, no session left in a transaction, every pooled connection commits; a cancelled `BEGIN` on a pool of one (sqlx#4393) |
//! | `streaming` | the export: a hang-up stops its query within 1 s; a database failure after the first byte leaves the chunked body unterminated; a slow reader past the 4 s statement timeout gets every line |
//! | `timeouts` | the statement timeout; a stalled request body is 408 |
//! | `shutdown` | SIGTERM with a request in flight, on the real binary; exit within 12 s with the database silent |
//! | `connections` | slow and idle clients closed by the header-read timeout; the cap on open connections; out of file descriptors (`EMFILE`) survived |
//! | `heads` | a target over 8 KiB is a 414, headers over 32 KiB a 431, in problem+json |
//! | `load_shedding` | ten times `MAX_IN_FLIGHT` slow requests: the excess is shed with 503 at once |
//! | `security` | the password, personal data and parameter values in no log line at `RUST_LOG=trace`, nor the password in a response; bound parameters; a quoted name |
//! | `database_states` | a read-only database (25006): reads 200, writes 503; out of connections (53300): 503 in time, then recovery |
//! | `statements` | no N+1: the statements a request on posts sends, and a batch's (at most 4), counted on the wire |
//! | `unnamed` | `DB_PREPARED_STATEMENTS=false`: no named Parse over every route; round trips per request with it on and off |
//! | `hostile` | generated hostile requests, and malformed HTTP |
//! | `helpers` | timed requests, traffic, the checks of a 503, waiting for recovery, the tier's sessions in `pg_stat_activity` |
//! | `raw_http` | HTTP/1.1 by hand: hanging up at a chosen moment, reading slowly, the raw chunked encoding |
//!
//! [`cases()`] is the suite's one list, and [`crate::run_faults`] runs each case in it as
//! its own test against a tier (see [`crate::suite`] for why a case that is not listed
//! fails the build).
//!
//! The cases print what they measure (`FIGURE ...` lines, e.g. in the output of
//! `cargo test -p tier-raw --test faults`). They assert only the contract's bounds,
//! never how fast a tier happens to be today.

mod cancellation;
mod connections;
mod database_states;
mod heads;
mod healing;
mod helpers;
mod hostile;
mod load_shedding;
mod outage;
mod overload;
mod raw_http;
mod security;
mod shutdown;
mod statements;
mod streaming;
mod timeouts;
mod unnamed;
mod writes;

use users_api::UserStore;
use users_api::config::Config;

use crate::suite::{Case, cases};

/// Every case of the suite, by what it needs: a tier on a fresh database (`app`), the
/// same behind a fault proxy (`app_behind_proxy`), the tier's binary (`binary`), or
/// the tier's `connect` (`connect`), for cases that set the tier up themselves.
pub fn cases<S, C>() -> Vec<Case<C>>
where
    S: UserStore,
    C: AsyncFnOnce(&Config) -> anyhow::Result<S> + Copy + Send + 'static,
{
    cases![
        app: [
            healing::terminated_backends_heal,
            healing::restart_while_idle_fails_no_request,
            writes::concurrent_writes_all_land,
            timeouts::statement_timeout_cancels_a_blocked_query,
            timeouts::stalled_body_is_408_not_5xx,
            hostile::random_requests_never_fail_the_contract,
            hostile::random_bodies_never_fail_the_contract,
            hostile::malformed_http_never_fails_the_contract,
            streaming::export_disconnect_stops_the_query,
            streaming::slow_reader_gets_the_whole_export,
            database_states::read_only_database_refuses_writes_with_503,
            heads::long_targets_and_headers_answer_414_and_431,
        ],
        app_behind_proxy: [
            outage::outage_answers_503_then_recovers,
            outage::partition_answers_503_then_recovers,
            outage::partition_under_traffic_answers_in_time,
            healing::cut_connections_heal,
            overload::overload_sheds_or_serves_in_time,
            writes::acknowledged_writes_survive_a_cut,
            writes::batch_races_single_creates,
            streaming::export_cut_off_when_the_database_fails,
        ],
        binary: [
            shutdown::sigterm_finishes_in_flight_then_exits_0,
            shutdown::sigterm_exits_0_when_the_database_is_silent,
            connections::slow_and_idle_clients_are_closed,
            connections::connection_cap_makes_the_next_client_wait,
            connections::out_of_file_descriptors_is_survived,
            load_shedding::excess_requests_are_shed_at_once,
            security::password_never_logged_while_serving,
            security::password_never_logged_when_start_up_fails,
            security::personal_data_never_logged_at_trace,
        ],
        connect: [
            security::values_travel_as_bound_parameters,
            security::database_name_is_quoted,
            statements::post_pages_cost_the_statements_of_one_post,
            statements::batches_cost_at_most_four_statements,
            unnamed::unnamed_statements_only_when_not_prepared,
            cancellation::batch_disconnect_writes_nothing,
            cancellation::cancelled_begin_does_not_poison_the_pool,
            database_states::out_of_connections_answers_503_then_recovers,
        ],
    ]
}

#[cfg(test)]
mod tests {
    use users_api::UserStore;
    use users_api::config::Config;

    use crate::suite::{Case, duplicate_names};

    /// The list for the tier whose `connect` this is.
    fn cases_for<S, C>(_connect: C) -> Vec<Case<C>>
    where
        S: UserStore,
        C: AsyncFnOnce(&Config) -> anyhow::Result<S> + Copy + Send + 'static,
    {
        super::cases()
    }

    /// Every case's test has a name of its own. (That every case is listed at all is
    /// the `dead_code` lint's job: see [`crate::suite`].) The list is generic over the
    /// tier's `connect`; tier-raw's stands in for any.
    #[test]
    fn no_case_is_listed_twice() {
        let cases = cases_for(tier_raw::connect);
        assert_eq!(duplicate_names(&cases), Vec::<&str>::new());
        assert!(cases.len() >= 26, "the suite lost cases: {}", cases.len());
    }
}
