//! What `/messages` answers (the archive, with the legacy `/forwarded-messages` fields), and the
//! body and report of `POST /messages/reparse`.

use chrono::{DateTime, Utc};
use domain::ports::{ArchivedMessage, MessageClass};
use domain::services::ReparseReport;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::common::dto::{iso, iso_opt};

/// Outcome of an archived delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeName {
    /// A trade call.
    Signal,
    /// An update of an earlier call.
    Update,
    /// Not a trade call.
    Ignored,
    /// A call that cannot be trusted.
    Rejected,
}

impl From<MessageClass> for OutcomeName {
    fn from(o: MessageClass) -> Self {
        match o {
            MessageClass::Signal => OutcomeName::Signal,
            MessageClass::Update => OutcomeName::Update,
            MessageClass::Ignored => OutcomeName::Ignored,
            MessageClass::Rejected => OutcomeName::Rejected,
        }
    }
}

impl From<OutcomeName> for MessageClass {
    fn from(o: OutcomeName) -> Self {
        match o {
            OutcomeName::Signal => MessageClass::Signal,
            OutcomeName::Update => MessageClass::Update,
            OutcomeName::Ignored => MessageClass::Ignored,
            OutcomeName::Rejected => MessageClass::Rejected,
        }
    }
}

/// One archived delivery, with the legacy `/forwarded-messages` fields beside the new ones.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 99, "channel_id": -1001649127710_i64, "message_id": 4521,
    "message_date": "2025-10-20T13:00:00.000Z", "edit_date": null, "text": "Bom dia pessoal!",
    "outcome": "ignored", "reason": "no trade call or signal update found", "parser_version": "1.0.0",
    "media_type": null, "source": "bot", "metadata": {}, "received_at": "2025-10-20T13:00:01.120Z",
    "deleted_at": null, "ts": 1760965200000_i64, "message_text": "Bom dia pessoal!",
    "original_timestamp": "2025-10-20T13:00:00.000Z", "source_channel_id": "-1001649127710",
    "forwarded_at": "2025-10-20T13:00:01.120Z", "photos": null
}))]
pub struct MessageItem<'a> {
    /// Archive row id.
    pub id: i64,
    /// Telegram chat id.
    pub channel_id: i64,
    /// Telegram message id.
    pub message_id: i64,
    /// Telegram message time.
    #[serde(serialize_with = "iso")]
    pub message_date: DateTime<Utc>,
    /// Telegram edit time of this delivery.
    #[serde(serialize_with = "iso_opt")]
    pub edit_date: Option<DateTime<Utc>>,
    /// Text or caption.
    #[schema(value_type = String)]
    pub text: &'a str,
    /// What the parser made of it.
    pub outcome: OutcomeName,
    /// Why it was ignored or rejected.
    #[schema(value_type = Option<String>)]
    pub reason: Option<&'a str>,
    /// The parser that decided.
    #[schema(value_type = String)]
    pub parser_version: &'a str,
    /// `photo`, `video` …
    #[schema(value_type = Option<String>)]
    pub media_type: Option<&'a str>,
    /// `bot` or `user_client`.
    #[schema(value_type = Option<String>)]
    pub source: Option<&'a str>,
    /// Everything else the gateway sent.
    #[schema(value_type = Object)]
    pub metadata: &'a serde_json::Value,
    /// When it was archived.
    #[serde(serialize_with = "iso")]
    pub received_at: DateTime<Utc>,
    /// When Telegram reported it deleted.
    #[serde(serialize_with = "iso_opt")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Legacy: message time, epoch milliseconds.
    pub ts: i64,
    /// Legacy: the text.
    #[schema(value_type = String)]
    pub message_text: &'a str,
    /// Legacy: message time.
    #[serde(serialize_with = "iso")]
    pub original_timestamp: DateTime<Utc>,
    /// Legacy: the chat id as text.
    pub source_channel_id: String,
    /// Legacy: when it was archived.
    #[serde(serialize_with = "iso")]
    pub forwarded_at: DateTime<Utc>,
    /// Legacy: the gateway's `photos` as it sent them (usually an array of file objects, but
    /// any JSON is kept), when it sent any.
    #[schema(value_type = Option<serde_json::Value>)]
    pub photos: Option<&'a serde_json::Value>,
}

