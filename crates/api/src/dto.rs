//! What the api answers, as documented in OpenAPI: the dashboard's signal rows (legacy fields
//! with their legacy types beside the new ones), details, stats, channels, the archive, logs and
//! re-parse reports — and their conversion from domain values.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use domain::model::{Direction, Price, SignalKind, SignalStatus};
use domain::ports::{
    ArchivedMessage, ChannelSummary, MessageOutcome, SignalDetail, SignalRow, SignalStats,
};
use domain::services::ReparseReport;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::json;
use utoipa::ToSchema;

use crate::params::Level;

/// A price as a JSON number (exact decimal → nearest double; every `NUMERIC(18,6)` price
/// round-trips through its shortest decimal representation).
pub fn number(p: Price) -> f64 {
    p.value().to_f64().unwrap_or(f64::NAN)
}

/// ISO 8601 with milliseconds and `Z`, as the legacy service wrote (`toISOString`).
fn iso<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
}

fn iso_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => iso(t, s),
        None => s.serialize_none(),
    }
}

/// The legacy dashboard's signal type label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SignalTypeLabel {
    /// Days to weeks (the legacy default).
    #[serde(rename = "Swing Trade")]
    SwingTrade,
    /// Same day.
    #[serde(rename = "Day Trade")]
    DayTrade,
    /// Minutes.
    #[serde(rename = "Scalping")]
    Scalping,
    /// Months.
    #[serde(rename = "Position")]
    Position,
}

/// A signal's kind, machine name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KindName {
    /// Days to weeks.
    SwingTrade,
    /// Same day.
    DayTrade,
    /// Minutes.
    Scalping,
    /// Months.
    Position,
}

impl From<SignalKind> for KindName {
    fn from(k: SignalKind) -> Self {
        match k {
            SignalKind::SwingTrade => KindName::SwingTrade,
            SignalKind::DayTrade => KindName::DayTrade,
            SignalKind::Scalping => KindName::Scalping,
            SignalKind::Position => KindName::Position,
        }
    }
}

impl From<KindName> for SignalKind {
    fn from(k: KindName) -> Self {
        match k {
            KindName::SwingTrade => SignalKind::SwingTrade,
            KindName::DayTrade => SignalKind::DayTrade,
            KindName::Scalping => SignalKind::Scalping,
            KindName::Position => SignalKind::Position,
        }
    }
}

impl From<SignalKind> for SignalTypeLabel {
    fn from(k: SignalKind) -> Self {
        match k {
            SignalKind::SwingTrade => SignalTypeLabel::SwingTrade,
            SignalKind::DayTrade => SignalTypeLabel::DayTrade,
            SignalKind::Scalping => SignalTypeLabel::Scalping,
            SignalKind::Position => SignalTypeLabel::Position,
        }
    }
}

/// Long or short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DirectionName {
    /// Compra / Buy.
    Long,
    /// Venda / Sell.
    Short,
}

impl From<Direction> for DirectionName {
    fn from(d: Direction) -> Self {
        match d {
            Direction::Long => DirectionName::Long,
            Direction::Short => DirectionName::Short,
        }
    }
}

/// A signal's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusName {
    /// Waiting for entry or running.
    Open,
    /// A target was reached (`target_index` says which).
    TargetHit,
    /// The stop was hit.
    Stopped,
    /// Cancelled by the channel or deleted in Telegram.
    Cancelled,
    /// Its validity passed.
    Expired,
    /// Closed by the channel.
    Closed,
}

impl From<SignalStatus> for StatusName {
    fn from(s: SignalStatus) -> Self {
        match s {
            SignalStatus::Open => StatusName::Open,
            SignalStatus::TargetHit { .. } => StatusName::TargetHit,
            SignalStatus::Stopped => StatusName::Stopped,
            SignalStatus::Cancelled => StatusName::Cancelled,
            SignalStatus::Expired => StatusName::Expired,
            SignalStatus::Closed => StatusName::Closed,
        }
    }
}

