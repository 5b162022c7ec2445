//! The served OpenAPI document against the route table: every registered route is documented
//! with every method, nothing undocumented is registered, every operation declares the errors it
//! can answer, admin operations declare the API key, and Swagger UI is served.

mod common;

use std::collections::BTreeSet;

use api::routes::ROUTES;
use common::*;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

#[actix_web::test]
async fn the_served_document_lists_exactly_the_registered_routes() {
    let w = world();
    let r = send(&w, get("/api-docs/openapi.json")).await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3.1"));
    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (path.clone(), (*m).to_owned()))
                .collect::<Vec<_>>()
        })
        .collect();
    let registered: BTreeSet<(String, String)> = ROUTES
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .iter()
                .map(|m| ((*path).to_owned(), (*m).to_owned()))
        })
        .collect();
    assert_eq!(documented, registered);
    // And each registered route really answers (not 404/405) in the app.
    for (path, methods) in ROUTES {
        let concrete = path.replace("{id}", "1").replace("{channel_id}", "-100");
        for m in *methods {
            if *m == "get" && concrete == "/signals/stream" {
                continue;
            }
            let req = actix_web::test::TestRequest::default()
                .method(m.to_uppercase().parse().expect("method"))
                .uri(&concrete);
            let status = send(&w, req).await.status.as_u16();
            assert!(
                status != 404 || path.contains('{'),
                "{m} {path} is not routed: {status}"
            );
            assert_ne!(status, 405, "{m} {path}");
        }
    }
}

#[actix_web::test]
async fn every_operation_documents_its_errors_parameters_and_security() {
    let w = world();
    let doc = send(&w, get("/api-docs/openapi.json")).await.json();
    let admin = [
        ("/signals/{id}", "delete"),
        ("/messages/reparse", "post"),
        ("/channels/{channel_id}", "put"),
        ("/signals", "delete"),
        ("/sync-messages", "post"),
    ];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let responses = op["responses"].as_object().expect("responses");
            let probe = path.starts_with("/health") || path == "/metrics";
            let mut wanted = vec!["405", "500", "503"];
            if !probe {
                wanted.push("429");
            }
            if op
                .get("parameters")
                .is_some_and(|p| p.as_array().is_some_and(|a| !a.is_empty()))
            {
                wanted.push("400");
            }
            if path.contains('{') {
                wanted.push("404");
            }
            let secured = admin.contains(&(path.as_str(), m));
            if secured {
                wanted.push("401");
                assert!(
                    op["security"][0].get("api_key").is_some(),
                    "{m} {path} declares the key"
                );
            } else {
                assert!(op.get("security").is_none(), "{m} {path} needs no key");
            }
            if op.get("requestBody").is_some() {
                wanted.extend(["400", "413", "415"]);
            }
            for status in wanted {
                assert!(
                    responses.contains_key(status),
                    "{m} {path} documents {status}"
                );
            }
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{m} {path} documents its success"
            );
            assert!(
                op["summary"].is_string() || op["description"].is_string(),
                "{m} {path}"
            );
        }
    }
    let schemes = &doc["components"]["securitySchemes"]["api_key"];
    assert_eq!(schemes["type"], "apiKey");
    assert_eq!(schemes["in"], "header");
    assert_eq!(schemes["name"], "X-API-Key");
    let problem = &doc["components"]["responses"]["TooManyRequests"];
    assert!(problem["content"]["application/problem+json"].is_object());
    assert!(problem["headers"]["Retry-After"].is_object());
    let list = &doc["paths"]["/signals"]["get"]["parameters"];
    let names: Vec<&str> = list
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in [
        "limit", "cursor", "channel", "asset", "type", "status", "search", "from", "to",
    ] {
        assert!(
            names.contains(&name),
            "/signals documents {name}: {names:?}"
        );
    }
    let item = &doc["components"]["schemas"]["SignalItem"];
    assert!(item["example"].is_object(), "the row schema has an example");
    for field in [
        "id",
        "ts",
        "channel",
        "signal_type",
        "buy_min",
        "target_final",
        "channel_id",
        "revision",
    ] {
        assert!(
            item["properties"].get(field).is_some(),
            "SignalItem.{field}"
        );
    }
}

#[actix_web::test]
async fn swagger_ui_is_served_and_points_at_the_document() {
    let w = world();
    let page = send(&w, get("/swagger-ui/")).await;
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("swagger-ui"));
    let init = send(&w, get("/swagger-ui/swagger-initializer.js")).await;
    assert_eq!(init.status, 200);
    assert!(String::from_utf8_lossy(&init.body).contains("/api-docs/openapi.json"));
}
