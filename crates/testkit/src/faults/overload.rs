//! Overload: a slow database and far more concurrent requests than the pool has
//! connections. Each request is served or shed with a 503 in time; none hangs.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{
    CONTRACT_BOUND, SLACK, all_at_once, assert_unavailable, id_of, millis, until_status,
};
use crate::proxy::FaultProxy;
use crate::{TEST_POOL_SIZE, TestApp};

/// Added to every round trip to the database in the overload test.
const OVERLOAD_LATENCY: Duration = Duration::from_millis(300);

/// A slow database (300 ms more per round trip) and ten times more concurrent requests
/// than the pool has connections: every request either succeeds or is shed with a
/// 503, none waits past the contract's bound for a connection, none hangs.
///
/// A request that got its connection just before the 5 s bound still runs its own
/// statements (a few round trips at the added latency): that work is allowed on top.
pub(super) async fn overload_sheds_or_serves_in_time(app: &TestApp, proxy: &FaultProxy) {
    let user = id_of(&app.create_user("Ada", "ada@example.com").await);
    proxy.set_latency(OVERLOAD_LATENCY);
    let requests: Vec<(Method, String, Option<Value>, u16)> = (0..10 * TEST_POOL_SIZE)
        .map(|index| match index % 3 {
            0 => (Method::GET, format!("/users/{user}"), None, 200),
            1 => (Method::GET, "/users?limit=10".to_owned(), None, 200),
            _ => (
                Method::POST,
                "/users".to_owned(),
                Some(json!({"name": "Load", "email": format!("load{index}@example.com")})),
                201,
            ),
        })
        .collect();
    let answers = all_at_once(app, &requests).await;
    let own_work = 4 * OVERLOAD_LATENCY;
    let (mut served, mut shed) = (0, 0);
    let (mut slowest_served, mut slowest_shed) = (Duration::ZERO, Duration::ZERO);
    for (answer, (_, _, _, expected)) in answers.iter().zip(&requests) {
        let response = &answer.response;
        if response.status == 503 {
            assert_unavailable(response);
            assert!(
                answer.elapsed <= CONTRACT_BOUND + SLACK,
                "{} {}: shed only after {:?}",
                response.method,
                response.path,
                answer.elapsed
            );
            shed += 1;
            slowest_shed = slowest_shed.max(answer.elapsed);
        } else {
            response.assert_status(*expected);
            assert!(
                answer.elapsed <= CONTRACT_BOUND + own_work + SLACK,
                "{} {}: served only after {:?}",
                response.method,
                response.path,
                answer.elapsed
            );
            served += 1;
            slowest_served = slowest_served.max(answer.elapsed);
        }
    }
    proxy.restore().await;
    until_status(app, "/health", 200, CONTRACT_BOUND).await;
    println!(
        "FIGURE overload ({} requests, pool {TEST_POOL_SIZE}, +{} ms per round trip): {served} served (slowest {} ms), {shed} shed with 503 (slowest {} ms)",
        requests.len(),
        millis(OVERLOAD_LATENCY),
        millis(slowest_served),
        millis(slowest_shed)
    );
}
