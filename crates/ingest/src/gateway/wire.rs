//! The gateway's REST bodies: a page of `unprocessed` rows (64-bit numbers as strings) turned into
//! [`FeedItem`]s through the same conversion as a push ([`GatewayMessage::try_into_domain`]), so a
//! message received both ways is the same delivery; and the acknowledgement and sync answers.

use chrono::{DateTime, Utc};
use domain::ports::FeedItem;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::dto::GatewayMessage;

/// Bookkeeping of the gateway's store, volatile and not part of the message.
const GATEWAY_BOOKKEEPING: [&str; 4] = ["status", "createdAt", "updatedAt", "publishedAt"];

/// `{"success": true, "data": [...]}` of `GET /api/messages/unprocessed`.
#[derive(Debug, Deserialize)]
pub struct Page {
    /// Anything but `true` is an error.
    #[serde(default)]
    pub success: Option<bool>,
    /// The rows.
    #[serde(default)]
    pub data: Vec<Value>,
    /// The gateway's explanation on errors.
    #[serde(default)]
    pub message: Option<String>,
}

/// `{"success": true, "data": {"updated": n}}` of `POST /api/messages/mark-processed`.
#[derive(Debug, Deserialize)]
pub struct Acknowledged {
    /// Anything but `true` is an error.
    #[serde(default)]
    pub success: Option<bool>,
    /// The counts.
    #[serde(default)]
    pub data: Option<AckCounts>,
    /// The gateway's explanation on errors.
    #[serde(default)]
    pub message: Option<String>,
}

/// Counts of an acknowledgement.
#[derive(Debug, Deserialize)]
pub struct AckCounts {
    /// Rows updated (every channel, duplicates included).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub updated: u64,
}

/// One row of the gateway's store as a [`FeedItem`]: never fails; an unreadable row becomes an
/// item whose message is the reason (acknowledged, not stored).
pub fn feed_item(row: Value) -> FeedItem {
    let ack_id = match row.get("messageId") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let received_at = row
        .get("receivedAt")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));
    let processed_by = row
        .pointer("/metadata/processed_by")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let message = to_message(row);
    FeedItem {
        ack_id,
        received_at,
        processed_by,
        message,
    }
}

fn to_message(row: Value) -> Result<domain::Message, String> {
    let Value::Object(mut fields) = row else {
        return Err("not a JSON object".to_owned());
    };
    for key in GATEWAY_BOOKKEEPING {
        fields.remove(key);
    }
    if let Some(id) = fields.remove("id") {
        fields.insert("gatewayId".to_owned(), id);
    }
    if let Some(Value::Object(metadata)) = fields.get_mut("metadata") {
        metadata.remove("processed_by");
    }
    let message: GatewayMessage = serde_json::from_value(Value::Object(fields.clone()))
        .map_err(|e| format!("unreadable row: {e}"))?;
    message
        .try_into_domain()
        .map_err(|e| format!("{}: {}", e.field, e.detail))
        .map(|mut m| {
            strip_empty(&mut m.metadata);
            m
        })
}

fn strip_empty(metadata: &mut Value) {
    if let Value::Object(map) = metadata {
        map.retain(|_, v| !v.is_null());
    }
}

fn lenient_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    })
}

/// `messageIds` and `processedBy` of an acknowledgement.
pub fn acknowledgement(ids: &[String], processed_by: &str) -> Value {
    let mut body = Map::new();
    body.insert(
        "messageIds".to_owned(),
        Value::Array(ids.iter().cloned().map(Value::String).collect()),
    );
    body.insert(
        "processedBy".to_owned(),
        Value::String(processed_by.to_owned()),
    );
    Value::Object(body)
}
