//! The fake gateway's message store: rows as its database holds them, the `unprocessed` listing
//! and the acknowledgement exactly as the real SQL behaves.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// A message the fake gateway receives from "Telegram".
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayMessage {
    /// The chat id (`-100…`).
    pub channel_id: i64,
    /// The message id inside the chat.
    pub message_id: i64,
    /// Text; `None` for a photo (its text, if any, is the caption).
    pub text: Option<String>,
    /// Photo caption.
    pub caption: Option<String>,
    /// `text`, `photo` …
    pub media_type: Option<String>,
    /// Telegram time.
    pub telegram_date: DateTime<Utc>,
}

impl GatewayMessage {
    /// A text message.
    pub fn text(channel_id: i64, message_id: i64, text: &str, date: DateTime<Utc>) -> Self {
        Self {
            channel_id,
            message_id,
            text: Some(text.to_owned()),
            caption: None,
            media_type: Some("text".to_owned()),
            telegram_date: date,
        }
    }

    /// A photo without caption (empty text).
    pub fn photo(channel_id: i64, message_id: i64, date: DateTime<Utc>) -> Self {
        Self {
            channel_id,
            message_id,
            text: Some(String::new()),
            caption: None,
            media_type: Some("photo".to_owned()),
            telegram_date: date,
        }
    }

    /// The push payload the gateway's listener sends.
    pub fn push_payload(&self, received_at: DateTime<Utc>) -> Value {
        json!({
            "channelId": self.channel_id.to_string(),
            "messageId": self.message_id,
            "text": self.text.clone().unwrap_or_default(),
            "caption": self.caption,
            "timestamp": iso(self.telegram_date),
            "telegramDate": iso(self.telegram_date),
            "receivedAt": iso(received_at),
            "photos": if self.media_type.as_deref() == Some("photo") { json!([{"fileId": "AgAC"}]) } else { json!([]) },
            "mediaRefs": [],
            "mediaType": self.media_type,
            "threadId": null,
            "source": "user_client",
            "messageType": "channel_post",
            "chatId": self.channel_id.to_string(),
            "metadata": {},
        })
    }
}

/// One row of the gateway's database.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Primary key (numeric, as a string on the wire).
    pub id: u64,
    /// The message.
    pub message: GatewayMessage,
    /// `received`, `queued` or `published`.
    pub status: String,
    /// `metadata.processed_by`: the last consumer that acknowledged it.
    pub processed_by: Option<String>,
    /// Reception time.
    pub received_at: DateTime<Utc>,
    /// Set by the acknowledgement.
    pub published_at: Option<DateTime<Utc>>,
}

/// `2026-11-28T02:05:07.123Z`, as Node's `toISOString`.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Row {
    /// The row as `GET /api/messages/unprocessed` serialises it (64-bit numbers as strings).
    pub fn to_wire(&self) -> Value {
        let m = &self.message;
        let mut metadata = json!({ "chatTitle": format!("Canal {}", m.channel_id) });
        if let Some(by) = &self.processed_by {
            metadata["processed_by"] = json!(by);
        }
        json!({
            "id": self.id.to_string(),
            "channelId": m.channel_id.to_string(),
            "messageId": m.message_id.to_string(),
            "threadId": null,
            "source": "user_client",
            "messageType": "channel_post",
            "text": m.text,
            "caption": m.caption,
            "mediaType": m.media_type,
            "mediaRefs": [],
            "status": self.status,
            "receivedAt": iso(self.received_at),
            "telegramDate": iso(m.telegram_date),
            "publishedAt": self.published_at.map(iso),
            "createdAt": iso(self.received_at),
            "updatedAt": iso(self.published_at.unwrap_or(self.received_at)),
            "metadata": metadata,
        })
    }
}

/// The listing's filters.
#[derive(Debug, Clone)]
pub struct Listing {
    /// `channel`.
    pub channel: i64,
    /// `status` (default `received`).
    pub statuses: Vec<String>,
    /// `excludeProcessedBy`.
    pub exclude_processed_by: Option<String>,
    /// `limit`, already capped.
    pub limit: usize,
}

/// The rows of a listing, oldest first (`received_at ASC, id ASC`).
pub fn list<'a>(rows: &'a [Row], q: &Listing) -> Vec<&'a Row> {
    let mut found: Vec<&Row> = rows
        .iter()
        .filter(|r| r.message.channel_id == q.channel)
        .filter(|r| q.statuses.contains(&r.status))
        .filter(|r| match &q.exclude_processed_by {
            Some(name) => r.processed_by.as_deref() != Some(name.as_str()),
            None => true,
        })
        .collect();
    found.sort_by_key(|r| (r.received_at, r.id));
    found.truncate(q.limit);
    found
}

/// The acknowledgement: every row whose message id is listed, in every channel.
pub fn acknowledge(rows: &mut [Row], ids: &[i64], by: &str, now: DateTime<Utc>) -> u64 {
    let mut updated = 0;
    for row in rows
        .iter_mut()
        .filter(|r| ids.contains(&r.message.message_id))
    {
        row.status = "published".to_owned();
        row.processed_by = Some(by.to_owned());
        row.published_at = Some(now);
        updated += 1;
    }
    updated
}
