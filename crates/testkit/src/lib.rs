//! # testkit: black-box tests of a tier, against real PostgreSQL
//!
//! What a test needs, in the zero-to-production style, and where it lives:
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`db`] | [`TestDb`]: a freshly created database per test (from `template0`), dropped when the test ends, even when it fails |
//! | [`app`] | [`TestApp`]: a tier's real router served on `127.0.0.1:0` (a free port), with an HTTP client pointed at it; tests talk HTTP to it, exactly like a user would |
//! | [`response`] | [`TestResponse`] and its assertions: every error is problem+json, with no internal text |
//! | [`conformance`] | the contract of `API.md` as test cases, one module per topic |
//! | [`faults`] | outages, killed connections, overload, shutdown, lost writes, timeouts, generated hostile requests, password and SQL-injection checks |
//! | [`script`] | the cross-tier request script and the transcript of its answers (`tests/cross_tier.rs`, `tests/several_instances.rs`) |
//! | [`suite`] | the runner: each suite's one list of cases, run as one test per case for a tier |
//! | [`proxy`] | [`proxy::FaultProxy`], a TCP proxy between a tier and PostgreSQL that refuses, cuts, delays or black-holes connections on command |
//! | [`wire`] | the PostgreSQL wire protocol's framing, for the proxy |
//! | [`process`] | a tier's binary run as a child process, for the shutdown and password cases |
//! | [`pgbouncer`] | [`pgbouncer::PgBouncer`], a real PgBouncer (transaction mode) on a free port in front of the test server, from the template `deploy/pgbouncer/pgbouncer.ini` |
//! | [`behind_pgbouncer`] | the conformance suite through PgBouncer, what breaks with prepared statements on, a missing database behind it |
//!
//! Each tier runs both suites from two test targets of its own (`harness = false`),
//! each a one-line `main`: `tests/conformance.rs` calls [`run_conformance`],
//! `tests/faults.rs` calls [`run_faults`]. So all three tiers run the same cases, and
//! list the same number of tests.
//!
//! The server under test is found through `DATABASE_URL` (default
//! `postgres://postgres:postgres@localhost:5432/users_course`, as for the tiers; `.env`
//! is read too): its host, port, user and password are used to create each test's own
//! database. If no server answers, the test fails and says how to start one. Nothing
//! is skipped silently.
//!
//! Logs are quiet unless `TEST_LOG` is set (`TEST_LOG=1 cargo test ...`).

// This crate is test support: a panic is how it reports a failed expectation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod behind_pgbouncer;
pub mod conformance;
pub mod db;
pub mod faults;
pub mod pgbouncer;
pub mod process;
pub mod proxy;
pub mod response;
pub mod script;
pub mod suite;
pub mod wire;

pub use app::{TestApp, init_test_logging};
pub use behind_pgbouncer::run_conformance_through_pgbouncer;
pub use db::{DEFAULT_DATABASE_URL, TEST_POOL_SIZE, TestDb, admin_database};
pub use response::{INTERNAL_TEXT, TestResponse};
pub use suite::{run_conformance, run_faults};
