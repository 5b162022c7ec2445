//! Rate limiting, CORS, the admin key in dev mode, and health degradation, in process.

mod common;

use actix_web::test;
use api::rate_limit::RateLimitSettings;
use common::*;

#[actix_web::test]
async fn clients_over_their_rate_get_429_with_retry_after() {
    let w = world_with(Options {
        rate: RateLimitSettings {
            per_second: 1,
            burst: 2,
            exempt: vec!["10.9.9.9".parse().expect("ip")],
            ..RateLimitSettings::default()
        },
        ..Options::default()
    });
    let svc = test::init_service(api::app(&w.parts)).await;
    let from = |ip: &str| get("/signals").peer_addr(format!("{ip}:5000").parse().expect("addr"));
    assert_eq!(call(&svc, from("10.0.0.1")).await.status, 200);
    assert_eq!(call(&svc, from("10.0.0.1")).await.status, 200);
    let limited = call(&svc, from("10.0.0.1")).await;
    let p = limited.problem(429);
    assert_eq!(p["type"], "urn:tp-capital:problem:rate-limited");
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(call(&svc, from("10.0.0.2")).await.status, 200, "per client");
    for _ in 0..5 {
        assert_eq!(call(&svc, from("10.9.9.9")).await.status, 200, "exempt");
        let probe = get("/health/live").peer_addr("10.0.0.1:1".parse().expect("addr"));
        assert_eq!(
            call(&svc, probe).await.status,
            200,
            "probes have a limit of their own"
        );
    }
    // A valid key has its own bucket, separate from its IP's.
    let keyed = || from("10.0.0.1").insert_header(("X-API-Key", KEY));
    assert_eq!(call(&svc, keyed()).await.status, 200);
}

#[actix_web::test]
async fn cors_allows_the_listed_origins_and_same_origin_only() {
    let w = world();
    let svc = test::init_service(api::app(&w.parts)).await;
    let preflight = test::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/signals/1")
        .insert_header(("Origin", "http://dashboard.test"))
        .insert_header(("Access-Control-Request-Method", "DELETE"))
        .insert_header(("Access-Control-Request-Headers", "x-api-key"));
    let r = call(&svc, preflight).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://dashboard.test")
    );
    assert!(
        r.header("access-control-allow-headers")
            .unwrap_or("")
            .contains("x-api-key")
    );
    let simple = call(
        &svc,
        get("/signals").insert_header(("Origin", "http://dashboard.test")),
    )
    .await;
    assert_eq!(simple.status, 200);
    assert_eq!(
        simple.header("access-control-allow-origin"),
        Some("http://dashboard.test")
    );
    let evil = call(
        &svc,
        get("/signals").insert_header(("Origin", "http://evil.test")),
    )
    .await;
    assert!(
        evil.header("access-control-allow-origin").is_none(),
        "a browser on another origin cannot read the answer"
    );
    let evil_preflight = test::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/signals/1")
        .insert_header(("Origin", "http://evil.test"))
        .insert_header(("Access-Control-Request-Method", "DELETE"));
    let r = call(&svc, evil_preflight).await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert!(r.header("access-control-allow-origin").is_none());
    let same_host = call(
        &svc,
        get("/signals")
            .insert_header(("Origin", "http://api.local:4005"))
            .insert_header(("Host", "api.local:4005")),
    )
    .await;
    assert!(
        same_host.header("access-control-allow-origin").is_none(),
        "the Host header does not make an origin the api's own (http_surface.rs)"
    );
}

#[actix_web::test]
async fn dev_mode_without_keys_opens_admin_calls_but_a_configured_key_is_still_required() {
    let open = world_with(Options {
        dev_mode: true,
        keys: vec![],
        ..Options::default()
    });
    let put = || {
        test::TestRequest::put()
            .uri("/channels/-1")
            .set_json(serde_json::json!({"label": "x"}))
    };
    assert_eq!(send(&open, put()).await.status, 200);
    let keyed = world_with(Options {
        dev_mode: true,
        ..Options::default()
    });
    send(&keyed, put()).await.problem(401);
    assert_eq!(
        send(&keyed, put().insert_header(("X-API-Key", KEY)))
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn health_is_degraded_without_redis_and_unhealthy_without_the_database() {
    let w = world();
    let ok = send(&w, get("/health")).await.json();
    assert_eq!(
        (ok["status"].as_str(), ok["database"].as_str()),
        (Some("healthy"), Some("connected"))
    );
    w.cache.set_unavailable(true);
    let r = send(&w, get("/health")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["cache"], "disconnected");
    w.store.set_unavailable(true);
    let r = send(&w, get("/health/ready")).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["status"], "unhealthy");
    assert!(r.header("retry-after").is_some());
}
