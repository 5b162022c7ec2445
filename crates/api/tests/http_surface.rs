//! HTTP semantics of the api in process: `HEAD` on every `GET` route, the `WWW-Authenticate`
//! challenge of a 401, and CORS that never takes the request's `Host` as its own origin.

mod common;

use actix_web::http::Method;
use actix_web::test;
use common::*;

fn head(uri: &str) -> test::TestRequest {
    test::TestRequest::default().method(Method::HEAD).uri(uri)
}

#[actix_web::test]
async fn head_answers_every_get_route_as_get_does() {
    let w = world();
    w.seed().await;
    let svc = test::init_service(api::app(&w.parts)).await;
    for uri in [
        "/signals?limit=2",
        "/signals/stats",
        "/channels",
        "/health/live",
        "/api-docs/openapi.json",
        "/messages",
    ] {
        let as_get = call(&svc, get(uri)).await;
        let as_head = call(&svc, head(uri)).await;
        assert_eq!(as_get.status, 200, "{uri}");
        assert_eq!(as_head.status, as_get.status, "HEAD {uri}");
        assert_eq!(
            as_head.header("content-type"),
            as_get.header("content-type"),
            "HEAD {uri}"
        );
    }
    // A missing signal is the same 404 problem (the body is dropped on the wire, not here).
    call(&svc, head("/signals/999999")).await.problem(404);
    // A path without GET stays 405, naming HEAD, with the methods it has.
    let r = call(&svc, head("/messages/reparse")).await;
    let p = r.problem(405);
    assert!(
        p["detail"].as_str().unwrap_or("").starts_with("HEAD "),
        "{p}"
    );
    assert_eq!(r.header("allow"), Some("POST"));
    // A streamed answer (SSE) is not kept open for a HEAD.
    let r = call(&svc, head("/signals/stream")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.body.is_empty());
}

#[actix_web::test]
async fn unauthorized_answers_carry_a_www_authenticate_challenge() {
    let w = world();
    let svc = test::init_service(api::app(&w.parts)).await;
    for key in [None, Some("wrong")] {
        let mut req = test::TestRequest::delete().uri("/signals/1");
        if let Some(key) = key {
            req = req.insert_header(("X-API-Key", key));
        }
        let r = call(&svc, req).await;
        r.problem(401);
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"ApiKey realm="tp-capital", header="X-API-Key""#),
            "{key:?}"
        );
    }
}

#[actix_web::test]
async fn cors_never_takes_the_host_header_for_the_api_s_own_origin() {
    let w = world_with(Options {
        cors: vec![
            "http://dashboard.test".to_owned(),
            "http://api.local:4005".to_owned(),
        ],
        ..Options::default()
    });
    let svc = test::init_service(api::app(&w.parts)).await;
    // DNS rebinding: a page on evil.example names its own host in Host and Origin alike.
    let rebound = call(
        &svc,
        get("/signals")
            .insert_header(("Host", "evil.example"))
            .insert_header(("Origin", "http://evil.example")),
    )
    .await;
    assert!(
        rebound.header("access-control-allow-origin").is_none(),
        "echoed: {:?}",
        rebound.header("access-control-allow-origin")
    );
    let preflight = test::TestRequest::default()
        .method(Method::OPTIONS)
        .uri("/signals/1")
        .insert_header(("Host", "evil.example:4005"))
        .insert_header(("Origin", "http://evil.example:4005"))
        .insert_header(("Access-Control-Request-Method", "DELETE"));
    let r = call(&svc, preflight).await;
    assert!(r.header("access-control-allow-origin").is_none());
    // The api's configured own origin is allowed whatever Host says.
    let own = call(
        &svc,
        get("/signals")
            .insert_header(("Host", "10.0.0.9"))
            .insert_header(("Origin", "http://api.local:4005")),
    )
    .await;
    assert_eq!(own.status, 200);
    assert_eq!(
        own.header("access-control-allow-origin"),
        Some("http://api.local:4005")
    );
}
