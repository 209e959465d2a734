//! Unit tests of the command line: defaults, `--quick`, variants, the URL, bad values.

use super::*;
use clap::ValueEnum as _;
use secrecy::ExposeSecret;
use std::path::Path;

fn plan(args: &[&str]) -> anyhow::Result<Plan> {
    let options = Options::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))?;
    options.plan(None, Path::new("/ws"))
}

#[test]
fn defaults_are_the_full_run() {
    let plan = plan(&[]).unwrap();
    assert_eq!(plan.rows, 10_000);
    assert_eq!(plan.connections, 64);
    assert_eq!(plan.rounds, 3);
    // The five of the users, then the two of the posts.
    assert_eq!(plan.workloads.len(), 7);
    assert_eq!(plan.workloads[5..], [Workload::Posts, Workload::UserPosts]);
    assert_eq!(
        plan.seeded(),
        crate::seed::Seeded {
            users: 10_000,
            posts_per_user: 10
        }
    );
    assert_eq!(plan.seeded().posts(), 100_000);
    assert_eq!(plan.tiers.len(), 4);
    assert_eq!(plan.tiers[3].label, "tier-raw (pipelined)");
    assert_eq!(format!("{:<10}|", plan.tiers[0].label), "tier-raw  |");
    assert_eq!(
        plan.tiers[3].env,
        [("DB_PIPELINE".to_owned(), "true".to_owned())]
    );
    assert_eq!(plan.out, Path::new("/ws/target/bench"));
    assert_eq!(plan.admin.name(), "postgres");
    assert_eq!(plan.bench_db.name(), "users_bench");
    // The workspace's one default server, the same the tiers and the tests use.
    assert_eq!(plan.bench_db.host(), "localhost");
    assert_eq!(plan.bench_db.user(), "postgres");
}

#[test]
fn quick_shrinks_everything_but_explicit_options_win() {
    let plan = plan(&["--quick", "--rows", "5000", "--tiers", "tier-raw,sqlx,raw"]).unwrap();
    assert_eq!(plan.rows, 5000);
    assert_eq!(plan.rounds, 1);
    assert_eq!(plan.duration, Duration::from_secs(2));
    assert_eq!(
        plan.workloads,
        vec![Workload::Get, Workload::List, Workload::Mixed]
    );
    let labels: Vec<_> = plan.tiers.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["tier-raw", "tier-sqlx"]);
}

#[test]
fn a_variant_is_an_extra_row_with_its_environment_in_its_label() {
    let with_variants = plan(&[
        "--tiers",
        "raw",
        "--variant",
        "raw:TOKIO_WORKER_THREADS=1",
        "--variant",
        "raw-pipelined:DB_POOL_SIZE=8,TOKIO_WORKER_THREADS=1",
    ])
    .unwrap();
    let labels: Vec<_> = with_variants
        .tiers
        .iter()
        .map(|t| t.label.as_str())
        .collect();
    assert_eq!(
        labels,
        [
            "tier-raw",
            "tier-raw + TOKIO_WORKER_THREADS=1",
            "tier-raw (pipelined) + DB_POOL_SIZE=8 TOKIO_WORKER_THREADS=1"
        ]
    );
    assert_eq!(with_variants.tiers[2].package(), Some("tier-raw"));
    let env: Vec<_> = with_variants.tiers[2]
        .env
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(env, ["DB_PIPELINE", "DB_POOL_SIZE", "TOKIO_WORKER_THREADS"]);
    for bad in ["raw", "raw:", "nosuch:A=1", "raw:=1"] {
        assert!(plan(&["--variant", bad]).is_err(), "{bad} was accepted");
    }
    assert!(plan(&["--variant", "raw:A=1", "--variant", "raw:A=1"]).is_err());
}

#[test]
fn the_url_keeps_its_secret_and_only_the_database_changes() {
    let options = Options::try_parse_from(["bench"]).unwrap();
    let plan = options
        .plan(
            Some("postgres://ada:pw@db:6000/users_course".into()),
            Path::new("/ws"),
        )
        .unwrap();
    assert_eq!(
        plan.bench_db.url().expose_secret(),
        "postgres://ada:pw@db:6000/users_bench"
    );
    assert!(!format!("{plan:?}").contains("pw@"));
}

#[test]
fn bad_values_are_refused() {
    assert!(plan(&["--rows", "5"]).is_err());
    assert!(plan(&["--connections", "0"]).is_err());
    assert!(plan(&["--duration", "-1"]).is_err());
    assert!(plan(&["--workloads", "delete"]).is_err());
    assert!(plan(&["--env", "=x"]).is_err());
    assert!(plan(&["--bench-database", "postgres"]).is_err());
    assert!(plan(&["--posts-per-user", "1001"]).is_err());
    assert!(plan(&["--posts-per-user", "-1"]).is_err());
    // No posts is fine, unless a workload reads them.
    assert!(plan(&["--posts-per-user", "0", "--workloads", "get"]).is_ok());
    assert!(plan(&["--posts-per-user", "0", "--workloads", "get,user-posts"]).is_err());
    let plan = plan(&["--env", "DB_POOL_SIZE=32"]).unwrap();
    assert_eq!(plan.env, [("DB_POOL_SIZE".to_owned(), "32".to_owned())]);
}

