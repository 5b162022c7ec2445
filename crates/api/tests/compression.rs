//! Compression negotiated from `Accept-Encoding`, in process: gzip and brotli on cached lists
//! (stored compressed: a hit sends the stored form), identity when asked or refused, tiny bodies
//! plain, the CSV export compressed as it streams, SSE never.

mod common;

use std::io::Read as _;

use actix_web::test;
use common::*;

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn unbrotli(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(body, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

/// A world with 30 signals: a `/signals` page of a few KB.
async fn seeded() -> World {
    let w = world();
    let messages: Vec<_> = (1..=30)
        .map(|i| message(CHANNEL, i, at(20, (i % 20) as u32), BOVAW32))
        .collect();
    w.ingest(&messages).await;
    w
}

fn varies(reply: &Reply) -> bool {
    reply
        .headers
        .get_all("vary")
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.eq_ignore_ascii_case("accept-encoding"))
}

fn accepting(uri: &str, accept: &str) -> test::TestRequest {
    get(uri).insert_header(("Accept-Encoding", accept))
}

#[actix_web::test]
async fn cached_lists_are_sent_gzip_or_brotli_as_negotiated() {
    let w = seeded().await;
    let svc = test::init_service(api::app(&w.parts)).await;
    call(&svc, get("/signals?limit=50")).await;
    let plain = call(&svc, get("/signals?limit=50")).await;
    assert_eq!(
        plain.header("x-cache"),
        Some("miss"),
        "cached from its second miss"
    );
    assert_eq!(plain.status, 200);
    assert!(plain.body.len() > 4096, "{} bytes", plain.body.len());
    assert_eq!(plain.header("content-encoding"), None);
    assert!(varies(&plain));
    assert_eq!(plain.json()["data"].as_array().map(Vec::len), Some(30));

    let gzip = call(&svc, accepting("/signals?limit=50", "gzip")).await;
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert!(varies(&gzip));
    assert_eq!(gzip.header("x-cache"), Some("hit"));
    assert!(
        gzip.body.len() * 4 < plain.body.len(),
        "{}",
        gzip.body.len()
    );
    assert_eq!(gunzip(&gzip.body), plain.body);

    let again = call(&svc, accepting("/signals?limit=50", "gzip")).await;
    assert_eq!(
        again.body, gzip.body,
        "the stored form, not a new compression"
    );

    let br = call(
        &svc,
        accepting("/signals?limit=50", "gzip, deflate, br, zstd"),
    )
    .await;
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(unbrotli(&br.body), plain.body);

    let prefer_gzip = call(&svc, accepting("/signals?limit=50", "br;q=0.5, gzip")).await;
    assert_eq!(prefer_gzip.header("content-encoding"), Some("gzip"));

    // A first request that misses is compressed too.
    let miss = call(&svc, accepting("/signals?limit=40", "br")).await;
    assert_eq!(miss.header("x-cache"), Some("miss"));
    assert_eq!(miss.header("content-encoding"), Some("br"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&unbrotli(&miss.body)).expect("json")["data"]
            .as_array()
            .map(Vec::len),
        Some(30)
    );
}

#[actix_web::test]
async fn identity_when_asked_or_when_every_coding_is_refused() {
    let w = seeded().await;
    let svc = test::init_service(api::app(&w.parts)).await;
    let plain = call(&svc, get("/signals?limit=50")).await;
    for accept in [
        "identity",
        "gzip;q=0",
        "br;q=0, gzip;q=0",
        "deflate",
        "gzip;q=0.5, identity",
    ] {
        let r = call(&svc, accepting("/signals?limit=50", accept)).await;
        assert_eq!(r.header("content-encoding"), None, "{accept}");
        assert_eq!(r.body, plain.body, "{accept}");
    }
}

#[actix_web::test]
async fn tiny_bodies_stay_plain() {
    let w = world();
    w.seed().await;
    let svc = test::init_service(api::app(&w.parts)).await;
    for uri in ["/signals?limit=1", "/health/live", "/signals/999999"] {
        let r = call(&svc, accepting(uri, "gzip, br")).await;
        assert!(r.body.len() < 1024, "{uri}: {} bytes", r.body.len());
        assert_eq!(r.header("content-encoding"), None, "{uri}");
        serde_json::from_slice::<serde_json::Value>(&r.body).expect("plain JSON");
    }
}

#[actix_web::test]
async fn uncached_json_and_the_csv_export_are_compressed_sse_never() {
    let w = seeded().await;
    let svc = test::init_service(api::app(&w.parts)).await;
    let plain = call(&svc, get("/signals/export?format=csv")).await;
    assert_eq!(plain.status, 200);
    assert!(plain.body.len() > 1024);
    let gzip = call(&svc, accepting("/signals/export?format=csv", "gzip")).await;
    assert_eq!(gzip.status, 200);
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert!(
        gzip.header("content-type")
            .unwrap_or("")
            .starts_with("text/csv")
    );
    let csv = gunzip(&gzip.body);
    assert!(gzip.body.len() * 3 < csv.len());
    assert_eq!(csv, plain.body);
    assert_eq!(
        String::from_utf8_lossy(&csv).matches("BOVAW32").count(),
        60,
        "30 rows, each naming the asset in its asset and text cells"
    );

    let br = call(&svc, accepting("/messages?limit=50", "br")).await;
    assert_eq!(br.status, 200);
    assert_eq!(br.header("content-encoding"), Some("br"));
    unbrotli(&br.body);

    let req = accepting("/signals/stream", "gzip, br").to_request();
    let res = test::call_service(&svc, req).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    assert!(res.headers().get("content-encoding").is_none());
}
