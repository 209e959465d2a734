//! Checks of exercise 01. Times are compared as ratios to one lookup's delay, with wide
//! margins, so a busy machine does not fail a right answer.

use std::time::{Duration, Instant};

use anyhow::ensure;

use super::ex01_join::{Directory, Profile, fastest_name, name_within, profile};

checks!(
    profile_runs_both_lookups_at_once,
    name_within_gives_up_at_the_deadline,
    fastest_name_keeps_the_first_answer,
);

/// `elapsed` as a multiple of `unit`.
fn ratio(elapsed: Duration, unit: Duration) -> f64 {
    elapsed.as_secs_f64() / unit.as_secs_f64()
}

async fn profile_runs_both_lookups_at_once() -> anyhow::Result<()> {
    let delay = Duration::from_millis(300);
    let directory = Directory::new(delay);
    let started = Instant::now();
    let got = profile(&directory, 7).await;
    let took = ratio(started.elapsed(), delay);
    let expected = Profile {
        name: "user 7".into(),
        posts: 21,
    };
    ensure!(got == expected, "profile(7) gave {got:?}, not {expected:?}");
    ensure!(
        directory.most_in_flight() == 2,
        "the lookups never overlapped (at most {} running at once): the count was only \
         asked for after the name arrived",
        directory.most_in_flight()
    );
    ensure!(
        took < 1.75,
        "profile took {took:.1} times one lookup's delay: at once it takes about 1, one \
         after the other 2"
    );
    Ok(())
}

async fn name_within_gives_up_at_the_deadline() -> anyhow::Result<()> {
    // A lookup far slower than the deadline: None, and soon.
    let slow = Duration::from_millis(1000);
    let directory = Directory::new(slow);
    let started = Instant::now();
    let got = name_within(&directory, 7, Duration::from_millis(100)).await;
    let took = ratio(started.elapsed(), slow);
    ensure!(
        got.is_none(),
        "a 1 s lookup with a 100 ms deadline gave {got:?}"
    );
    ensure!(
        took < 0.5,
        "name_within returned after {took:.1} times the lookup's delay: it waited for the \
         lookup instead of giving up at the deadline"
    );
    ensure!(
        directory.in_flight() == 0,
        "the lookup is still running after name_within returned"
    );
    // A lookup far faster than the deadline: the name.
    let directory = Directory::new(Duration::from_millis(50));
    let got = name_within(&directory, 7, Duration::from_secs(2)).await;
    ensure!(
        got.as_deref() == Some("user 7"),
        "a 50 ms lookup with a 2 s deadline gave {got:?}, not Some(\"user 7\")"
    );
    Ok(())
}

async fn fastest_name_keeps_the_first_answer() -> anyhow::Result<()> {
    let slow = Duration::from_millis(1000);
    let fast = Duration::from_millis(50);
    // The fast one first as the replica, then as the primary: either may win.
    for (primary, replica) in [(slow, fast), (fast, slow)] {
        let (primary, replica) = (Directory::new(primary), Directory::new(replica));
        let started = Instant::now();
        let got = fastest_name(&primary, &replica, 7).await;
        let took = ratio(started.elapsed(), slow);
        ensure!(got == "user 7", "fastest_name(7) gave {got:?}");
        ensure!(
            primary.most_in_flight() == 1 && replica.most_in_flight() == 1,
            "both directories must be asked, at once"
        );
        ensure!(
            took < 0.5,
            "fastest_name returned after {took:.1} times the slow directory's delay: it \
             waited for the slower answer too"
        );
        ensure!(
            primary.in_flight() + replica.in_flight() == 0,
            "the slower lookup is still running after fastest_name returned"
        );
    }
    Ok(())
}