/// One signal as the dashboard lists it: the legacy fields with their legacy types, then the
/// new ones.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 1234, "ts": 1760965200000_i64, "channel": "TP Capital", "signal_type": "Swing Trade",
    "asset": "BOVAW32", "buy_min": 1.04, "buy_max": 1.06, "target_1": 1.15, "target_2": 2.15,
    "target_final": 3.5, "stop": 0.7,
    "raw_message": "🟢Swing Trade\nAtivo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nAlvo 2: 2,15\nAlvo final: 3,50\nStop: 0,70",
    "source": "bot", "ingested_at": "2025-10-20T13:00:01.120Z", "created_at": "2025-10-20T13:00:01.120Z",
    "updated_at": "2025-10-20T13:00:01.120Z", "channel_id": -1001649127710_i64, "message_id": 4521,
    "kind": "swing_trade", "direction": "long", "targets": [1.15, 2.15], "status": "open",
    "target_index": null, "valid_until": "2025-10-28", "revision": 1, "edit_date": null
}))]
pub struct SignalItem<'a> {
    /// Signal id (integer).
    pub id: i64,
    /// Message time, epoch milliseconds.
    pub ts: i64,
    /// The channel's label, else its id as text.
    #[schema(value_type = String)]
    pub channel: Cow<'a, str>,
    /// The effective type (the channel default applies when the message says none).
    pub signal_type: SignalTypeLabel,
    /// B3 ticker.
    #[schema(value_type = String)]
    pub asset: &'a str,
    /// Lowest entry price.
    pub buy_min: Option<f64>,
    /// Highest entry price.
    pub buy_max: Option<f64>,
    /// First target.
    pub target_1: Option<f64>,
    /// Second target.
    pub target_2: Option<f64>,
    /// Final target.
    pub target_final: Option<f64>,
    /// Stop price.
    pub stop: Option<f64>,
    /// The message text.
    #[schema(value_type = String)]
    pub raw_message: &'a str,
    /// Who delivered it (`bot`, `user_client`, `legacy-import`).
    #[schema(value_type = Option<String>)]
    pub source: Option<&'a str>,
    /// When it was stored (ISO 8601).
    #[serde(serialize_with = "iso")]
    pub ingested_at: DateTime<Utc>,
    /// When it was stored (ISO 8601).
    #[serde(serialize_with = "iso")]
    pub created_at: DateTime<Utc>,
    /// When it last changed (ISO 8601).
    #[serde(serialize_with = "iso")]
    pub updated_at: DateTime<Utc>,
    /// Telegram chat id.
    pub channel_id: i64,
    /// Telegram message id (unique inside the chat).
    pub message_id: i64,
    /// The effective kind, machine name.
    pub kind: KindName,
    /// Long or short.
    pub direction: DirectionName,
    /// Intermediate targets, in order.
    pub targets: Vec<f64>,
    /// Lifecycle state.
    pub status: StatusName,
    /// For `target_hit`: which target (1-based), when known.
    pub target_index: Option<u8>,
    /// Until when the order stays in the book.
    pub valid_until: Option<NaiveDate>,
    /// 1 for the original message, +1 per edit.
    pub revision: i32,
    /// Telegram time of the edit behind this revision.
    #[serde(serialize_with = "iso_opt")]
    pub edit_date: Option<DateTime<Utc>>,
}

