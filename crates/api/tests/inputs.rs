//! Hostile and malformed input: every bad parameter is a 400 problem naming it, wrong methods
//! are 405, unknown paths 404, oversized bodies 413, wrong media types 415 — never a 500.

mod common;

use actix_web::test;
use common::*;

#[actix_web::test]
async fn bad_parameters_are_400_problems_naming_the_parameter() {
    let w = world();
    w.seed().await;
    let svc = test::init_service(api::app(&w.parts)).await;
    let cases = [
        ("/signals?limit=-1", "limit"),
        ("/signals?limit=abc", "limit"),
        ("/signals?limit=0", "limit"),
        ("/signals?limit=1001", "limit"),
        ("/signals?limit=1.5", "limit"),
        ("/signals?from=garbage", "from"),
        ("/signals?to=2025-02-30", "to"),
        ("/signals?cursor=garbage", "cursor"),
        ("/signals?cursor=czEuMTIzLmFiYw", "cursor"),
        ("/signals?type=Longo", "type"),
        ("/signals?status=nope", "status"),
        ("/signals?asset=%27%3B--", "asset"),
        ("/signals/abc", "id"),
        ("/signals/99999999999999999999", "id"),
        ("/signals/1.5", "id"),
        ("/signals/stats?channel=abc", "channel"),
        ("/signals/stats?top=0", "top"),
        ("/signals/stats?asset=PETR4%3B", "asset"),
        ("/signals?search=a%00b", "search"),
        ("/signals?type=swing%20trade", "type"),
        ("/signals/export?format=pdf", "format"),
        ("/signals/export?limit=-5", "limit"),
        ("/messages?outcome=maybe", "outcome"),
        ("/messages?channel=abc", "channel"),
        ("/forwarded-messages?channelId=x", "channelId"),
        ("/messages?cursor=czEuMS4y", "cursor"),
        ("/logs?level=loud", "level"),
        ("/logs?limit=100000", "limit"),
    ];
    for (uri, field) in cases {
        let r = call(&svc, get(uri)).await;
        let p = r.problem(400);
        assert_eq!(p["field"], field, "{uri}: {p}");
    }
    let long = format!("/signals?search={}", "x".repeat(500));
    assert_eq!(call(&svc, get(&long)).await.problem(400)["field"], "search");
    let dup = call(&svc, get("/signals?limit=1&limit=2")).await;
    dup.problem(400);
}

#[actix_web::test]
async fn wrong_methods_are_405_and_unknown_paths_404() {
    let w = world();
    let svc = test::init_service(api::app(&w.parts)).await;
    for req in [
        test::TestRequest::post().uri("/signals"),
        test::TestRequest::put().uri("/signals/1"),
        test::TestRequest::patch().uri("/signals/1"),
        test::TestRequest::get().uri("/messages/reparse"),
        test::TestRequest::delete().uri("/channels"),
        test::TestRequest::get().uri("/channels/1"),
        test::TestRequest::post().uri("/health"),
        test::TestRequest::delete().uri("/metrics"),
    ] {
        let r = call(&svc, req).await;
        let p = r.problem(405);
        assert_eq!(p["type"], "urn:tp-capital:problem:method-not-allowed");
    }
    let r = call(&svc, test::TestRequest::post().uri("/signals/7")).await;
    r.problem(405);
    assert_eq!(
        r.header("allow"),
        Some("GET, DELETE, HEAD"),
        "RFC 9110 Allow"
    );
    call(&svc, get("/nope")).await.problem(404);
    call(&svc, get("/signals/1/extra")).await.problem(404);
}

#[actix_web::test]
async fn bodies_are_limited_typed_and_validated() {
    let w = world_with(Options {
        body_limit: 2048,
        ..Options::default()
    });
    let svc = test::init_service(api::app(&w.parts)).await;
    let put = || {
        test::TestRequest::put()
            .uri("/channels/-100")
            .insert_header(("X-API-Key", KEY))
    };
    let big = serde_json::json!({"label": "x".repeat(5000)});
    call(&svc, put().set_json(big)).await.problem(413);
    call(
        &svc,
        put()
            .insert_header(("content-type", "text/plain"))
            .set_payload("label=x"),
    )
    .await
    .problem(415);
    call(
        &svc,
        put()
            .insert_header(("content-type", "application/json"))
            .set_payload("{not json"),
    )
    .await
    .problem(400);
    call(&svc, put().set_json(serde_json::json!([null, null])))
        .await
        .problem(400);
    let p = call(&svc, put().set_json(serde_json::json!({"label": 42})))
        .await
        .problem(400);
    assert_eq!(p["field"], "label");
    let p = call(&svc, put().set_json(serde_json::json!({"colour": "red"})))
        .await
        .problem(400);
    assert!(p["detail"].as_str().unwrap_or("").contains("colour"), "{p}");
    let p = call(
        &svc,
        put().set_json(serde_json::json!({"default_kind": "Longo"})),
    )
    .await
    .problem(400);
    assert_eq!(p["field"], "default_kind");
    let p = call(&svc, put().set_json(serde_json::json!({"label": "   "})))
        .await
        .problem(400);
    assert_eq!(p["field"], "label");
    let reparse = || {
        test::TestRequest::post()
            .uri("/messages/reparse")
            .insert_header(("X-API-Key", KEY))
    };
    for (body, field) in [
        (serde_json::json!({"from": "yesterday"}), "from"),
        (serde_json::json!({"to": true}), "to"),
        (serde_json::json!({"limit": 0}), "limit"),
        (serde_json::json!({"limit": -3}), "limit"),
        (serde_json::json!({"outcome": "maybe"}), "outcome"),
        (serde_json::json!({"cursor": "garbage"}), "cursor"),
        (serde_json::json!({"to": "0"}), "to"),
    ] {
        let r = call(&svc, reparse().set_json(body.clone())).await;
        assert_eq!(
            r.status,
            400,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let p = r.problem(400);
        assert_eq!(p["field"], field, "{body}: {p}");
    }
}

#[actix_web::test]
async fn problems_never_leak_internals_and_carry_security_headers() {
    let w = world();
    let r = send(&w, get("/signals?from=%3Cscript%3E")).await;
    let p = r.problem(400);
    assert!(p.get("stack").is_none());
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert!(r.header("content-security-policy").is_some());
}
