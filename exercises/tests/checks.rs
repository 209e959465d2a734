//! Every check of every exercise as a test of its own, named `exNN_topic::check`, so
//! `cargo test -p exercises ex01` runs exercise 01's.
//!
//! With the `solutions` feature (on in `cargo test --workspace`, see the crate's
//! documentation) the checks run against the reference solutions, and the tests
//! `unsolved_stub::exNN_topic::check` run them against the stubs in `src/` too: each of
//! those passes only if the stub still fails that check, so a solution committed into a
//! student's file fails CI. (Solving an exercise in your own copy therefore fails
//! `cargo test --workspace` there; `cargo test -p exercises` is the students' command.)

use exercises::check::{self, Exercise};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() -> std::process::ExitCode {
    let arguments = Arguments::from_args();
    // A failing check's message already holds its `todo!()`'s.
    check::quiet_todo_panics();
    let mut trials = trials(exercises::selected::checks::EXERCISES, "", |outcome| {
        outcome.map_err(Failed::from)
    });
    if exercises::CHECKS_SOLUTIONS {
        trials.extend(trials_of_stubs());
    }
    libtest_mimic::run(&arguments, trials).exit_code()
}

/// One trial per check of `exercises`, named `{prefix}exNN_topic::check`, whose result
/// is `judge` of the check's outcome.
fn trials(
    exercises: &'static [Exercise],
    prefix: &'static str,
    judge: fn(Result<(), String>) -> Result<(), Failed>,
) -> Vec<Trial> {
    exercises
        .iter()
        .flat_map(|exercise| {
            exercise.checks.iter().map(move |c| {
                let name = format!("{prefix}{}::{}", exercise.name, c.name);
                Trial::test(name, move || judge(check::run(c)))
            })
        })
        .collect()
}

/// The stubs must fail every check: a stub that passes one was given (part of) its
/// solution, which belongs in `exercises/solutions/`.
fn trials_of_stubs() -> Vec<Trial> {
    trials(
        exercises::stubs::checks::EXERCISES,
        "unsolved_stub::",
        |outcome| match outcome {
            Err(_) => Ok(()),
            Ok(()) => Err(Failed::from(
                "the stub in exercises/src/ passes this check: put the stub back (the \
                 solution belongs in exercises/solutions/)",
            )),
        },
    )
}