impl<'a> SignalItem<'a> {
    /// The row of `r`.
    pub fn from_row(r: &'a SignalRow) -> Self {
        let s = &r.signal;
        let call = &s.call;
        let channel = match &r.channel_label {
            Some(label) if !label.is_empty() => Cow::Borrowed(label.as_str()),
            _ => Cow::Owned(s.channel_id.0.to_string()),
        };
        Self {
            id: s.id.0,
            ts: s.message_date.timestamp_millis(),
            channel,
            signal_type: r.kind.into(),
            asset: call.asset.as_str(),
            buy_min: call.entry.map(|e| number(e.min())),
            buy_max: call.entry.map(|e| number(e.max())),
            target_1: call.targets.first().copied().map(number),
            target_2: call.targets.get(1).copied().map(number),
            target_final: call.target_final.map(number),
            stop: call.stop.map(number),
            raw_message: &s.raw_message,
            source: s.source.as_deref(),
            ingested_at: s.created_at,
            created_at: s.created_at,
            updated_at: s.updated_at,
            channel_id: s.channel_id.0,
            message_id: s.message_id.0,
            kind: r.kind.into(),
            direction: call.direction.into(),
            targets: call.targets.iter().copied().map(number).collect(),
            status: s.status.into(),
            target_index: s.status.target_index(),
            valid_until: call.valid_until,
            revision: s.revision,
            edit_date: s.edit_date,
        }
    }
}

/// A page of signals, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalPageBody<'a> {
    /// The rows.
    pub data: Vec<SignalItem<'a>>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(example = "czEuMTc2MDk2NTIwMDAwMDAwMC4xMjM0")]
    pub next_cursor: Option<String>,
}

/// An earlier revision of an edited signal.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionItem<'a> {
    /// Its number.
    pub revision: i32,
    /// B3 ticker.
    #[schema(value_type = String)]
    pub asset: &'a str,
    /// Kind, when the message said one.
    pub kind: Option<KindName>,
    /// Long or short.
    pub direction: DirectionName,
    /// Lowest entry price.
    pub entry_min: Option<f64>,
    /// Highest entry price.
    pub entry_max: Option<f64>,
    /// Intermediate targets.
    pub targets: Vec<f64>,
    /// Final target.
    pub target_final: Option<f64>,
    /// Stop.
    pub stop: Option<f64>,
    /// Validity.
    pub valid_until: Option<NaiveDate>,
    /// Its text.
    #[schema(value_type = String)]
    pub raw_message: &'a str,
    /// When it was stored.
    #[serde(serialize_with = "iso")]
    pub recorded_at: DateTime<Utc>,
}

/// One status change.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChangeItem<'a> {
    /// The new status.
    pub status: StatusName,
    /// For `target_hit`: which target.
    pub target_index: Option<u8>,
    /// When it changed.
    #[serde(serialize_with = "iso")]
    pub at: DateTime<Utc>,
    /// Chat of the message that caused it.
    pub channel_id: Option<i64>,
    /// The message that caused it.
    pub message_id: Option<i64>,
    /// Why ("Alvo 1 atingido", "message deleted in Telegram").
    #[schema(value_type = String)]
    pub reason: &'a str,
}

/// A signal with its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalDetailBody<'a> {
    /// The signal now.
    #[serde(flatten)]
    pub signal: SignalItem<'a>,
    /// Parser that read the current revision.
    #[schema(value_type = String)]
    pub parser_version: &'a str,
    /// What the parser noticed but accepted.
    #[schema(value_type = Vec<String>)]
    pub warnings: &'a [String],
    /// Earlier revisions, oldest first.
    pub revisions: Vec<RevisionItem<'a>>,
    /// Status changes, oldest first.
    pub status_history: Vec<StatusChangeItem<'a>>,
}