impl<'a> MessageItem<'a> {
    /// The item of `m`.
    pub fn from_archived(a: &'a ArchivedMessage) -> Self {
        let m = &a.message;
        Self {
            id: a.id,
            channel_id: m.channel_id.0,
            message_id: m.message_id.0,
            message_date: m.date,
            edit_date: m.edit_date,
            text: &m.text,
            outcome: a.outcome.into(),
            reason: a.reason.as_deref(),
            parser_version: &a.parser_version,
            media_type: m.media_type.as_deref(),
            source: m.source.as_deref(),
            metadata: &m.metadata,
            received_at: a.received_at,
            deleted_at: a.deleted_at,
            ts: m.date.timestamp_millis(),
            message_text: &m.text,
            original_timestamp: m.date,
            source_channel_id: m.channel_id.0.to_string(),
            forwarded_at: a.received_at,
            photos: m.metadata.get("photos").filter(|p| !p.is_null()),
        }
    }
}

/// A page of the archive, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePageBody<'a> {
    /// The rows.
    pub data: Vec<MessageItem<'a>>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The body of `POST /messages/reparse`. With neither `from` nor `to`, the rejected set is
/// re-parsed (unless `outcome` says otherwise).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": "2025-10-01", "to": "2025-10-31", "outcome": "rejected", "dry_run": true}))]
pub struct ReparseBody {
    /// Message time at or after: ISO date, ISO date-time or epoch milliseconds.
    #[serde(default)]
    #[schema(schema_with = crate::common::instant::instant_or_null_schema)]
    pub from: Option<serde_json::Value>,
    /// Message time at or before: ISO date (whole day), ISO date-time or epoch milliseconds.
    #[serde(default)]
    #[schema(schema_with = crate::common::instant::instant_or_null_schema)]
    pub to: Option<serde_json::Value>,
    /// Only deliveries with this outcome.
    #[serde(default)]
    pub outcome: Option<OutcomeName>,
    /// Only this channel.
    #[serde(default, deserialize_with = "integral")]
    #[schema(value_type = Option<i64>, minimum = -9_000_000_000_000_000_f64, maximum = 9_000_000_000_000_000_f64)]
    pub channel_id: Option<i64>,
    /// Most deliveries examined by this call (1–50000, default 10000).
    #[serde(default, deserialize_with = "integral")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 50000)]
    pub limit: Option<i64>,
    /// `next_cursor` of a previous, truncated run.
    #[serde(default)]
    #[schema(schema_with = crate::common::params::cursor_or_null_schema)]
    pub cursor: Option<String>,
    /// Only report what would change.
    #[serde(default)]
    pub dry_run: bool,
}

/// The largest magnitude [`integral`] takes: below 2^53, so an integer written as a JSON float
/// (`3.0`) is still exact; Telegram's channel ids stay far below it.
const INTEGRAL_MAX: u64 = 9_000_000_000_000_000;

/// An integer of at most [`INTEGRAL_MAX`], also when JSON writes it as `3.0` (JSON Schema's
/// integers include those).
fn integral<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let out_of_range = || {
        D::Error::custom(format!(
            "{n} is out of range (at most {INTEGRAL_MAX} either side of zero)"
        ))
    };
    if let Some(v) = n.as_i64() {
        return match v.unsigned_abs() <= INTEGRAL_MAX {
            true => Ok(Some(v)),
            false => Err(out_of_range()),
        };
    }
    match n.as_f64() {
        Some(f) if f.fract() != 0.0 => Err(D::Error::custom(format!("{n} is not an integer"))),
        Some(f) if f.abs() <= INTEGRAL_MAX as f64 => Ok(Some(f as i64)),
        _ => Err(out_of_range()),
    }
}

/// Deliveries moved from one outcome to another.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionItem {
    /// Stored outcome.
    pub from: OutcomeName,
    /// Current parser's outcome.
    pub to: OutcomeName,
    /// Deliveries.
    pub count: u32,
}

/// Re-read signals whose `field` changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldChangeItem {
    /// `asset`, `direction`, `kind`, `entry`, `targets`, `target_final`, `stop`, `valid_until`.
    pub field: String,
    /// Signals.
    pub count: u32,
}

