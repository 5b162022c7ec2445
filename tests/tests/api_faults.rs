//! The api under faults (run one at a time by tests/run.sh: names start with `fault_`): with
//! Redis stopped it answers from the database and says degraded; with PostgreSQL stopped its
//! readiness and uncached reads answer 503, and both heal when the component is back.

mod api_common;

use api_common::*;

#[tokio::test]
async fn fault_redis_down_the_api_answers_from_the_database() {
    let Some(s) = stack() else { return };
    let ch = unique_channel();
    s.ingest(ch, 1, "2025-10-26T10:00:00Z", BOVA).await;
    component("stop", "redis-replica");
    component("stop", "redis-master");
    let health = s.wait_health("degraded", 20).await;
    assert_eq!(health["database"], "connected");
    let r = s.get(&format!("/signals?channel={ch}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-cache"), Some("error"));
    assert_eq!(r.json()["data"][0]["asset"], "BOVAW32");
    for path in ["/signals/stats", "/channels"] {
        assert_eq!(s.get(path).await.status, 200, "{path} without Redis");
    }
    component("start", "redis-master");
    component("start", "redis-replica");
    s.wait_health("healthy", 60).await;
}

#[tokio::test]
async fn fault_database_down_readiness_is_503_until_it_is_back() {
    let Some(s) = stack() else { return };
    component("stop", "postgres");
    let ready = s.get("/health/ready").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.header("retry-after").is_some());
    assert_eq!(ready.json()["database"], "disconnected");
    let ch = unique_channel();
    s.get(&format!("/signals?channel={ch}")).await.problem(503);
    assert_eq!(
        s.get("/health/live").await.status,
        200,
        "alive while the database is down"
    );
    component("start", "postgres");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = s.get("/health/ready").await;
        if r.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not ready again: {}",
            r.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(s.get(&format!("/signals?channel={ch}")).await.status, 200);
}
