//! The benchmark: `cargo run -p bench --release -- [options]`.
//!
//! ```text
//! cargo run -p bench --release -- --quick      # under a minute: the table on stdout
//! cargo run -p bench --release                 # the full run: 3 rounds, 7 workloads, open-loop tails
//! cargo run -p bench --release -- --quick --open-loop --workloads get --tiers raw,sqlx  # tails at 50 and 80 %
//! cargo run -p bench --release -- --open-loop-levels 25,50,90  # other fixed rates (--no-open-loop: none)
//! cargo run -p bench --release -- --rows 1000 --workloads list,posts,user-posts
//! cargo run -p bench --release -- --rows 1000000 --workloads list-first,list-last --posts-per-user 0
//! cargo run -p bench --release -- --rows 1000000 --workloads create,batch,export --posts-per-user 0
//! cargo run -p bench --release -- --soak 600 --tiers raw,sqlx,orm   # 10 min per tier: soak.md
//! cargo run -p bench --release -- --workloads get --tiers raw,sqlx --pooler  # + unnamed, + PgBouncer
//! cargo run -p bench --release -- --fastapi --tiers raw,sqlx,orm --workloads get,list  # + FastAPI originals
//! cargo run -p bench --release -- --help
//! ```
//!
//! Needs PostgreSQL where the tiers find it (`DATABASE_URL`, `.env`, or the default `postgres://postgres:postgres@localhost:5432/users_course`);
//! pgbench is used when installed. Seeding makes 10 posts per user (`--posts-per-user`),
//! about 1.5 s per 100,000 posts: at a million users, `--posts-per-user 0` skips them
//! when no workload reads posts. `--fastapi` also needs python3 (3.10 or newer) with
//! venv: its first use installs the stacks of `baseline/fastapi/` from PyPI (about a
//! minute). What the run does, step by step, is in
//! `src/run.rs`; this file only parses the options, runs, and turns the outcome into
//! the exit code.
//!
//! Everything runs on one thread (a current-thread tokio runtime): the load generator
//! shares the 2 cores with the server and PostgreSQL, and should take as little of
//! them as it can. Its HTTP is written on the socket by hand (`loadgen/wire.rs`), and
//! when `wrk` is installed each tier's `get` is also measured by wrk in the same
//! round, so the report shows whether the two generators agree (`--no-wrk` skips it).

use std::process::ExitCode;

use bench::cli::Options;
use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = Options::parse();
    match bench::run::run(options).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("bench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
