//! What a check is, and how one runs: on a runtime of its own, with a time limit, a panic
//! (a `todo!()` not yet written) caught and turned into a failure message.
//!
//! The test target (`tests/checks.rs`, one test per check) and the progress report
//! (`src/main.rs`) both run checks through [`run`], so a check fails the same way in both.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// What a check's `async fn` returns, boxed so that every check has the same type.
pub type CheckFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// One check of an exercise: an `async fn` that returns an error saying what is wrong.
#[derive(Clone, Copy)]
pub struct Check {
    /// The function's name, which says what it checks.
    pub name: &'static str,
    /// Starts the check.
    pub run: fn() -> CheckFuture,
}

/// An exercise and its checks, in the order they are run.
#[derive(Clone, Copy)]
pub struct Exercise {
    /// The module's name, `exNN_topic`, which is also its file's.
    pub name: &'static str,
    /// Its checks, in order: the first that fails is the one to work on.
    pub checks: &'static [Check],
}

impl Exercise {
    /// `exNN`, what `cargo test -p exercises exNN` filters on.
    pub fn number(&self) -> &'static str {
        self.name.split('_').next().unwrap_or(self.name)
    }
}

/// Lists an exercise's checks as `CHECKS`, each named after its function.
macro_rules! checks {
    ($($check:ident),+ $(,)?) => {
        /// This exercise's checks, in the order they run.
        pub const CHECKS: &[$crate::check::Check] = &[$(
            $crate::check::Check {
                name: stringify!($check),
                run: || -> $crate::check::CheckFuture { Box::pin($check()) },
            }
        ),+];
    };
}

/// A check that has not finished after this long has failed: a stub that waits for
/// something that never comes must not hang the test run.
pub const TIME_LIMIT: Duration = Duration::from_secs(20);

/// Runs `check` on a fresh multi-threaded runtime of two workers (a check that needs a
/// current-thread runtime builds one itself). `Err` holds what went wrong, in words.
pub fn run(check: &Check) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| format!("could not start a runtime: {err}"))?;
    let outcome = runtime.block_on(async {
        // A task of its own, so that a panic inside the check comes back as a value.
        let task = tokio::spawn((check.run)());
        match tokio::time::timeout(TIME_LIMIT, task).await {
            Err(_) => Err(format!(
                "still running after {} s: something waits for what never comes",
                TIME_LIMIT.as_secs()
            )),
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(failure))) => Err(format!("{failure:#}")),
            Ok(Err(join_error)) => Err(panic_message(join_error)),
        }
    });
    // A stub may leave a blocking call running: do not wait for it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    outcome
}

/// The message of a task's panic: for a stub, its `todo!("exercise NN: ...")`.
fn panic_message(join_error: tokio::task::JoinError) -> String {
    if !join_error.is_panic() {
        return format!("the check was cancelled: {join_error}");
    }
    let payload = join_error.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    format!("panicked: {text}")
}

/// Keeps the stubs' `todo!()` panics off stderr: [`run`] reports each one as the
/// check's failure already. Every other panic is still printed by the default hook.
pub fn quiet_todo_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let todo = info
            .payload_as_str()
            .is_some_and(|text| text.starts_with("not yet implemented"));
        if !todo {
            default(info);
        }
    }));
}
