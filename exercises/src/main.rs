//! `cargo run -p exercises`: which exercises are solved, and what to do next.
//!
//! Runs every exercise's checks, in the order of the lecture, and prints one line per
//! exercise: solved, or not yet solved with the first failing check and its message.
//! It ends with the next exercise to do and the command that checks it.

use exercises::check::{self, Exercise};
use exercises::selected::checks::EXERCISES;

fn main() {
    // A stub's `todo!()` panics by design: its message is shown below, in the report.
    check::quiet_todo_panics();

    if exercises::CHECKS_SOLUTIONS {
        println!("Checking the reference solutions (exercises/solutions/), not your files.\n");
    } else {
        println!("Checking your exercises (exercises/src/exNN_*.rs), in the lecture's order:\n");
    }
    let mut next: Option<&Exercise> = None;
    let mut solved = 0;
    for exercise in EXERCISES {
        match first_failure(exercise) {
            None => {
                solved += 1;
                println!("  {:<18} solved", exercise.name);
            }
            Some((check, message)) => {
                next.get_or_insert(exercise);
                println!("  {:<18} not yet solved", exercise.name);
                println!("      {check}: {}", indent(&message));
            }
        }
    }
    println!("\n{solved} of {} solved.", EXERCISES.len());
    match next {
        None => println!("All done: compare yours with exercises/solutions/."),
        Some(exercise) => println!(
            "Next: {name}. Read exercises/src/{name}.rs (hints: exercises/hints/{number}.md),\n\
             then check it with:  cargo test -p exercises {number}",
            name = exercise.name,
            number = exercise.number(),
        ),
    }
}

/// The first of `exercise`'s checks that fails, and why.
fn first_failure(exercise: &Exercise) -> Option<(&'static str, String)> {
    exercise
        .checks
        .iter()
        .find_map(|c| check::run(c).err().map(|message| (c.name, message)))
}

/// `message` with its later lines indented under the first.
fn indent(message: &str) -> String {
    message.replace('\n', "\n        ")
}