impl<'a> SignalDetailBody<'a> {
    /// The body of `d`.
    pub fn from_detail(d: &'a SignalDetail) -> Self {
        Self {
            signal: SignalItem::from_row(&d.row),
            parser_version: &d.row.signal.parser_version,
            warnings: &d.row.signal.call.warnings,
            revisions: d
                .revisions
                .iter()
                .map(|r| RevisionItem {
                    revision: r.revision,
                    asset: r.call.asset.as_str(),
                    kind: r.call.kind.map(KindName::from),
                    direction: r.call.direction.into(),
                    entry_min: r.call.entry.map(|e| number(e.min())),
                    entry_max: r.call.entry.map(|e| number(e.max())),
                    targets: r.call.targets.iter().copied().map(number).collect(),
                    target_final: r.call.target_final.map(number),
                    stop: r.call.stop.map(number),
                    valid_until: r.call.valid_until,
                    raw_message: &r.raw_message,
                    recorded_at: r.recorded_at,
                })
                .collect(),
            status_history: d
                .status_history
                .iter()
                .map(|c| StatusChangeItem {
                    status: c.status.into(),
                    target_index: c.status.target_index(),
                    at: c.at,
                    channel_id: c.message.map(|(ch, _)| ch.0),
                    message_id: c.message.map(|(_, m)| m.0),
                    reason: &c.reason,
                })
                .collect(),
        }
    }
}

/// Signals of one hour.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourItem {
    /// Start of the hour (UTC).
    #[serde(serialize_with = "iso")]
    pub bucket: DateTime<Utc>,
    /// Signals.
    pub count: u64,
}

/// Measures of an asset.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetItem {
    /// B3 ticker.
    pub asset: String,
    /// Signals.
    pub count: u64,
    /// Average entry range width.
    pub avg_range: Option<f64>,
    /// Average distance to the final target, % of the entry.
    pub avg_upside_pct: Option<f64>,
    /// Average distance to the stop, % of the entry.
    pub avg_downside_pct: Option<f64>,
    /// Latest signal (ISO 8601).
    #[serde(serialize_with = "iso_opt")]
    pub last_signal_at: Option<DateTime<Utc>>,
}

/// Measures of a channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelStatItem {
    /// Telegram chat id.
    pub channel_id: i64,
    /// Its label, else its id as text.
    pub channel: String,
    /// Signals.
    pub count: u64,
    /// Average entry range width.
    pub avg_range: Option<f64>,
    /// Average distance to the final target, % of the entry.
    pub avg_upside_pct: Option<f64>,
    /// Average distance to the stop, % of the entry.
    pub avg_downside_pct: Option<f64>,
    /// Latest signal (ISO 8601).
    #[serde(serialize_with = "iso_opt")]
    pub last_signal_at: Option<DateTime<Utc>>,
}

/// Signal statistics from the hourly aggregate.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2025-10-13T13:00:00.000Z", "to": null, "total": 42,
    "by_hour": [{"bucket": "2025-10-20T13:00:00.000Z", "count": 3}],
    "by_asset": [{"asset": "BOVAW32", "count": 5, "avg_range": 0.02, "avg_upside_pct": 230.1, "avg_downside_pct": 32.7, "last_signal_at": "2025-10-20T13:00:00.000Z"}],
    "by_channel": [{"channel_id": -1001649127710_i64, "channel": "TP Capital", "count": 42, "avg_range": 0.05, "avg_upside_pct": 80.2, "avg_downside_pct": 25.0, "last_signal_at": "2025-10-20T13:00:00.000Z"}]
}))]
pub struct StatsBody {
    /// Start of the window.
    #[serde(serialize_with = "iso_opt")]
    pub from: Option<DateTime<Utc>>,
    /// End of the window (`null` = now).
    #[serde(serialize_with = "iso_opt")]
    pub to: Option<DateTime<Utc>>,
    /// Signals in the window.
    pub total: u64,
    /// Per hour, oldest first (hours without signals are absent).
    pub by_hour: Vec<HourItem>,
    /// Per asset, most frequent first.
    pub by_asset: Vec<AssetItem>,
    /// Per channel, most frequent first.
    pub by_channel: Vec<ChannelStatItem>,
}

