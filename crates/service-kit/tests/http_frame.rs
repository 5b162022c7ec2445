//! The shared HTTP frame in process: problems for every error, headers, metrics by template,
//! extractor rejections, deadlines.

use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, test, web};
use serde::Deserialize;
use service_kit::extract::{Json, JsonLimit, Query};
use service_kit::http::{HttpSettings, app};
use service_kit::metrics::{Metrics, metrics_endpoint};
use service_kit::problem::{PROBLEM_JSON, Problem};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    channel_id: i64,
}

#[derive(Debug, Deserialize)]
struct Params {
    limit: Option<u32>,
}

async fn echo(body: Json<Body>) -> HttpResponse {
    HttpResponse::Ok().json(body.channel_id)
}

async fn item(path: web::Path<i64>, q: Query<Params>) -> HttpResponse {
    HttpResponse::Ok().json((path.into_inner(), q.limit))
}

async fn slow() -> HttpResponse {
    tokio::time::sleep(Duration::from_secs(2)).await;
    HttpResponse::Ok().finish()
}

async fn fails() -> Result<HttpResponse, Problem> {
    Err(Problem::internal("test", &"secret internals"))
}

fn settings() -> HttpSettings {
    let mut s = HttpSettings::new("127.0.0.1:0".parse().expect("addr"));
    s.body_limit = 64;
    s.request_timeout = Duration::from_millis(500);
    s
}

macro_rules! service {
    () => {{
        let metrics = Metrics::install("test", "0.0.0").expect("metrics");
        test::init_service(
            app(&settings())
                .app_data(web::Data::new(metrics))
                .route("/metrics", web::get().to(metrics_endpoint))
                .service(
                    web::resource("/echo")
                        .route(web::post().to(echo))
                        .default_service(web::to(service_kit::problem::method_not_allowed)),
                )
                .route("/items/{id}", web::get().to(item))
                .route("/fails", web::get().to(fails))
                .service(
                    web::resource("/big")
                        .app_data(JsonLimit(1024))
                        .route(web::post().to(echo)),
                )
                .route("/slow", web::get().to(slow))
                .service(web::scope("/api").route("/things/{id}", web::get().to(item))),
        )
        .await
    }};
}

async fn problem_of<B: actix_web::body::MessageBody>(
    res: actix_web::dev::ServiceResponse<B>,
) -> (StatusCode, serde_json::Value) {
    let status = res.status();
    assert_eq!(
        res.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some(PROBLEM_JSON),
        "status {status} is not a problem"
    );
    let body = test::read_body(res).await;
    (status, serde_json::from_slice(&body).expect("problem json"))
}

#[actix_web::test]
async fn unknown_path_and_wrong_method_are_problems() {
    let svc = service!();
    let res = test::call_service(&svc, test::TestRequest::get().uri("/nope").to_request()).await;
    let (status, p) = problem_of(res).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(p["instance"], "/nope");
    assert_eq!(p["success"], false, "legacy clients read `success`");
    assert_eq!(
        p["message"],
        p.get("detail").unwrap_or(&p["title"]).clone(),
        "and show `message`"
    );

    let res = test::call_service(&svc, test::TestRequest::get().uri("/echo").to_request()).await;
    let (status, p) = problem_of(res).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(p["type"], "urn:tp-capital:problem:method-not-allowed");

    // A route registered without its own default service: actix's 405 becomes a problem too.
    let res = test::call_service(
        &svc,
        test::TestRequest::delete().uri("/items/1").to_request(),
    )
    .await;
    let (status, _) = problem_of(res).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    let res = test::call_service(
        &svc,
        test::TestRequest::post().uri("/api/things/1").to_request(),
    )
    .await;
    let (status, _) = problem_of(res).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "inside a scope");
    let res = test::call_service(
        &svc,
        test::TestRequest::get().uri("/api/other").to_request(),
    )
    .await;
    let (status, _) = problem_of(res).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unknown path inside a scope");
}

