//! How a suite's cases become tests: one list per suite, run against a tier by a test
//! target of the tier's own.
//!
//! A case is an ordinary `async fn`, written once, in the module of its topic
//! (`conformance/create.rs`, `faults/outage.rs`, ...). Its suite lists it once, with
//! the `cases!` macro below, which takes each case's name from the function itself. A tier's `tests/conformance.rs` and `tests/faults.rs` are test targets
//! declared with `harness = false` in its `Cargo.toml`, whose `main` is one call:
//!
//! ```text
//! fn main() -> std::process::ExitCode {
//!     testkit::run_conformance(tier_raw::connect)
//! }
//! ```
//!
//! [`run_conformance`] and [`run_faults`] hand every listed case to `libtest-mimic` as
//! a trial: a test as `cargo test` knows it, with its name, its filter
//! (`cargo test -p tier-raw --test faults outage`), `--list`, `--test-threads`, and the
//! usual summary line ("test result: ok. 39 passed; 0 failed; ..."). Unlike the
//! built-in harness it does not capture output: `FIGURE` lines and `TEST_LOG` logs
//! print as they come (`--nocapture` is accepted and changes nothing).
//!
//! Why no test checks that every case is listed: the case functions are private to
//! their suite (`pub(super)`), and the suite's list is the only code that uses them. A
//! case written but not listed is dead code, a `dead_code` warning, which
//! `cargo clippy -- -D warnings` (CI) turns into a failure. A listed function that
//! does not exist, or does not take what its kind gives, does not compile. A name
//! listed twice is caught by a unit test of each suite.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};
use users_api::UserStore;
use users_api::config::Config;

use crate::process::TierBinary;
use crate::proxy::FaultProxy;
use crate::{TestApp, conformance, faults, init_test_logging};

/// What a case returns: a future it runs to the end, on the runtime of its trial.
/// Not `Send`: a case runs where it was started (`block_on`), so it may hold anything
/// across an `.await`, the tier's generic `connect` future included.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// One case of a suite: its name (the function's own) and what it needs to run.
pub struct Case<C> {
    /// The function's name; the test's name in `cargo test`'s output.
    pub name: &'static str,
    /// What the runner sets up before it calls the case, and the case itself.
    pub needs: Needs<C>,
}

