//! What `/signals` answers: the dashboard's rows (legacy fields with their legacy types beside
//! the new ones) and one signal with its history.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use domain::ports::{SignalDetail, SignalRow};
use serde::Serialize;
use utoipa::ToSchema;

use crate::common::dto::{
    DirectionName, KindName, SignalTypeLabel, StatusName, iso, iso_micros, iso_opt, number,
};

/// One signal as the dashboard lists it: the legacy fields with their legacy types, then the
/// new ones.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 1234, "ts": 1760965200000_i64, "channel": "TP Capital", "signal_type": "Swing Trade",
    "asset": "BOVAW32", "buy_min": 1.04, "buy_max": 1.06, "target_1": 1.15, "target_2": 2.15,
    "target_final": 3.5, "stop": 0.7,
    "raw_message": "🟢Swing Trade\nAtivo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nAlvo 2: 2,15\nAlvo final: 3,50\nStop: 0,70",
    "source": "bot", "ingested_at": "2025-10-20T13:00:01.120345Z", "created_at": "2025-10-20T13:00:01.120Z",
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
    /// Who delivered it (`bot`, `user_client`, `legacy-import`; `telegram` when the gateway
    /// named none).
    #[schema(value_type = String)]
    pub source: &'a str,
    /// When its message was received (ISO 8601 with microseconds): unique per signal.
    #[serde(serialize_with = "iso_micros")]
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
            source: s
                .source
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or(domain::DEFAULT_SOURCE),
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