#[test]
fn a_soak_keeps_under_max_in_flight_and_needs_posts() {
    assert_eq!(plan(&[]).unwrap().soak, None);
    let soak = plan(&["--soak", "600", "--tiers", "raw,sqlx"]).unwrap();
    assert_eq!(soak.soak, Some(Duration::from_secs(600)));
    assert_eq!(soak.soak_connections, 16);
    assert_eq!(soak.tiers.len(), 2);
    assert!(plan(&["--soak", "2"]).is_err());
    assert!(plan(&["--soak", "60", "--posts-per-user", "0"]).is_err());
    assert!(plan(&["--soak", "60", "--soak-connections", "64"]).is_err());
    // Without --soak its connections are not checked: they are not used.
    assert!(plan(&["--soak-connections", "64"]).is_ok());
}

#[test]
fn pooler_adds_an_unnamed_row_and_a_pgbouncer_row_next_to_each_tier() {
    let plan = plan(&["--pooler", "--tiers", "raw,sqlx", "--workloads", "get"]).unwrap();
    assert!(plan.pooler);
    let rows: Vec<_> = plan
        .tiers
        .iter()
        .map(|t| (t.label.as_str(), t.route, t.env.len()))
        .collect();
    assert_eq!(
        rows,
        [
            ("tier-raw", Route::Direct, 0),
            ("tier-raw unnamed", Route::Direct, 1),
            ("tier-raw via PgBouncer", Route::PgBouncer, 1),
            ("tier-sqlx", Route::Direct, 0),
            ("tier-sqlx unnamed", Route::Direct, 1),
            ("tier-sqlx via PgBouncer", Route::PgBouncer, 1),
        ]
    );
    let unnamed = ("DB_PREPARED_STATEMENTS".to_owned(), "false".to_owned());
    assert_eq!(plan.tiers[1].env, std::slice::from_ref(&unnamed));
    assert_eq!(plan.tiers[2].env, [unnamed]);
    // The pipelined mode keeps its own environment, and adds the statements' after it.
    let [_, unnamed, pooled] = TierKind::RawPipelined.pooler_rows();
    assert_eq!(pooled.label, "tier-raw (pipelined) via PgBouncer");
    assert_eq!(unnamed.env[0].0, "DB_PIPELINE");
    assert_eq!(unnamed.env[1], (UNNAMED.0.to_owned(), UNNAMED.1.to_owned()));
    // Without --pooler: one direct row per tier.
    let plain = super::tests::plan(&["--tiers", "raw,sqlx"]).unwrap();
    assert!(!plain.pooler);
    assert!(plain.tiers.iter().all(|t| t.route == Route::Direct));
    assert_eq!(plain.tiers.len(), 2);
    // A soak does not go through the pooler.
    assert!(super::tests::plan(&["--soak", "60", "--pooler"]).is_err());
}

#[test]
fn the_open_loop_is_on_in_the_full_run_off_in_quick_and_needs_get() {
    assert_eq!(plan(&[]).unwrap().open_loop_levels, [50, 80]);
    assert!(
        plan(&["--no-open-loop"])
            .unwrap()
            .open_loop_levels
            .is_empty()
    );
    assert!(plan(&["--quick"]).unwrap().open_loop_levels.is_empty());
    let asked = plan(&["--quick", "--open-loop", "--open-loop-levels", "80,30,80"]).unwrap();
    assert_eq!(asked.open_loop_levels, [80, 30]);
    // Without get, the full run just leaves it out; asked for, it says why not.
    assert!(
        plan(&["--workloads", "list"])
            .unwrap()
            .open_loop_levels
            .is_empty()
    );
    let err = plan(&["--open-loop", "--workloads", "list"]).unwrap_err();
    assert!(err.to_string().contains("add get"), "{err}");
    assert!(plan(&["--open-loop-levels", "0,50"]).is_err());
    assert!(plan(&["--open-loop-levels", "120"]).is_err());
    assert!(plan(&["--open-loop", "--no-open-loop"]).is_err());
}

#[test]
fn fastapi_adds_each_original_right_after_its_tier() {
    let plan = plan(&["--fastapi", "--tiers", "orm,raw,raw-pipelined"]).unwrap();
    let rows: Vec<_> = plan
        .tiers
        .iter()
        .map(|t| (t.label.as_str(), t.package(), t.kind))
        .collect();
    assert_eq!(
        rows,
        [
            ("tier-orm", Some("tier-orm"), TierKind::Orm),
            ("fastapi-sqlalchemy", None, TierKind::Orm),
            ("tier-raw", Some("tier-raw"), TierKind::Raw),
            ("fastapi-asyncpg", None, TierKind::Raw),
            (
                "tier-raw (pipelined)",
                Some("tier-raw"),
                TierKind::RawPipelined
            ),
        ]
    );
    assert_eq!(plan.tiers[1].stack(), Some(Stack::Sqlalchemy));
    assert_eq!(plan.tiers[0].stack(), None);
    // A stack serves get and the lists only; a tier serves everything.
    let stack = &plan.tiers[3];
    let served: Vec<_> = Workload::value_variants()
        .iter()
        .filter(|w| stack.serves(**w))
        .map(|w| w.name())
        .collect();
    assert_eq!(served, ["get", "list", "list-first", "list-last"]);
    assert!(
        Workload::value_variants()
            .iter()
            .all(|w| plan.tiers[2].serves(*w))
    );
    // Without a tier to pair with, or in a soak, --fastapi is refused.
    let lonely = super::tests::plan(&["--fastapi", "--tiers", "raw-pipelined"]);
    assert!(lonely.unwrap_err().to_string().contains("--fastapi pairs"));
    assert!(super::tests::plan(&["--soak", "60", "--fastapi"]).is_err());
    // Without --fastapi: no stack.
    let plain = super::tests::plan(&[]).unwrap();
    assert!(plain.tiers.iter().all(|t| t.stack().is_none()));
}
