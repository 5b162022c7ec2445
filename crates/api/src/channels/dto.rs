//! What `/channels` answers and what `PUT /channels/{channel_id}` reads.

use chrono::{DateTime, Utc};
use domain::model::SignalKind;
use domain::ports::ChannelSummary;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::common::dto::{KindName, SignalTypeLabel, iso_opt};

/// Archived deliveries by outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeCountsItem {
    /// Calls.
    pub signal: u64,
    /// Updates.
    pub update: u64,
    /// Ignored.
    pub ignored: u64,
    /// Rejected.
    pub rejected: u64,
}

/// A channel with its settings and activity.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "channel_id": -1001649127710_i64, "label": "TP Capital", "default_kind": "swing_trade",
    "signal_type": "Swing Trade", "signal_count": 1520, "last_signal_at": "2025-10-20T13:00:00.000Z",
    "messages": {"signal": 1530, "update": 210, "ignored": 800, "rejected": 12},
    "last_message_at": "2025-10-20T13:05:00.000Z"
}))]
pub struct ChannelItem {
    /// Telegram chat id.
    pub channel_id: i64,
    /// Display name, when set.
    pub label: Option<String>,
    /// Kind applied to calls that do not say one (`null` = swing trade).
    pub default_kind: Option<KindName>,
    /// The same as the legacy label.
    pub signal_type: SignalTypeLabel,
    /// Signals stored (not deleted).
    pub signal_count: u64,
    /// Message time of the latest signal.
    #[serde(serialize_with = "iso_opt")]
    pub last_signal_at: Option<DateTime<Utc>>,
    /// Archived deliveries by outcome (the archive keeps 30 days).
    pub messages: OutcomeCountsItem,
    /// Message time of the latest archived delivery.
    #[serde(serialize_with = "iso_opt")]
    pub last_message_at: Option<DateTime<Utc>>,
}

impl From<ChannelSummary> for ChannelItem {
    fn from(c: ChannelSummary) -> Self {
        Self {
            channel_id: c.channel_id.0,
            label: c.label,
            default_kind: c.default_kind.map(KindName::from),
            signal_type: c.default_kind.unwrap_or(SignalKind::SwingTrade).into(),
            signal_count: c.signal_count,
            last_signal_at: c.last_signal_at,
            messages: OutcomeCountsItem {
                signal: c.messages.signal,
                update: c.messages.update,
                ignored: c.messages.ignored,
                rejected: c.messages.rejected,
            },
            last_message_at: c.last_message_at,
        }
    }
}

/// Every channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelListBody {
    /// By channel id.
    pub data: Vec<ChannelItem>,
}

/// The body of `PUT /channels/{channel_id}`. Omitted fields keep their value; `null` clears.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"label": "TP Capital", "default_kind": "swing_trade"}))]
pub struct ChannelUpdateBody {
    /// Display name (1–100 characters, not blank), or `null` to clear.
    #[serde(default, deserialize_with = "some")]
    #[schema(schema_with = label_schema)]
    pub label: Option<Option<String>>,
    /// Kind applied to calls that say none: machine name or legacy label, or `null` to clear.
    #[serde(default, deserialize_with = "some")]
    #[schema(schema_with = default_kind_schema)]
    pub default_kind: Option<Option<String>>,
}

/// What a label may be: 1–100 characters, no NUL, not only blanks.
pub const LABEL_PATTERN: &str = "^[^\\u0000]*[^\\u0000 \\t\\n\\r][^\\u0000]*$";

fn label_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .min_length(Some(1))
        .max_length(Some(100))
        .pattern(Some(LABEL_PATTERN))
        .examples([json!("TP Capital")])
        .into()
}

fn default_kind_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .enum_values(Some(
            crate::common::params::KIND_VALUES
                .iter()
                .map(|k| json!(k))
                .chain([serde_json::Value::Null]),
        ))
        .examples([json!("swing_trade")])
        .into()
}

/// Distinguishes an explicit `null` (`Some(None)`) from an omitted field (`None`).
fn some<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