impl StatsBody {
    /// The body of `s` for the window `from..=to`.
    pub fn new(s: SignalStats, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Self {
        Self {
            from,
            to,
            total: s.total,
            by_hour: s
                .by_hour
                .into_iter()
                .map(|h| HourItem {
                    bucket: h.bucket,
                    count: h.signal_count,
                })
                .collect(),
            by_asset: s
                .by_asset
                .into_iter()
                .map(|a| AssetItem {
                    asset: a.asset.to_string(),
                    count: a.stats.signal_count,
                    avg_range: finite(a.stats.avg_range),
                    avg_upside_pct: finite(a.stats.avg_upside_pct),
                    avg_downside_pct: finite(a.stats.avg_downside_pct),
                    last_signal_at: a.stats.last_signal_at,
                })
                .collect(),
            by_channel: s
                .by_channel
                .into_iter()
                .map(|c| ChannelStatItem {
                    channel_id: c.channel_id.0,
                    channel: c
                        .label
                        .filter(|l| !l.is_empty())
                        .unwrap_or_else(|| c.channel_id.0.to_string()),
                    count: c.stats.signal_count,
                    avg_range: finite(c.stats.avg_range),
                    avg_upside_pct: finite(c.stats.avg_upside_pct),
                    avg_downside_pct: finite(c.stats.avg_downside_pct),
                    last_signal_at: c.stats.last_signal_at,
                })
                .collect(),
        }
    }
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}

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
            crate::params::KIND_VALUES
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

impl From<MessageOutcome> for OutcomeName {
    fn from(o: MessageOutcome) -> Self {
        match o {
            MessageOutcome::Signal => OutcomeName::Signal,
            MessageOutcome::Update => OutcomeName::Update,
            MessageOutcome::Ignored => OutcomeName::Ignored,
            MessageOutcome::Rejected => OutcomeName::Rejected,
        }
    }
}

impl From<OutcomeName> for MessageOutcome {
    fn from(o: OutcomeName) -> Self {
        match o {
            OutcomeName::Signal => MessageOutcome::Signal,
            OutcomeName::Update => MessageOutcome::Update,
            OutcomeName::Ignored => MessageOutcome::Ignored,
            OutcomeName::Rejected => MessageOutcome::Rejected,
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

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LevelName {
    /// Ignored messages.
    Debug,
    /// Signals and updates.
    Info,
    /// Rejected messages.
    Warn,
    /// Failures.
    Error,
}

impl From<Level> for LevelName {
    fn from(l: Level) -> Self {
        match l {
            Level::Debug => LevelName::Debug,
            Level::Info => LevelName::Info,
            Level::Warn => LevelName::Warn,
            Level::Error => LevelName::Error,
        }
    }
}

/// One entry of the ingestion log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "timestamp": "2025-10-20T13:00:01.120Z", "level": "warn",
    "message": "Message rejected: no asset: the message has prices but no B3 ticker",
    "context": {"channel_id": -1001649127710_i64, "message_id": 4522, "outcome": "rejected",
                "reason": "no asset: the message has prices but no B3 ticker", "parser_version": "1.0.0",
                "message_date": "2025-10-20T13:00:00.000Z", "text": "Compra: 1,00 Stop: 0,90"}
}))]
pub struct LogItem {
    /// When the delivery was archived (ISO 8601).
    pub timestamp: String,
    /// `debug` (ignored), `info` (signal, update), `warn` (rejected).
    pub level: LevelName,
    /// A sentence for the log viewer.
    pub message: String,
    /// The delivery it is about.
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
}

/// The ingestion log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogListBody {
    /// The entries.
    pub data: Vec<LogItem>,
}

/// The level of an archived delivery in the ingestion log.
pub fn level_of(outcome: MessageOutcome) -> Level {
    match outcome {
        MessageOutcome::Signal | MessageOutcome::Update => Level::Info,
        MessageOutcome::Ignored => Level::Debug,
        MessageOutcome::Rejected => Level::Warn,
    }
}