#[actix_web::test]
async fn json_rejections() {
    let svc = service!();
    let ok = test::TestRequest::post()
        .uri("/echo")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(r#"{"channelId": 5}"#)
        .to_request();
    let res = test::call_service(&svc, ok).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("x-content-type-options")
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    assert_eq!(
        res.headers().get("x-frame-options").map(|v| v.as_bytes()),
        Some(&b"DENY"[..])
    );
    assert!(res.headers().get("content-security-policy").is_some());
    assert!(res.headers().get(header::SERVER).is_none());

    let cases: [(&str, &str, StatusCode, Option<&str>); 5] = [
        (
            "text/plain",
            r#"{"channelId": 5}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        (
            "application/json",
            r#"{"channelId": "#,
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "application/json",
            r#"{"channelId": true}"#,
            StatusCode::BAD_REQUEST,
            Some("channelId"),
        ),
        ("application/json", r#"{}"#, StatusCode::BAD_REQUEST, None),
        (
            "application/json",
            &"x".repeat(100),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
    ];
    for (ct, body, want, field) in cases {
        let req = test::TestRequest::post()
            .uri("/echo")
            .insert_header((header::CONTENT_TYPE, ct))
            .set_payload(body.to_owned())
            .to_request();
        let (status, p) = problem_of(test::call_service(&svc, req).await).await;
        assert_eq!(status, want, "{ct} {body}: {p}");
        if let Some(field) = field {
            assert_eq!(p["field"], field);
        }
    }

    let req = test::TestRequest::post()
        .uri("/big")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(format!(
            r#"{{"channelId": 5, "pad": "{}"}}"#,
            "x".repeat(200)
        ))
        .to_request();
    assert_eq!(
        test::call_service(&svc, req).await.status(),
        StatusCode::OK,
        "route-level limit"
    );
}

#[actix_web::test]
async fn path_and_query_rejections_name_the_parameter() {
    let svc = service!();
    let res = test::call_service(
        &svc,
        test::TestRequest::get().uri("/items/abc").to_request(),
    )
    .await;
    let (status, p) = problem_of(res).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(p["field"], "id");

    let res = test::call_service(
        &svc,
        test::TestRequest::get()
            .uri("/items/1?limit=-3")
            .to_request(),
    )
    .await;
    let (status, p) = problem_of(res).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(p["field"], "limit");
}

#[actix_web::test]
async fn internal_errors_hide_details_and_slow_requests_time_out() {
    let svc = service!();
    let res = test::call_service(&svc, test::TestRequest::get().uri("/fails").to_request()).await;
    let (status, p) = problem_of(res).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!p.to_string().contains("secret internals"));

    // The deadline answers through actix's error path (the server renders it).
    let err = test::try_call_service(&svc, test::TestRequest::get().uri("/slow").to_request())
        .await
        .err()
        .expect("timed out");
    let res = err.error_response();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().get(header::RETRY_AFTER).is_some());
    assert_eq!(
        res.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some(PROBLEM_JSON)
    );
}

#[actix_web::test]
async fn metrics_use_route_templates() {
    let svc = service!();
    for id in [1, 2, 3] {
        let req = test::TestRequest::get()
            .uri(&format!("/items/{id}"))
            .to_request();
        assert_eq!(test::call_service(&svc, req).await.status(), StatusCode::OK);
    }
    let res = test::call_service(&svc, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(test::read_body(res).await.to_vec()).expect("utf8");
    assert!(
        text.lines()
            .any(|l| l.starts_with("tpcapital_http_requests_total")
                && l.contains(r#"route="/items/{id}""#)
                && l.contains(r#"status="200""#)),
        "{text}"
    );
    assert!(!text.contains(r#"route="/items/1""#));
    assert!(text.contains("tpcapital_http_request_duration_seconds_bucket"));
    assert!(text.contains("tpcapital_build_info"));
}

#[actix_web::test]
async fn invented_methods_add_no_series() {
    use actix_web::http::Method;
    let svc = service!();
    for i in 0..1000 {
        let method = Method::from_bytes(format!("M{i}").as_bytes()).expect("method");
        let req = test::TestRequest::default()
            .method(method)
            .uri("/items/7")
            .to_request();
        let status = test::call_service(&svc, req).await.status();
        assert!(status.is_client_error(), "M{i}: {status}");
    }
    let res = test::call_service(&svc, test::TestRequest::get().uri("/metrics").to_request()).await;
    let text = String::from_utf8(test::read_body(res).await.to_vec()).expect("utf8");
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("tpcapital_http_requests_total{") && l.contains("/items/{id}"))
        .collect();
    assert_eq!(series.len(), 1, "{series:?}");
    assert!(series[0].contains(r#"method="OTHER""#), "{series:?}");
    assert!(series[0].ends_with(" 1000"), "{series:?}");
    assert!(!text.contains(r#"method="M1""#));
}

#[actix_web::test]
async fn problem_schema_is_referenced_by_name() {
    use utoipa::OpenApi;

    #[utoipa::path(get, path = "/x", responses(
        (status = 400, description = "bad", body = Problem, content_type = "application/problem+json")
    ))]
    #[allow(dead_code)]
    async fn x() {}

    #[derive(OpenApi)]
    #[openapi(paths(x))]
    struct Doc;

    let doc = serde_json::to_value(Doc::openapi()).expect("json");
    let schema = &doc["components"]["schemas"]["Problem"];
    assert_eq!(schema["type"], "object", "{doc}");
    assert!(schema["properties"]["type"].is_object());
    assert!(schema["properties"]["field"].is_object());
    assert!(schema["properties"].get("retry_after").is_none());
    assert_eq!(
        schema["properties"]["success"]["enum"],
        serde_json::json!([false])
    );
    assert!(schema["properties"]["message"].is_object());
    assert!(
        doc["components"]["schemas"]["FieldProblem"].is_object(),
        "{doc}"
    );
    assert_eq!(
        doc["paths"]["/x"]["get"]["responses"]["400"]["content"]["application/problem+json"]["schema"]
            ["$ref"],
        "#/components/schemas/Problem"
    );
}
