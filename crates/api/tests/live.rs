//! `/signals/stream` in process: live events from the event port, keep-alives, catch-up with
//! `Last-Event-ID`, and the subscriber cap.

mod common;

use std::future::poll_fn;
use std::pin::pin;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::test;
use common::*;
use domain::ports::SignalEvents;

/// Reads body chunks until `needle` appears (or fails after 5 s).
async fn read_until<B: MessageBody>(
    body: &mut std::pin::Pin<&mut B>,
    seen: &mut String,
    needle: &str,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, poll_fn(|cx| body.as_mut().poll_next(cx)))
            .await
            .unwrap_or_else(|_| panic!("no `{needle}` within 5 s; got: {seen}"));
        match chunk {
            Some(Ok(bytes)) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Some(Err(_)) => panic!("stream error; got: {seen}"),
            None => panic!("stream ended; got: {seen}"),
        }
    }
}

#[actix_web::test]
async fn new_signals_reach_subscribers_and_reconnections_catch_up() {
    let w = world();
    w.parts.state.hub.spawn(w.parts.state.ports.clone());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let svc = test::init_service(api::app(&w.parts)).await;
    let res = test::call_service(&svc, get("/signals/stream").to_request()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let body = res.into_body();
    let mut body = pin!(body);
    let mut seen = String::new();
    read_until(&mut body, &mut seen, ": connected").await;

    w.ingest(&[message(CHANNEL, 1, at(20, 13), BOVA)]).await;
    read_until(&mut body, &mut seen, "\"kind\":\"created\"").await;
    assert!(seen.contains("event: signal"));
    assert!(seen.contains("\"asset\":\"BOVAW32\""));
    assert!(seen.contains("\"buy_min\":1.04"), "the full row: {seen}");
    let id_line = seen
        .lines()
        .find(|l| l.starts_with("id: "))
        .expect("an event id")
        .trim_start_matches("id: ")
        .to_owned();

    // Two more changes while "disconnected"; a reconnection with the last id gets them.
    w.ingest(&[message(CHANNEL, 2, at(21, 13), PETR)]).await;
    w.ingest(&[message(
        CHANNEL,
        3,
        at(21, 14),
        "✅ Alvo 1 atingido em BOVAW32!",
    )])
    .await;
    let again = test::call_service(
        &svc,
        get("/signals/stream")
            .insert_header(("Last-Event-ID", id_line.as_str()))
            .to_request(),
    )
    .await;
    let body = again.into_body();
    let mut body = pin!(body);
    let mut replay = String::new();
    read_until(&mut body, &mut replay, "\"asset\":\"PETR4\"").await;
    read_until(&mut body, &mut replay, "\"status\":\"target_hit\"").await;
}

#[actix_web::test]
async fn keep_alives_flow_and_the_hub_is_capped() {
    let w = world();
    let hub = &w.parts.state.hub;
    let (rx, guard) = hub.join().expect("room");
    let mut body = Box::pin(api::stream::body(
        Vec::new(),
        rx,
        guard,
        Duration::from_millis(30),
    ));
    use futures_util::StreamExt;
    let first = body.next().await.expect("preamble").expect("bytes");
    assert!(String::from_utf8_lossy(&first).contains("retry: 3000"));
    let second = body.next().await.expect("keep-alive").expect("bytes");
    assert_eq!(&second[..], b": keep-alive\n\n");
    // The test hub holds 4 clients.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(hub.join().expect("room"));
    }
    let full = send(&w, get("/signals/stream")).await;
    full.problem(503);
    drop(held);
    drop(body);
    assert_eq!(hub.clients(), 0);
    let _ = w.events.subscribe().await;
}
