//! One legacy signal to one row of `signals.signals`, or the reason it is skipped.

use std::borrow::Cow;
use std::collections::HashMap;

use adapters_postgres::{CallColumns, MessageColumns, SignalInsert, direction_name};
use chrono::{DateTime, Utc};
use domain::model::{Direction, EntryRange, Price, SignalKind, Ticker, TradeCall};
use uuid::Uuid;

use super::{
    CHECKPOINT_ASSET, ChannelResolution, PARSER_VERSION, PRICE_COLUMNS, Skip, TimeBounds,
    is_options, kind_of, parse_price,
};

/// One row of `tp_capital_signals` as read (every conversion to text or time done in SQL).
#[derive(Debug, Clone, Default)]
pub struct LegacySignal {
    /// `id::text`, also the skip key.
    pub id: String,
    /// The UUID the id maps to (`legacy_id`), derived in SQL; `None` when it maps to none.
    pub legacy_uuid: Option<String>,
    /// `ts`, converted to a time (epoch milliseconds included).
    pub ts: Option<DateTime<Utc>>,
    /// `btrim(channel::text)`.
    pub channel: Option<String>,
    /// `btrim(signal_type::text)`.
    pub signal_type: Option<String>,
    /// `asset::text`.
    pub asset: Option<String>,
    /// `buy_min`, `buy_max`, `target_1`, `target_2`, `target_final`, `stop` as exact text.
    pub prices: [Option<String>; 6],
    /// `raw_message::text`.
    pub raw_message: Option<String>,
    /// `source::text`.
    pub source: Option<String>,
    /// `ingested_at`.
    pub ingested_at: Option<DateTime<Utc>>,
    /// `created_at`.
    pub created_at: Option<DateTime<Utc>>,
    /// `updated_at`.
    pub updated_at: Option<DateTime<Utc>>,
    /// `ts::text`: with `id`, the position in the ordered read (the checkpoint).
    pub ts_key: String,
}

/// A signal ready for `signals.signals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedSignal {
    /// The legacy UUID, or the one derived from an integer id (`legacy_id`): the natural key.
    pub legacy_id: Uuid,
    /// Resolved channel.
    pub channel_id: i64,
    /// Synthetic, derived from the legacy UUID ([`synthetic_message_id`]).
    pub message_id: i64,
    /// `ts`.
    pub message_date: DateTime<Utc>,
    /// Upper-case ticker.
    pub asset: String,
    /// From `signal_type`; `None` when absent or not recognised.
    pub kind: Option<SignalKind>,
    /// `buy_min`.
    pub entry_min: Option<Price>,
    /// `buy_max`.
    pub entry_max: Option<Price>,
    /// `target_1`, `target_2` (the ones present, in order).
    pub targets: Vec<Price>,
    /// `target_final`.
    pub target_final: Option<Price>,
    /// `stop`.
    pub stop: Option<Price>,
    /// `raw_message`, empty when the legacy row had none.
    pub raw_message: String,
    /// `source`.
    pub source: Option<String>,
    /// `created_at`, else `ingested_at`, else `ts`.
    pub created_at: DateTime<Utc>,
    /// `updated_at`, else the creation time.
    pub updated_at: DateTime<Utc>,
    /// What the import noticed but accepted.
    pub warnings: Vec<String>,
}

impl MappedSignal {
    /// The row of `signals.signals`, written by the one insert of new signals
    /// ([`adapters_postgres::insert_signals_sql`]); the entry columns stay as the legacy row had
    /// them (one of them may be NULL).
    pub fn insert(&self, import_id: Uuid) -> SignalInsert<'_> {
        let price = |p: Option<Price>| p.map(|p| p.value());
        SignalInsert {
            message: MessageColumns {
                channel_id: self.channel_id,
                message_id: self.message_id,
                message_date: self.message_date,
                edit_date: None,
            },
            call: CallColumns {
                asset: self.asset.clone(),
                kind: self.kind.map(|k| k.as_str().to_owned()),
                direction: direction_name(Direction::Long).to_owned(),
                entry_min: price(self.entry_min),
                entry_max: price(self.entry_max),
                targets: self.targets.iter().map(|t| t.value()).collect(),
                target_final: price(self.target_final),
                stop: price(self.stop),
                valid_until: None,
                warnings: self
                    .warnings
                    .iter()
                    .cloned()
                    .map(serde_json::Value::String)
                    .collect(),
            },
            raw_message: Cow::Borrowed(&self.raw_message),
            parser_version: PARSER_VERSION,
            source: self.source.as_deref().map(Cow::Borrowed),
            created_at: self.created_at,
            updated_at: self.updated_at,
            import_id: Some(import_id),
            legacy_id: Some(self.legacy_id),
        }
    }
}

