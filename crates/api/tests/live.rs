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
    w.parts.state.fanout.spawn(w.parts.state.ports.clone());
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

    w.ingest(&[message(CHANNEL, 1, at(20, 13), BOVAW32)]).await;
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
    w.ingest(&[message(CHANNEL, 2, at(21, 13), PETR4)]).await;
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
async fn keep_alives_flow_and_the_fanout_is_capped() {
    let w = world();
    let fanout = &w.parts.state.fanout;
    let (rx, guard) = fanout.join(None).expect("room");
    let mut body = Box::pin(api::stream::body(
        Vec::new(),
        None,
        rx,
        guard,
        Duration::from_millis(30),
    ));
    use futures_util::StreamExt;
    let first = body.next().await.expect("preamble").expect("bytes");
    assert!(String::from_utf8_lossy(&first).contains("retry: 3000"));
    let second = body.next().await.expect("keep-alive").expect("bytes");
    assert_eq!(&second[..], b": keep-alive\n\n");
    // The test fan-out holds 4 clients.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(fanout.join(None).expect("room"));
    }
    let full = send(&w, get("/signals/stream")).await;
    full.problem(503);
    drop(held);
    drop(body);
    assert_eq!(fanout.clients(), 0);
    let _ = w.events.subscribe().await;
}

/// Reads a whole SSE reply until `needle` (the stream never ends by itself).
async fn stream_until(w: &World, req: test::TestRequest, needle: &str) -> String {
    let svc = test::init_service(api::app(&w.parts)).await;
    let res = test::call_service(&svc, req.to_request()).await;
    assert_eq!(res.status(), 200);
    let body = res.into_body();
    let mut body = pin!(body);
    let mut seen = String::new();
    read_until(&mut body, &mut seen, needle).await;
    seen
}

#[actix_web::test]
async fn replay_needs_a_position_of_this_feed_and_is_bounded_without_a_key() {
    let w = world();
    let garbage = stream_until(
        &w,
        get("/signals/stream").insert_header(("Last-Event-ID", "1760965200123456-x")),
        "event: reset",
    )
    .await;
    assert!(garbage.contains("not a position"), "{garbage}");
    assert!(!garbage.contains("event: signal"));

    let messages: Vec<_> = (1..=120)
        .map(|i| message(CHANNEL, i, at(20, 13), VALE3))
        .collect();
    w.ingest(&messages).await;
    let anonymous = stream_until(
        &w,
        get("/signals/stream").insert_header(("Last-Event-ID", "0-0")),
        "event: reset",
    )
    .await;
    assert!(anonymous.contains("too many changes"), "{anonymous}");
    assert!(
        !anonymous.contains("event: signal"),
        "a refused replay sends nothing but the reset"
    );
    let keyed = stream_until(
        &w,
        get("/signals/stream")
            .insert_header(("Last-Event-ID", "0-0"))
            .insert_header(("X-API-Key", KEY)),
        "\"message_id\":120,",
    )
    .await;
    assert_eq!(keyed.matches("event: signal").count(), 120, "all, once");
    assert!(!keyed.contains("event: reset"));
}

#[actix_web::test]
async fn a_client_holds_at_most_its_share_of_streams() {
    use api::common::slots::ClientId;
    let fanout = api::stream::LiveFanout::with_per_client(10, 2);
    let me = ClientId::Ip("10.0.0.1".parse().expect("ip"));
    let first = fanout.join(Some(me.clone())).expect("1st");
    let _second = fanout.join(Some(me.clone())).expect("2nd");
    let refused = fanout.join(Some(me.clone())).expect_err("capped");
    assert_eq!(refused, api::stream::JoinRefused::ClientShare);
    assert_eq!(
        service_kit::Problem::from(refused).status_code().as_u16(),
        429
    );
    assert!(
        fanout.join(Some(ClientId::Key(1))).is_ok(),
        "others have room"
    );
    drop(first);
    assert!(
        fanout.join(Some(me)).is_ok(),
        "a closed stream frees its slot"
    );
}

#[actix_web::test]
async fn exports_are_capped_per_client_and_in_rows_without_a_key() {
    let w = world();
    w.seed().await;
    let svc = test::init_service(api::app(&w.parts)).await;
    let export = || get("/signals/export?format=csv").to_request();
    let first = test::call_service(&svc, export()).await;
    let second = test::call_service(&svc, export()).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = test::call_service(&svc, export()).await;
    assert_eq!(third.status(), 429, "two exports at once per client");
    drop(first);
    let fourth = test::call_service(&svc, export()).await;
    assert_eq!(fourth.status(), 200, "a finished export frees its slot");
    drop((second, third, fourth));

    let messages: Vec<_> = (1..=10_001)
        .map(|i| message(CHANNEL + 1, i, at(20, 13), VALE3))
        .collect();
    for chunk in messages.chunks(1000) {
        w.ingest(chunk).await;
    }
    let rows = |reply: &Reply| reply.json().as_array().map_or(0, Vec::len);
    let anonymous = send(&w, get("/signals/export?format=json")).await;
    assert_eq!(anonymous.status, 200);
    assert_eq!(rows(&anonymous), 10_000, "the cap without a key");
    let keyed = send(
        &w,
        get("/signals/export?format=json").insert_header(("X-API-Key", KEY)),
    )
    .await;
    assert_eq!(rows(&keyed), 10_001 + 3, "a key exports everything");
}
