//! The api under faults (run one at a time by tests/run.sh: names start with `fault_`): with
//! Redis stopped it answers from the database and says degraded; with PostgreSQL stopped its
//! readiness and uncached reads answer 503, and both heal when the component is back; a
//! PgBouncer restart costs no request.

use test_support::api_client::*;

#[tokio::test]
async fn fault_redis_down_the_api_answers_from_the_database() {
    let Some(s) = stack() else { return };
    let ch = unique_channel();
    s.ingest(ch, 1, "2025-10-26T10:00:00Z", BOVAW32).await;
    test_support::stack::stop("redis-replica");
    test_support::stack::stop("redis-master");
    let health = s.wait_health("degraded", 20).await;
    assert_eq!(health["database"], "connected");
    let r = s.get(&format!("/signals?channel={ch}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-cache"), Some("error"));
    assert_eq!(r.json()["data"][0]["asset"], "BOVAW32");
    for path in ["/signals/stats", "/channels"] {
        assert_eq!(s.get(path).await.status, 200, "{path} without Redis");
    }
    test_support::stack::start("redis-master");
    test_support::stack::start("redis-replica");
    s.wait_health("healthy", 60).await;
}

#[tokio::test]
async fn fault_database_down_readiness_is_503_until_it_is_back() {
    let Some(s) = stack() else { return };
    test_support::stack::stop("postgres");
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
    test_support::stack::start("postgres");
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

/// GETs `paths` concurrently (each holds its own pooled connection) and returns the statuses
/// with the bodies.
async fn concurrent_gets(s: &Stack, paths: Vec<String>) -> Vec<(u16, String)> {
    let mut set = tokio::task::JoinSet::new();
    for path in paths {
        let (http, url) = (s.http.clone(), s.url(&path));
        set.spawn(async move {
            let r = http.get(url).send().await.expect("request");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        });
    }
    set.join_all().await
}

#[tokio::test]
async fn fault_pgbouncer_restart_costs_the_api_no_request() {
    let Some(s) = stack() else { return };
    // Uncached reads (a new channel each) need a database connection each.
    let uncached = |n: usize| (0..n).map(|_| format!("/signals?channel={}", unique_channel()));
    for (status, body) in concurrent_gets(&s, uncached(8).collect()).await {
        assert_eq!(status, 200, "{body}");
    }
    test_support::stack::stop("pgbouncer");
    test_support::stack::start("pgbouncer");
    // Every pooled connection died with the old PgBouncer: the pool must notice before use.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    for (status, body) in concurrent_gets(&s, uncached(8).collect()).await {
        assert_eq!(status, 200, "a request paid for the restart: {body}");
    }
}
