//! Checks of exercise 02, on a current-thread runtime: one thread runs every task, so a
//! blocking call stops all of them, which a heartbeat task makes visible.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};

use super::ex02_blocking::sign_up;
use crate::given::{HASHING_TIME, hash_password};

checks!(
    heartbeat_keeps_ticking_during_sign_up,
    sign_ups_hash_at_the_same_time
);

/// How often the heartbeat ticks.
const BEAT: Duration = Duration::from_millis(10);

/// Runs `body` on a new current-thread runtime, on a thread of its own (the check itself
/// runs on a multi-threaded one).
async fn on_current_thread<F>(body: impl FnOnce() -> F + Send + 'static) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<()>>,
{
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(body())
    })
    .await
    .context("the current-thread runtime panicked")?
}

async fn heartbeat_keeps_ticking_during_sign_up() -> anyhow::Result<()> {
    let expected = hash_password("correct horse");
    on_current_thread(move || async move {
        let ticks = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&ticks);
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(BEAT).await;
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        // Lets the heartbeat start before the handler runs.
        tokio::time::sleep(BEAT * 3).await;
        let before = ticks.load(Ordering::SeqCst);
        let started = Instant::now();
        let hash = sign_up("correct horse".into()).await?;
        let elapsed = started.elapsed();
        let ticked = ticks.load(Ordering::SeqCst) - before;
        heartbeat.abort();
        ensure!(hash == expected, "sign_up gave {hash:?}, not {expected:?}");
        let due = (elapsed.as_secs_f64() / BEAT.as_secs_f64()) as u64;
        ensure!(
            ticked * 3 >= due,
            "the heartbeat ticked {ticked} times during sign_up's {} ms, where {due} ticks \
             were due: the password hash holds the runtime's only thread",
            elapsed.as_millis()
        );
        Ok(())
    })
    .await
}

async fn sign_ups_hash_at_the_same_time() -> anyhow::Result<()> {
    on_current_thread(|| async {
        let started = Instant::now();
        let (a, b, c, d) = tokio::join!(
            sign_up("a".into()),
            sign_up("b".into()),
            sign_up("c".into()),
            sign_up("d".into()),
        );
        for hash in [a, b, c, d] {
            hash?;
        }
        let took = started.elapsed().as_secs_f64() / HASHING_TIME.as_secs_f64();
        ensure!(
            took < 2.5,
            "4 sign-ups at once took {took:.1} times one hash: they ran one after the \
             other on the runtime's thread (at the same time it takes about 1, in turn 4)"
        );
        Ok(())
    })
    .await
}
