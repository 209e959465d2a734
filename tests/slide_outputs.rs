//! The program output on the slides is what the programs print.
//!
//! Every ```` ```text ```` block of `slides/lecture.md` marked
//! `<!-- output: examples/NAME.rs ARGS | grep 'TEXT' -->` (see `users_course::outputs`)
//! is compared with a fresh run of that example here: one test per example, each running
//! the example once per set of arguments the deck uses, with the database set-up its
//! docs ask for. Timings, memory sizes and timestamps are masked on both sides
//! (`users_course::outputs::mask` states the rule); every word and every whole number
//! must match. Edit a word of an output block, and this test fails.
//!
//! To refresh the blocks after an example changed on purpose (PostgreSQL must be up,
//! as for every test here):
//!
//! ```text
//! cargo run --bin sync-slides -- --outputs
//! ```
//!
//! which runs this test with `SYNC_SLIDE_OUTPUTS=1`: each test then writes the output it
//! got into the deck instead of comparing. Review `git diff slides/` afterwards.

// Test code: a panic with a message is how a failed expectation is reported, in the
// helpers too (clippy.toml allows unwrap/expect only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Mutex;

use secrecy::ExposeSecret as _;
use testkit::TestDb;
use users_course::anchors::workspace_root;
use users_course::outputs::{compare, example_binary, output_blocks, replace_blocks, run_example};

const DECK: &str = "slides/lecture.md";

/// Set (to anything) by `sync-slides --outputs`: write the blocks instead of checking.
const SYNC: &str = "SYNC_SLIDE_OUTPUTS";

/// The examples this file knows how to run, with what each needs first. A block of any
/// other example fails `every_output_block_names_an_example_run_here`.
const EXAMPLES: [&str; 8] = [
    "hello_async",
    "concurrent_tasks",
    "blocking_pitfall",
    "fetch_users_raw",
    "n_plus_one",
    "transactions",
    "stream_rows",
    "cancel_query",
];

/// Tests that sync write the same file: one at a time.
static DECK_WRITE: Mutex<()> = Mutex::new(());

/// One example at a time: run side by side, a million-row stream and a program that
/// times its transactions' rollbacks would disturb each other on a 2-core machine, and
/// a state that is reached in milliseconds alone could print otherwise.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn deck() -> String {
    std::fs::read_to_string(workspace_root().join(DECK)).expect("read slides/lecture.md")
}

/// Every distinct argument list the deck runs `example` with (a grep is applied to the
/// output afterwards, so it needs no run of its own).
fn argument_lists(example: &str) -> BTreeSet<Vec<String>> {
    let blocks = output_blocks(&deck()).unwrap_or_else(|err| panic!("{DECK}: {err}"));
    let lists: BTreeSet<Vec<String>> = blocks
        .into_iter()
        .filter(|block| block.invocation.example == example)
        .map(|block| block.invocation.args)
        .collect();
    assert!(
        !lists.is_empty(),
        "{DECK} shows no output of examples/{example}.rs: remove its test here, or show it"
    );
    lists
}