/// One delivery the current parser reads differently.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReparseSampleItem {
    /// The chat.
    pub channel_id: i64,
    /// The message.
    pub message_id: i64,
    /// Stored outcome.
    pub from: OutcomeName,
    /// Current parser's outcome.
    pub to: OutcomeName,
    /// For a stored signal read again as a call: the fields that differ.
    pub fields: Vec<String>,
    /// The current parser's reason, for ignored and rejected.
    pub reason: Option<String>,
}

/// What a re-parse did.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "examined": 120, "reclassified": 7, "signals_created": 5, "updates_applied": 1,
    "transitions": [{"from": "rejected", "to": "signal", "count": 5}],
    "new_signals": 5, "changed_signals": 1, "field_changes": [{"field": "stop", "count": 1}],
    "samples": [{"channel_id": -1001649127710_i64, "message_id": 812, "from": "signal", "to": "signal",
                 "fields": ["stop"], "reason": null}],
    "dry_run": false, "next_cursor": null, "parser_version": "1.0.0"
}))]
pub struct ReparseReportBody {
    /// Deliveries read.
    pub examined: u32,
    /// Deliveries whose verdict changed (recorded unless dry run).
    pub reclassified: u32,
    /// Signals created.
    pub signals_created: u32,
    /// Updates applied.
    pub updates_applied: u32,
    /// Outcome changes by pair.
    pub transitions: Vec<TransitionItem>,
    /// Deliveries that now read as a call and did not before (created unless dry run).
    pub new_signals: u32,
    /// Stored signals the current parser reads with different fields (reported, not rewritten).
    pub changed_signals: u32,
    /// How many of those changed each field.
    pub field_changes: Vec<FieldChangeItem>,
    /// The first deliveries that change, for review.
    pub samples: Vec<ReparseSampleItem>,
    /// Nothing was written.
    pub dry_run: bool,
    /// More deliveries matched than `limit`: pass as `cursor` to continue.
    pub next_cursor: Option<String>,
    /// The parser that re-read them.
    pub parser_version: &'static str,
}

impl From<ReparseReport> for ReparseReportBody {
    fn from(r: ReparseReport) -> Self {
        Self {
            examined: r.examined,
            reclassified: r.reclassified,
            signals_created: r.signals_created,
            updates_applied: r.updates_applied,
            transitions: r
                .transitions
                .into_iter()
                .map(|t| TransitionItem {
                    from: t.from.into(),
                    to: t.to.into(),
                    count: t.count,
                })
                .collect(),
            new_signals: r.new_signals,
            changed_signals: r.changed_signals,
            field_changes: r
                .field_changes
                .into_iter()
                .map(|f| FieldChangeItem {
                    field: f.field,
                    count: f.count,
                })
                .collect(),
            samples: r
                .samples
                .into_iter()
                .map(|c| ReparseSampleItem {
                    channel_id: c.channel_id.0,
                    message_id: c.message_id.0,
                    from: c.from.into(),
                    to: c.to.into(),
                    fields: c.fields,
                    reason: c.reason,
                })
                .collect(),
            dry_run: r.dry_run,
            next_cursor: r.next.as_ref().map(crate::cursor::encode_message),
            parser_version: domain::PARSER_VERSION,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReparseBody;

    fn channel(json: &str) -> Result<Option<i64>, String> {
        serde_json::from_str::<ReparseBody>(&format!(r#"{{"channel_id": {json}}}"#))
            .map(|b| b.channel_id)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn channel_ids_are_integers_within_the_exact_range_however_written() {
        assert_eq!(channel("-1001649127710"), Ok(Some(-1001649127710)));
        assert_eq!(channel("-1001649127710.0"), Ok(Some(-1001649127710)));
        assert_eq!(channel("null"), Ok(None));
        for beyond in [
            "-9007199254740991.0",
            "9007199254740991",
            "18446744073709551615",
            "1e300",
        ] {
            let err = channel(beyond).expect_err(beyond);
            assert!(err.contains("out of range"), "{beyond}: {err}");
        }
        assert!(
            channel("1.5")
                .expect_err("fraction")
                .contains("not an integer")
        );
    }
}