/// The kinds of cases, by what they need; `C` is the type of the tier's `connect`.
pub enum Needs<C> {
    /// A tier served on a fresh database ([`TestApp::spawn`]).
    App(for<'a> fn(&'a TestApp) -> CaseFuture<'a>),
    /// A tier served on a fresh database through a [`FaultProxy`] the case breaks
    /// ([`TestApp::spawn_behind_proxy`]).
    AppBehindProxy(for<'a> fn(&'a TestApp, &'a FaultProxy) -> CaseFuture<'a>),
    /// The tier's binary, which the case runs as a process.
    Binary(fn(TierBinary) -> CaseFuture<'static>),
    /// The tier's `connect`, for a case that sets the tier up itself.
    Connect(fn(C) -> CaseFuture<'static>),
}

/// Builds a suite's list of [`Case`]s from the case functions, grouped by kind:
///
/// ```text
/// cases![
///     app: [create::create_returns_201_with_location_and_body, ...],
///     app_behind_proxy: [outage::outage_answers_503_then_recovers, ...],
///     binary: [shutdown::sigterm_finishes_in_flight_then_exits_0],
///     connect: [security::database_name_is_quoted],
/// ]
/// ```
///
/// Each entry is `module::function`; the case's name is the function's name.
macro_rules! cases {
    ($($needs:ident: [$($module:ident :: $case:ident),* $(,)?]),* $(,)?) => {
        vec![$($(
            $crate::suite::Case {
                name: stringify!($case),
                needs: $crate::suite::cases!(@needs $needs $module::$case),
            },
        )*)*]
    };
    (@needs app $case:path) => {
        $crate::suite::Needs::App(|app| Box::pin($case(app)))
    };
    (@needs app_behind_proxy $case:path) => {
        $crate::suite::Needs::AppBehindProxy(|app, proxy| Box::pin($case(app, proxy)))
    };
    (@needs binary $case:path) => {
        $crate::suite::Needs::Binary(|binary| Box::pin($case(binary)))
    };
    (@needs connect $case:path) => {
        $crate::suite::Needs::Connect(|connect| Box::pin($case(connect)))
    };
}
pub(crate) use cases;

/// Runs the conformance suite against a tier: every case of [`conformance::cases`] as
/// its own test, each against a fresh database. `connect` is the tier's own (it
/// connects and applies the schema). The `main` of a tier's `tests/conformance.rs`.
pub fn run_conformance<S, C>(connect: C) -> ExitCode
where
    S: UserStore,
    C: AsyncFnOnce(&Config) -> anyhow::Result<S> + Copy + Send + 'static,
{
    run(connect, None, conformance::cases())
}

/// Runs the fault suite against a tier: every case of [`faults::cases`] as its own
/// test. `binary` is the tier's binary, `env!("CARGO_BIN_EXE_<name>")` (Cargo sets it
/// for the package's own test targets, so it is evaluated there, not here);
/// `binary_env` the variables it needs to run as `connect` does (tier-raw's pipelined
/// mode: `&[("DB_PIPELINE", "true")]`). The `main` of a tier's `tests/faults.rs`.
pub fn run_faults<S, C>(
    connect: C,
    binary: &'static str,
    binary_env: &'static [(&'static str, &'static str)],
) -> ExitCode
where
    S: UserStore,
    C: AsyncFnOnce(&Config) -> anyhow::Result<S> + Copy + Send + 'static,
{
    let binary = TierBinary {
        path: binary,
        env: binary_env,
    };
    run(connect, Some(binary), faults::cases())
}

/// Turns every case into a trial, and runs the trials as the command line asks.
fn run<S, C>(connect: C, binary: Option<TierBinary>, cases: Vec<Case<C>>) -> ExitCode
where
    S: UserStore,
    C: AsyncFnOnce(&Config) -> anyhow::Result<S> + Copy + Send + 'static,
{
    let arguments = Arguments::from_args();
    libtest_mimic::run(&arguments, trials(connect, binary, cases)).exit_code()
}

/// Every case as a trial, which runs it as [`run_case`] does. A runner that adds
/// trials of its own (`behind_pgbouncer`) starts from these.
pub(crate) fn trials<S, C>(
    connect: C,
    binary: Option<TierBinary>,
    cases: Vec<Case<C>>,
) -> Vec<Trial>
where
    S: UserStore,
    C: AsyncFnOnce(&Config) -> anyhow::Result<S> + Copy + Send + 'static,
{
    cases
        .into_iter()
        .map(|case| Trial::test(case.name, move || run_case(case.needs, connect, binary)))
        .collect()
}

/// Runs one case on a runtime of its own, as `#[tokio::test(flavor = "multi_thread",
/// worker_threads = 2)]` would: built inside the trial, on the trial's thread, and
/// dropped with everything the case spawned when it ends. A panic (a failed assertion)
/// unwinds out of `block_on`; libtest-mimic catches it and reports this trial failed.
fn run_case<S, C>(needs: Needs<C>, connect: C, binary: Option<TierBinary>) -> Result<(), Failed>
where
    S: UserStore,
    C: AsyncFnOnce(&Config) -> anyhow::Result<S> + Copy + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match needs {
            Needs::App(case) => {
                let app = TestApp::spawn(connect).await;
                case(&app).await;
            }
            Needs::AppBehindProxy(case) => {
                let (app, proxy) = TestApp::spawn_behind_proxy(connect).await;
                case(&app, &proxy).await;
            }
            Needs::Binary(case) => {
                init_test_logging();
                let binary = binary.expect("a suite with binary cases is run with the binary");
                case(binary).await;
            }
            Needs::Connect(case) => {
                init_test_logging();
                case(connect).await;
            }
        }
    });
    Ok(())
}

/// The names a list would give its tests, with those given twice (which `cargo test`
/// would run twice, and a filter could not tell apart).
#[cfg(test)]
pub(crate) fn duplicate_names<C>(cases: &[Case<C>]) -> Vec<&'static str> {
    let mut seen = std::collections::BTreeSet::new();
    cases
        .iter()
        .map(|case| case.name)
        .filter(|name| !seen.insert(*name))
        .collect()
}