impl LogItem {
    /// The log entry of an archived delivery.
    pub fn from_archived(a: &ArchivedMessage) -> Self {
        let m = &a.message;
        let level = level_of(a.outcome);
        let where_ = format!("channel {} message {}", m.channel_id, m.message_id);
        let message = match (a.outcome, &a.reason) {
            (MessageOutcome::Signal, _) => format!("Signal received from {where_}"),
            (MessageOutcome::Update, _) => format!("Signal update received from {where_}"),
            (MessageOutcome::Ignored, Some(r)) => format!("Message ignored ({where_}): {r}"),
            (MessageOutcome::Ignored, None) => format!("Message ignored ({where_})"),
            (MessageOutcome::Rejected, Some(r)) => format!("Message rejected ({where_}): {r}"),
            (MessageOutcome::Rejected, None) => format!("Message rejected ({where_})"),
        };
        let text: String = m.text.chars().take(280).collect();
        Self {
            timestamp: a.received_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            level: level.into(),
            message,
            context: serde_json::json!({
                "channel_id": m.channel_id.0,
                "message_id": m.message_id.0,
                "outcome": a.outcome.as_str(),
                "reason": a.reason,
                "parser_version": a.parser_version,
                "message_date": m.date.to_rfc3339_opts(SecondsFormat::Millis, true),
                "edit_date": m.edit_date.map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true)),
                "text": text,
            }),
        }
    }
}

/// The body of `POST /messages/reparse`. With neither `from` nor `to`, the rejected set is
/// re-parsed (unless `outcome` says otherwise).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": "2025-10-01", "to": "2025-10-31", "outcome": "rejected", "dry_run": true}))]
pub struct ReparseBody {
    /// Message time at or after: ISO date, ISO date-time or epoch milliseconds.
    #[serde(default)]
    #[schema(schema_with = crate::params::instant_or_null_schema)]
    pub from: Option<serde_json::Value>,
    /// Message time at or before: ISO date (whole day), ISO date-time or epoch milliseconds.
    #[serde(default)]
    #[schema(schema_with = crate::params::instant_or_null_schema)]
    pub to: Option<serde_json::Value>,
    /// Only deliveries with this outcome.
    #[serde(default)]
    pub outcome: Option<OutcomeName>,
    /// Only this channel.
    #[serde(default, deserialize_with = "integral")]
    #[schema(value_type = Option<i64>)]
    pub channel_id: Option<i64>,
    /// Most deliveries examined by this call (1–50000, default 10000).
    #[serde(default, deserialize_with = "integral")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 50000)]
    pub limit: Option<i64>,
    /// `next_cursor` of a previous, truncated run.
    #[serde(default)]
    #[schema(schema_with = crate::params::cursor_or_null_schema)]
    pub cursor: Option<String>,
    /// Only report what would change.
    #[serde(default)]
    pub dry_run: bool,
}

/// An integer, also when JSON writes it as `3.0` (JSON Schema's integers include those).
fn integral<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{n} is not an integer"))),
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

/// What a re-parse did.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "examined": 120, "reclassified": 7, "signals_created": 5, "updates_applied": 1,
    "transitions": [{"from": "rejected", "to": "signal", "count": 5}],
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
            dry_run: r.dry_run,
            next_cursor: r.next.as_ref().map(crate::cursor::encode_message),
            parser_version: domain::PARSER_VERSION,
        }
    }
}

/// One event of `/signals/stream` (the `data:` of an SSE `signal` event).
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamEventBody<'a> {
    /// `created`, `revised`, `status_changed`, `deleted`, or `changed` (replayed after a
    /// reconnection, when the kind of change is not known).
    #[schema(value_type = String, example = "created")]
    pub kind: &'static str,
    /// The signal.
    pub signal_id: i64,
    /// Its chat.
    pub channel_id: i64,
    /// Its asset.
    #[schema(value_type = String)]
    pub asset: &'a str,
    /// Its status after the change.
    pub status: StatusName,
    /// When the change was committed.
    #[serde(serialize_with = "iso")]
    pub at: DateTime<Utc>,
    /// The signal as `/signals` shows it; `null` when deleted or unreadable.
    pub signal: Option<SignalItem<'a>>,
}
