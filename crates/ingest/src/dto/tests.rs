//! Unit tests of the wire format: lenient ids and dates, batches item by item, size limits.

use chrono::{TimeZone, Utc};
use domain::Message;
use serde_json::{Value, json};
use service_kit::problem::Problem;

use super::*;

fn message(v: Value) -> Result<Message, FieldError> {
    serde_json::from_value::<GatewayMessage>(v)
        .map_err(|e| FieldError::new("", e.to_string()))?
        .try_into_domain()
}

#[test]
fn nul_characters_are_replaced_not_fatal() {
    let m = message(
        json!({"channelId": 1, "messageId": 3, "text": "Ativo\u{0}: PETR4", "timestamp": 1760965500,
        "metadata": {"k\u{0}": ["v\u{0}"]}}),
    )
    .expect("valid");
    assert_eq!(m.text, "Ativo\u{FFFD}: PETR4");
    assert_eq!(m.metadata["k\u{FFFD}"], json!(["v\u{FFFD}"]));
}

#[test]
fn ids_as_numbers_or_strings() {
    let a = message(json!({"channelId": -1001649127710_i64, "messageId": 7, "text": "x", "timestamp": 1760965500})).expect("number");
    let b = message(json!({"channelId": "-1001649127710", "messageId": "7", "text": "x", "timestamp": 1760965500})).expect("string");
    assert_eq!(a.channel_id, b.channel_id);
    assert_eq!(a.message_id, b.message_id);
}

#[test]
fn dates_in_every_legacy_form() {
    let expect = Utc
        .with_ymd_and_hms(2025, 10, 20, 13, 5, 0)
        .single()
        .expect("date");
    for date in [
        json!("2025-10-20T13:05:00Z"),
        json!("2025-10-20T13:05:00.000Z"),
        json!("2025-10-20T10:05:00-03:00"),
        json!("2025-10-20 13:05:00"),
        json!(1760965500),
        json!(1760965500000_i64),
        json!("1760965500"),
        json!(1760965500.0),
    ] {
        let m = message(json!({"channelId": 1, "messageId": 1, "telegramDate": date.clone()}))
            .expect("parses");
        assert_eq!(m.date, expect, "{date}");
    }
}

#[test]
fn caption_photos_and_unknown_fields() {
    let m = message(json!({
        "channelId": 1, "messageId": 2, "caption": "Ativo: PETR4", "timestamp": 1760965500,
        "photos": [{"id": "p"}], "messageType": "channel_post", "threadId": 9,
        "forwardFrom": {"id": 3}, "metadata": {"gateway": "v2"}
    }))
    .expect("valid");
    assert_eq!(m.text, "Ativo: PETR4");
    assert_eq!(m.media_type.as_deref(), Some("photo"));
    assert_eq!(m.metadata["forwardFrom"], json!({"id": 3}));
    assert_eq!(m.metadata["gateway"], "v2");
    assert_eq!(m.metadata["messageType"], "channel_post");
    assert_eq!(m.metadata["threadId"], 9);
    assert_eq!(m.metadata["photos"], json!([{"id": "p"}]));
}

#[test]
fn missing_or_implausible_dates_name_the_field() {
    let e = message(json!({"channelId": 1, "messageId": 2, "text": "x"})).expect_err("no date");
    assert_eq!(e.field, "telegramDate");
    let e = message(json!({"channelId": 1, "messageId": 2, "text": "x", "timestamp": 5}))
        .expect_err("1970");
    assert_eq!(e.field, "timestamp");
    let e = message(json!({"channelId": 1, "messageId": 0, "text": "x", "timestamp": 1760965500}))
        .expect_err("id 0");
    assert_eq!(e.field, "messageId");
}

#[test]
fn batch_items_are_validated_one_by_one() {
    let batch: BatchRequest = serde_json::from_value(json!([
        {"channelId": 1, "messageId": 1, "text": "a", "timestamp": 1760965500},
        {"channelId": true, "messageId": 2},
        {"channelId": 1, "messageId": 3, "text": "c"}
    ]))
    .expect("array");
    let items = batch.into_items().expect("size ok");
    assert!(items[0].is_ok());
    let bad = items[1].as_ref().expect_err("bad");
    assert_eq!((bad.index, bad.message_id), (1, Some(2)));
    assert_eq!(bad.error.field, "messages[1].channelId");
    let bad = items[2].as_ref().expect_err("bad");
    assert_eq!(bad.error.field, "messages[2].telegramDate");

    let wrapped: BatchRequest = serde_json::from_value(json!({"messages": []})).expect("object");
    assert!(wrapped.messages.is_empty());
    assert!(serde_json::from_value::<BatchRequest>(json!({})).is_err());
}

#[test]
fn text_and_caption_over_the_limits_are_413_and_clipped() {
    let long = "x".repeat(4_097);
    let e = message(json!({"channelId": 1, "messageId": 2, "text": long, "timestamp": 1760965500}))
        .expect_err("text too long");
    assert!(e.too_large && e.field == "text", "{e:?}");
    assert!(
        e.detail.len() < 200,
        "the value is not echoed: {}",
        e.detail
    );
    let problem = Problem::from(e);
    assert_eq!(problem.status_code().as_u16(), 413);
    let caption = "é".repeat(1_025);
    let e = message(
        json!({"channelId": 1, "messageId": 2, "caption": caption, "timestamp": 1760965500}),
    )
    .expect_err("caption too long");
    assert_eq!(e.field, "caption");
    let at_limit = message(
        json!({"channelId": 1, "messageId": 2, "text": "é".repeat(4_096),
        "caption": "c".repeat(1_024), "timestamp": 1760965500}),
    );
    assert!(at_limit.is_ok(), "exactly at the limits");

    let batch: BatchRequest = serde_json::from_value(json!([
        {"channelId": 1, "messageId": 1, "text": "a", "timestamp": 1760965500},
        {"channelId": 1, "messageId": 2, "text": "y".repeat(5_000), "timestamp": 1760965500},
    ]))
    .expect("array");
    let items = batch.into_items().expect("size ok");
    let bad = items[1].as_ref().expect_err("item too large");
    assert_eq!(bad.error.field, "messages[1].text");
    let answer = serde_json::to_value(InvalidItem::from(bad.clone())).expect("json");
    assert_eq!(answer["error"]["status"], 413, "{answer}");
    assert_eq!(answer["messageId"], 2);
}