/// Maps one legacy signal, or says why it cannot be imported.
pub fn map_signal(
    row: &LegacySignal,
    channels: &HashMap<String, ChannelResolution>,
    bounds: &TimeBounds,
) -> Result<MappedSignal, Skip> {
    let legacy_id = row
        .legacy_uuid
        .as_deref()
        .and_then(|u| Uuid::parse_str(u).ok())
        .ok_or_else(|| {
            Skip::new(
                "id_unmappable",
                format!("id '{}' is neither a UUID nor an integer", row.id),
            )
        })?;
    if row.asset.as_deref().map(str::trim) == Some(CHECKPOINT_ASSET) {
        return Err(Skip::new(
            "legacy_checkpoint",
            format!(
                "the legacy sync worker's bookkeeping row (asset {CHECKPOINT_ASSET}, signal_type {:?}, channel {:?}), not a signal",
                row.signal_type.as_deref().unwrap_or(""),
                row.channel.as_deref().unwrap_or("")
            ),
        ));
    }
    let ts = row
        .ts
        .ok_or_else(|| Skip::new("ts_missing", "ts is NULL"))?;
    let message_date = bounds.check(ts)?;
    let channel = row
        .channel
        .as_deref()
        .and_then(|c| channels.get(c))
        .ok_or_else(|| Skip::new("channel_missing", "channel is NULL or blank"))?;
    let asset_raw = row.asset.as_deref().map(str::trim).unwrap_or("");
    if asset_raw.is_empty() {
        return Err(Skip::new("asset_missing", "asset is NULL or blank"));
    }
    let asset = Ticker::parse(asset_raw).ok_or_else(|| {
        Skip::new(
            "asset_not_ticker",
            format!("asset '{asset_raw}' is not a B3 ticker"),
        )
    })?;
    let mut prices = [None; 6];
    for (i, column) in PRICE_COLUMNS.iter().enumerate() {
        prices[i] = parse_price(column, row.prices[i].as_deref())?;
    }
    let [entry_min, entry_max, target_1, target_2, target_final, stop] = prices;
    let mut warnings = Vec::new();
    let kind = match row.signal_type.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => {
            let kind = kind_of(t);
            if kind.is_none() && is_options(t) {
                warnings.push(format!(
                    "legacy-import: signal_type '{t}' = options of unknown horizon: no kind, the channel default applies"
                ));
            } else if kind.is_none() {
                warnings.push(format!(
                    "legacy-import: signal_type '{t}' names no kind; the channel default applies"
                ));
            }
            kind
        }
    };
    let targets: Vec<Price> = [target_1, target_2].into_iter().flatten().collect();
    let entry = match (entry_min, entry_max) {
        (Some(a), Some(b)) => Some(EntryRange::new(a, b)),
        (Some(a), None) | (None, Some(a)) => Some(EntryRange::single(a)),
        (None, None) => None,
    };
    TradeCall::new(
        asset.clone(),
        kind,
        Direction::Long,
        entry,
        targets.clone(),
        target_final,
        stop,
        None,
        Vec::new(),
    )
    .map_err(|e| Skip::new("invalid_call", e.to_string()))?;
    let raw_message = match &row.raw_message {
        Some(m) => m.clone(),
        None => {
            warnings.push("legacy-import: raw_message was NULL".to_owned());
            String::new()
        }
    };
    let created_at = row.created_at.or(row.ingested_at).unwrap_or(message_date);
    Ok(MappedSignal {
        legacy_id,
        channel_id: channel.channel_id,
        message_id: synthetic_message_id(legacy_id),
        message_date,
        asset: asset.as_str().to_owned(),
        kind,
        entry_min,
        entry_max,
        targets,
        target_final,
        stop,
        raw_message,
        source: row.source.clone(),
        created_at,
        updated_at: row.updated_at.unwrap_or(created_at),
        warnings,
    })
}

/// A stable negative message id derived from the legacy UUID (Telegram's are positive): unique
/// for distinct UUIDs up to a 2^-63 collision chance.
pub fn synthetic_message_id(legacy_id: Uuid) -> i64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&legacy_id.as_bytes()[..8]);
    -((u64::from_be_bytes(first) >> 1) as i64) - 1
}