/// Runs the example (its standard output), with `DATABASE_URL` set when given.
fn run(example: &str, args: &[String], database_url: Option<&str>) -> String {
    let binary = example_binary(example).unwrap_or_else(|err| panic!("{err}"));
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut command = Command::new(binary);
    command.args(args);
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    let output = run_example(example, &mut command).unwrap_or_else(|err| panic!("{err}"));
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Compares (or, when syncing, rewrites) every block of `example` run with `args`.
fn check(example: &str, args: &[String], stdout: &str) {
    let _guard = DECK_WRITE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let deck = deck();
    let blocks = output_blocks(&deck).unwrap();
    let mine: Vec<_> = blocks
        .iter()
        .filter(|b| b.invocation.example == example && b.invocation.args == args)
        .collect();
    if std::env::var_os(SYNC).is_some() {
        let mut synced = deck.clone();
        for block in &mine {
            let invocation = &block.invocation;
            synced = replace_blocks(&synced, invocation, &invocation.block_for(stdout));
        }
        if synced != deck {
            std::fs::write(workspace_root().join(DECK), synced).expect("write the deck");
            println!("{DECK}: rewrote the output of {example} {args:?}");
        }
        return;
    }
    let failures: Vec<String> = mine
        .iter()
        .filter_map(|block| {
            let expected = block.invocation.block_for(stdout);
            compare(&block.text, &expected).err().map(|diff| {
                format!(
                    "{DECK}:{} shows `{}`, which printed otherwise:\n{diff}",
                    block.line,
                    block.invocation.command_line()
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "\n{}\n\nThe whole output:\n{stdout}\nIf the program changed on purpose, run \
         `cargo run --bin sync-slides -- --outputs` and review `git diff slides/`.",
        failures.join("\n\n")
    );
}

/// Runs `example` once per argument list, in a blocking thread (the examples take
/// seconds, and the test's runtime has one thread), and checks its blocks.
async fn check_example(example: &'static str, database_url: Option<String>) {
    for args in argument_lists(example) {
        let url = database_url.clone();
        let stdout =
            tokio::task::spawn_blocking(move || (run(example, &args, url.as_deref()), args));
        let (stdout, args) = stdout.await.expect("runner task");
        check(example, &args, &stdout);
    }
}

/// The tests' server, its `postgres` database: for the examples that make their own
/// tables or databases, or none.
fn server_url() -> String {
    testkit::admin_database().url().expose_secret().to_owned()
}

#[test]
fn every_output_block_names_an_example_run_here() {
    let blocks = output_blocks(&deck()).unwrap_or_else(|err| panic!("{DECK}: {err}"));
    assert!(
        blocks.len() >= 8,
        "the deck shows only {} outputs",
        blocks.len()
    );
    let unknown: Vec<String> = blocks
        .iter()
        .filter(|block| !EXAMPLES.contains(&block.invocation.example.as_str()))
        .map(|block| format!("line {}: {}", block.line, block.invocation.command_line()))
        .collect();
    assert!(
        unknown.is_empty(),
        "{DECK}: no test here runs these; add one to tests/slide_outputs.rs:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn every_text_block_is_program_output_or_says_what_it_is() {
    // A ```text block is what a program printed, unless marked as an illustration (a
    // diagram, a sketch of a command's shape). Invocation::parse checks the marker.
    let deck = deck();
    let lines: Vec<&str> = deck.lines().collect();
    let unmarked: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.trim() == "```text")
        .filter(|(index, _)| {
            let previous = index.checked_sub(1).map_or("", |i| lines[i].trim());
            !previous.starts_with("<!-- output:") && !previous.starts_with("<!-- illustration")
        })
        .map(|(index, _)| index + 1)
        .collect();
    assert!(
        unmarked.is_empty(),
        "{DECK}: ```text blocks on lines {unmarked:?} need `<!-- output: examples/NAME.rs -->`"
    );
}

#[tokio::test]
async fn hello_async_output() {
    check_example("hello_async", None).await;
}

#[tokio::test]
async fn concurrent_tasks_output() {
    check_example("concurrent_tasks", None).await;
}

#[tokio::test]
async fn blocking_pitfall_output() {
    check_example("blocking_pitfall", None).await;
}

/// As `tests/examples.rs` runs it: a fresh database with the schema and two users.
#[tokio::test]
async fn fetch_users_raw_output() {
    let db = TestDb::create().await;
    drop(
        tier_raw::connect(db.config())
            .await
            .expect("apply the schema"),
    );
    db.connect()
        .await
        .batch_execute(
            "INSERT INTO users (name, email) VALUES \
             ('Ada Lovelace', 'Ada@Example.com'), ('Alan Turing', 'alan@example.com')",
        )
        .await
        .expect("insert two users");
    let url = db.config().database.url().expose_secret().to_owned();
    check_example("fetch_users_raw", Some(url)).await;
}

/// It (re)creates its own database, `n_plus_one_demo`, and this test drops it after.
#[tokio::test]
async fn n_plus_one_output() {
    check_example("n_plus_one", Some(server_url())).await;
    let (admin, connection) = tokio_postgres::connect(&server_url(), tokio_postgres::NoTls)
        .await
        .expect("connect to the tests' server");
    tokio::spawn(connection);
    admin
        .batch_execute("DROP DATABASE IF EXISTS n_plus_one_demo WITH (FORCE)")
        .await
        .expect("drop the example's database");
}

#[tokio::test]
async fn transactions_output() {
    let db = TestDb::create().await;
    let url = db.config().database.url().expose_secret().to_owned();
    check_example("transactions", Some(url)).await;
}

#[tokio::test]
async fn stream_rows_output() {
    check_example("stream_rows", Some(server_url())).await;
}

#[tokio::test]
async fn cancel_query_output() {
    check_example("cancel_query", Some(server_url())).await;
}
