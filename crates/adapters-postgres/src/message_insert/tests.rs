use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use serde_json::value::RawValue;

use crate::signal_insert::MessageColumns;

use super::{ArchiveAnswer, MessageInsert, MessageMetadata, first_deliveries, insert_messages_sql};

fn row(message_id: i64, edit_nanos: Option<i64>, text: &str) -> MessageInsert<'_> {
    let date = DateTime::parse_from_rfc3339("2025-10-20T13:05:00.123456789Z")
        .expect("date")
        .with_timezone(&Utc);
    MessageInsert {
        message: MessageColumns {
            channel_id: -100,
            message_id,
            message_date: date,
            edit_date: edit_nanos.map(|n| date + Duration::nanoseconds(n)),
        },
        text: Cow::Borrowed(text),
        media_type: None,
        source: None,
        metadata: MessageMetadata::Value(Cow::Owned(serde_json::Value::Null)),
        outcome: "ignored",
        reason: None,
        parser_version: "p",
        received_at: None,
        import_id: None,
    }
}

#[test]
fn the_first_row_of_each_delivery_goes_in_identity_order() {
    // +1_000 ns and +1_100 ns fall in the same microsecond: the same delivery as stored.
    let rows = [
        row(3, None, "a"),
        row(1, Some(1_000), "b"),
        row(3, None, "c"),
        row(1, Some(1_100), "d"),
        row(1, None, "e"),
    ];
    let firsts: Vec<(usize, &str)> = first_deliveries(&rows)
        .into_iter()
        .map(|(i, r)| (i, r.text.as_ref()))
        .collect();
    assert_eq!(firsts, [(4, "e"), (1, "b"), (0, "a")]);
}

#[test]
fn both_answers_share_the_claim_and_the_insert() {
    let keys = insert_messages_sql(ArchiveAnswer::Keys);
    let count = insert_messages_sql(ArchiveAnswer::Count);
    assert!(keys.ends_with("DO NOTHING\nRETURNING m.channel_id, m.message_id, m.edit_date"));
    assert!(count.ends_with("DO NOTHING"));
    assert!(keys.starts_with(count));
}

#[test]
fn the_arrays_carry_legacy_metadata_as_its_text_and_null_as_null() {
    let raw: &RawValue =
        serde_json::from_str(r#"{"legacy_photos": [1.04000000000000000001]}"#).expect("json");
    let mut legacy = row(1, Some(1_999), "x");
    legacy.metadata = MessageMetadata::Json(raw);
    let mut value = row(2, None, "y");
    value.metadata = MessageMetadata::Value(Cow::Owned(serde_json::json!({"k": 1})));
    let none = row(3, None, "z");
    let a = super::MessageArrays::of(&[&legacy, &value, &none]);
    let meta: Vec<Option<&str>> = a.metadata.iter().map(|m| m.as_deref()).collect();
    assert_eq!(
        meta,
        [
            Some(r#"{"legacy_photos": [1.04000000000000000001]}"#),
            Some(r#"{"k":1}"#),
            None
        ]
    );
    assert_eq!(a.edit_date[0], legacy.delivery_key().2);
    assert_eq!(a.message_date[0].timestamp_subsec_nanos(), 123_456_000);
}
