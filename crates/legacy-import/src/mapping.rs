//! How one legacy row becomes one row of the new schema, as pure functions: channel resolution,
//! synthetic ids, kinds, exact prices, and the domain's own invariants (a row the API could not
//! read back is skipped with its reason, never stored).

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use domain::model::{Direction, EntryRange, Price, SignalKind, Ticker, TradeCall};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `parser_version` of every imported row.
pub const PARSER_VERSION: &str = "legacy-import";

/// Synthetic channel ids live in `[-5·10^18, -4·10^18)`, far from Telegram's `-100…` ids.
const SYNTHETIC_CHANNEL_BASE: i64 = 4_000_000_000_000_000_000;
const SYNTHETIC_CHANNEL_SPAN: u64 = 1_000_000_000_000_000_000;

/// One row of `tp_capital_signals` as read (every conversion to text or time done in SQL).
#[derive(Debug, Clone, Default)]
pub struct LegacySignal {
    /// `id::text`, also the skip key.
    pub id: String,
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

/// The legacy price columns, in the order of [`LegacySignal::prices`].
pub const PRICE_COLUMNS: [&str; 6] = [
    "buy_min",
    "buy_max",
    "target_1",
    "target_2",
    "target_final",
    "stop",
];

/// A signal ready for `signals.signals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedSignal {
    /// The legacy UUID (`legacy_id`), the natural key of the import.
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

/// Why a legacy row is not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    /// A stable reason code (`price_too_precise`, `invalid_call`, …).
    pub code: &'static str,
    /// The reason with the offending values.
    pub detail: String,
}

impl Skip {
    fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// How a legacy `channel` value was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelHow {
    /// The value is a numeric Telegram id.
    NumericId,
    /// The value is the label of exactly one row of `telegram_channels`.
    Label,
    /// No id could be found: a stable synthetic id derived from the name.
    Synthetic,
    /// The value is the label of several channels: synthetic id, reported.
    AmbiguousLabel,
}

/// One resolved legacy channel value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelResolution {
    /// The legacy value (trimmed).
    pub legacy: String,
    /// The id used in the new schema.
    pub channel_id: i64,
    /// The label recorded in `signals.channels` when the channel is new there.
    pub label: Option<String>,
    /// How it was found.
    pub how: ChannelHow,
}

/// One row of `telegram_channels` (only these columns are ever read: no tokens).
#[derive(Debug, Clone)]
pub struct TelegramChannel {
    /// `btrim(channel_id::text)`.
    pub channel_id: Option<String>,
    /// `label`.
    pub label: Option<String>,
}

/// Resolves every distinct legacy channel value: a numeric id as is; a label through
/// `telegram_channels` (case-insensitive, trimmed); otherwise a synthetic id.
pub fn resolve_channels(
    values: &[String],
    telegram: &[TelegramChannel],
) -> HashMap<String, ChannelResolution> {
    let mut labels_by_id: HashMap<i64, String> = HashMap::new();
    let mut ids_by_label: HashMap<String, Vec<i64>> = HashMap::new();
    for t in telegram {
        let Some(id) = t.channel_id.as_deref().and_then(parse_integer) else {
            continue;
        };
        if let Some(label) = t.label.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            labels_by_id.entry(id).or_insert_with(|| label.to_owned());
            let ids = ids_by_label.entry(label.to_lowercase()).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    let mut out = HashMap::new();
    for value in values {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            continue;
        }
        let resolution = if let Some(id) = parse_integer(trimmed) {
            ChannelResolution {
                legacy: trimmed.to_owned(),
                channel_id: id,
                label: labels_by_id.get(&id).cloned(),
                how: ChannelHow::NumericId,
            }
        } else {
            match ids_by_label.get(&trimmed.to_lowercase()).map(Vec::as_slice) {
                Some([id]) => ChannelResolution {
                    legacy: trimmed.to_owned(),
                    channel_id: *id,
                    label: labels_by_id.get(id).cloned(),
                    how: ChannelHow::Label,
                },
                Some([_, _, ..]) => ChannelResolution {
                    legacy: trimmed.to_owned(),
                    channel_id: synthetic_channel_id(trimmed),
                    label: Some(trimmed.to_owned()),
                    how: ChannelHow::AmbiguousLabel,
                },
                _ => ChannelResolution {
                    legacy: trimmed.to_owned(),
                    channel_id: synthetic_channel_id(trimmed),
                    label: Some(trimmed.to_owned()),
                    how: ChannelHow::Synthetic,
                },
            }
        };
        out.insert(value.clone(), resolution);
    }
    out
}

/// A stable negative id for a channel known only by name: the same name (ignoring case and
/// surrounding blanks) gives the same id on every run and every machine.
pub fn synthetic_channel_id(name: &str) -> i64 {
    let digest = Sha256::digest(name.trim().to_lowercase().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let offset = (u64::from_be_bytes(first) % SYNTHETIC_CHANNEL_SPAN) as i64;
    -(SYNTHETIC_CHANNEL_BASE + offset)
}

/// A stable negative message id derived from the legacy UUID (Telegram's are positive): unique
/// for distinct UUIDs up to a 2^-63 collision chance.
pub fn synthetic_message_id(legacy_id: Uuid) -> i64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&legacy_id.as_bytes()[..8]);
    -((u64::from_be_bytes(first) >> 1) as i64) - 1
}

/// `-?[0-9]{1,18}` only (no sign `+`, no blanks, no 19-digit values), so SQL can apply the same
/// test with a regular expression.
pub fn parse_integer(raw: &str) -> Option<i64> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// The SQL twin of [`parse_integer`]'s acceptance test.
pub const INTEGER_PATTERN: &str = "^-?[0-9]{1,18}$";

/// The kind a legacy `signal_type` names (machine name or dashboard label, any case); `None`
/// when it names none (reported, never guessed).
pub fn kind_of(signal_type: &str) -> Option<SignalKind> {
    SignalKind::from_str(signal_type.trim()).ok()
}

/// The plausible message times: from 2000-01-01 to a day after the run started.
#[derive(Debug, Clone, Copy)]
pub struct TimeBounds {
    /// Inclusive.
    pub from: DateTime<Utc>,
    /// Exclusive.
    pub until: DateTime<Utc>,
}

impl TimeBounds {
    /// Bounds for a run started at `started`.
    pub fn for_run(started: DateTime<Utc>) -> Self {
        Self {
            from: DateTime::from_timestamp(946_684_800, 0).unwrap_or(DateTime::UNIX_EPOCH),
            until: started + chrono::Duration::days(1),
        }
    }

    fn check(&self, ts: DateTime<Utc>) -> Result<DateTime<Utc>, Skip> {
        if ts < self.from || ts >= self.until {
            return Err(Skip::new(
                "ts_out_of_range",
                format!(
                    "ts {} is outside {} .. {} (seconds stored as milliseconds?)",
                    ts.to_rfc3339(),
                    self.from.date_naive(),
                    self.until.date_naive()
                ),
            ));
        }
        Ok(ts)
    }
}

/// An exact decimal from its text: digits with an optional sign and fraction, nothing else
/// (no exponent, no `NaN`); then the domain's price rules (positive, ≤ 6 decimals, < 10^12).
pub fn parse_price(column: &str, raw: Option<&str>) -> Result<Option<Price>, Skip> {
    let Some(raw) = raw.map(str::trim) else {
        return Ok(None);
    };
    let unsigned = raw.strip_prefix('-').unwrap_or(raw);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let well_formed = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !unsigned.ends_with('.');
    if !well_formed {
        return Err(Skip::new(
            "price_not_decimal",
            format!("{column} '{raw}' is not a decimal number"),
        ));
    }
    let value = Decimal::from_str(raw).map_err(|_| {
        Skip::new(
            "price_too_large",
            format!("{column} {raw} does not fit NUMERIC(18,6)"),
        )
    })?;
    Price::new(value).map(Some).map_err(|e| {
        let code = match e {
            domain::model::PriceError::NotPositive => "price_not_positive",
            domain::model::PriceError::TooPrecise => "price_too_precise",
            domain::model::PriceError::TooLarge => "price_too_large",
        };
        Skip::new(code, format!("{column} {raw}: {e}"))
    })
}

/// Maps one legacy signal, or says why it cannot be imported.
pub fn map_signal(
    row: &LegacySignal,
    channels: &HashMap<String, ChannelResolution>,
    bounds: &TimeBounds,
) -> Result<MappedSignal, Skip> {
    let legacy_id = Uuid::parse_str(row.id.trim())
        .map_err(|_| Skip::new("id_not_uuid", format!("id '{}' is not a UUID", row.id)))?;
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
            if kind.is_none() {
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

/// One row of `forwarded_messages` as read.
#[derive(Debug, Clone, Default)]
pub struct LegacyMessage {
    /// `btrim(channel_id::text)`.
    pub channel_id: String,
    /// `btrim(message_id::text)`.
    pub message_id: String,
    /// `original_timestamp`, converted to a time.
    pub message_date: Option<DateTime<Utc>>,
    /// `message_text::text`.
    pub text: Option<String>,
    /// `to_jsonb(photos)::text`.
    pub photos: Option<String>,
    /// `received_at`.
    pub received_at: Option<DateTime<Utc>>,
    /// The key as the legacy table orders it (native text of the three key columns): the
    /// checkpoint and the skip key.
    pub key: [String; 3],
}

/// A message ready for `forwarded_messages.messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedMessage {
    /// Telegram channel id.
    pub channel_id: i64,
    /// Telegram message id.
    pub message_id: i64,
    /// `original_timestamp`.
    pub message_date: DateTime<Utc>,
    /// `message_text`, empty when NULL.
    pub text: String,
    /// `photo` when the legacy row lists photos.
    pub media_type: Option<&'static str>,
    /// `{"legacy_photos": …}` when the legacy row had photos (even an empty list), else `{}`.
    pub metadata: String,
    /// `received_at`, else the message time.
    pub received_at: DateTime<Utc>,
}

/// What the archive row says of an imported message.
pub const MESSAGE_OUTCOME: &str = "ignored";
/// Its reason.
pub const MESSAGE_REASON: &str =
    "legacy-import: archived from the legacy forwarded_messages, not re-parsed";
/// Its `source`.
pub const MESSAGE_SOURCE: &str = "legacy";

/// Maps one legacy forwarded message, or says why it cannot be imported.
pub fn map_message(row: &LegacyMessage, bounds: &TimeBounds) -> Result<MappedMessage, Skip> {
    let channel_id = parse_integer(row.channel_id.trim()).ok_or_else(|| {
        Skip::new(
            "channel_id_not_integer",
            format!("channel_id '{}' is not an integer", row.channel_id),
        )
    })?;
    let message_id = parse_integer(row.message_id.trim()).ok_or_else(|| {
        Skip::new(
            "message_id_not_integer",
            format!("message_id '{}' is not an integer", row.message_id),
        )
    })?;
    let ts = row
        .message_date
        .ok_or_else(|| Skip::new("ts_missing", "original_timestamp is NULL"))?;
    let message_date = bounds.check(ts)?;
    let media_type = row
        .photos
        .as_deref()
        .filter(|p| !matches!(*p, "null" | "[]" | "{}" | "\"\""))
        .map(|_| "photo");
    let metadata = match &row.photos {
        Some(p) => format!("{{\"legacy_photos\": {p}}}"),
        None => "{}".to_owned(),
    };
    Ok(MappedMessage {
        channel_id,
        message_id,
        message_date,
        text: row.text.clone().unwrap_or_default(),
        media_type,
        metadata,
        received_at: row.received_at.unwrap_or(message_date),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> TimeBounds {
        TimeBounds::for_run(DateTime::from_timestamp(1_764_000_000, 0).unwrap())
    }

    fn channels() -> HashMap<String, ChannelResolution> {
        let telegram = vec![
            TelegramChannel {
                channel_id: Some("-1001000000001".into()),
                label: Some("TP Capital".into()),
            },
            TelegramChannel {
                channel_id: Some("-1001000000004".into()),
                label: Some("Dup".into()),
            },
            TelegramChannel {
                channel_id: Some("-1001000000005".into()),
                label: Some("dup".into()),
            },
        ];
        let values: Vec<String> = [
            "-1001000000001",
            " tp capital ",
            "Desconhecido",
            "Dup",
            "  ",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        resolve_channels(&values, &telegram)
    }

    fn row() -> LegacySignal {
        LegacySignal {
            id: "6f1c1b1e-7a43-4c1e-9d55-0b8c2e6f3a10".into(),
            ts: DateTime::from_timestamp(1_759_857_959, 123_000_000),
            channel: Some("Desconhecido".into()),
            signal_type: Some("Swing Trade".into()),
            asset: Some(" beefw655 ".into()),
            prices: [
                Some("0.25".into()),
                Some("0.270".into()),
                Some("0.35".into()),
                None,
                Some("2".into()),
                Some("0.16".into()),
            ],
            raw_message: Some("COMPRA BEEFW655".into()),
            source: Some("forwarder".into()),
            ..Default::default()
        }
    }

    #[test]
    fn channels_resolve_by_id_label_or_synthetic() {
        let c = channels();
        assert_eq!(c["-1001000000001"].how, ChannelHow::NumericId);
        assert_eq!(c["-1001000000001"].label.as_deref(), Some("TP Capital"));
        assert_eq!(c[" tp capital "].channel_id, -1001000000001);
        assert_eq!(c[" tp capital "].how, ChannelHow::Label);
        assert_eq!(c["Desconhecido"].how, ChannelHow::Synthetic);
        assert_eq!(c["Desconhecido"].label.as_deref(), Some("Desconhecido"));
        assert_eq!(c["Dup"].how, ChannelHow::AmbiguousLabel);
        assert!(!c.contains_key("  "));
    }

    #[test]
    fn synthetic_ids_are_stable_negative_and_apart_from_telegram() {
        let a = synthetic_channel_id("Desconhecido");
        assert_eq!(a, synthetic_channel_id("  desconhecido "));
        assert_ne!(a, synthetic_channel_id("Outro"));
        assert!((-5_000_000_000_000_000_000..-4_000_000_000_000_000_000).contains(&a));
        let id = Uuid::parse_str("ffffffff-ffff-ffff-ffff-ffffffffffff").unwrap();
        assert_eq!(synthetic_message_id(id), i64::MIN);
        assert_eq!(synthetic_message_id(Uuid::nil()), -1);
        let v4 = Uuid::new_v4();
        assert_eq!(synthetic_message_id(v4), synthetic_message_id(v4));
    }

    #[test]
    fn a_full_row_maps_with_exact_prices() {
        let m = map_signal(&row(), &channels(), &bounds()).unwrap();
        assert_eq!(m.asset, "BEEFW655");
        assert_eq!(m.kind, Some(SignalKind::SwingTrade));
        assert_eq!(m.entry_max.unwrap().to_string(), "0.27");
        assert_eq!(m.targets.len(), 1);
        assert_eq!(m.channel_id, synthetic_channel_id("Desconhecido"));
        assert_eq!(m.message_date.timestamp_subsec_millis(), 123);
        assert_eq!(m.created_at, m.message_date);
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn three_decimal_premiums_and_six_decimals_keep_every_digit() {
        let p = parse_price("buy_min", Some("0.255")).unwrap().unwrap();
        assert_eq!(p.to_string(), "0.255");
        let p = parse_price("stop", Some("999999999999.999999"))
            .unwrap()
            .unwrap();
        assert_eq!(p.to_string(), "999999999999.999999");
    }

    #[test]
    fn prices_that_do_not_fit_are_skipped_with_a_reason() {
        let code = |s: &str| parse_price("stop", Some(s)).unwrap_err().code;
        assert_eq!(code("0.1234567"), "price_too_precise");
        assert_eq!(code("0"), "price_not_positive");
        assert_eq!(code("-1.5"), "price_not_positive");
        assert_eq!(code("1000000000000"), "price_too_large");
        assert_eq!(code("NaN"), "price_not_decimal");
        assert_eq!(code("1e5"), "price_not_decimal");
        assert_eq!(code("1,5"), "price_not_decimal");
        assert_eq!(code("1."), "price_not_decimal");
        assert_eq!(parse_price("stop", None).unwrap(), None);
    }

    #[test]
    fn rows_the_domain_rejects_are_skipped() {
        let c = channels();
        let mut r = row();
        r.prices[5] = Some("0.30".into());
        assert_eq!(
            map_signal(&r, &c, &bounds()).unwrap_err().code,
            "invalid_call"
        );
        let mut r = row();
        r.prices = Default::default();
        assert_eq!(
            map_signal(&r, &c, &bounds()).unwrap_err().code,
            "invalid_call"
        );
        let mut r = row();
        r.asset = Some("ALVO1".into());
        assert_eq!(
            map_signal(&r, &c, &bounds()).unwrap_err().code,
            "asset_not_ticker"
        );
        let mut r = row();
        r.channel = None;
        assert_eq!(
            map_signal(&r, &c, &bounds()).unwrap_err().code,
            "channel_missing"
        );
        let mut r = row();
        r.ts = DateTime::from_timestamp(1_759_857, 0);
        assert_eq!(
            map_signal(&r, &c, &bounds()).unwrap_err().code,
            "ts_out_of_range"
        );
        let mut r = row();
        r.id = "42".into();
        assert_eq!(
            map_signal(&r, &c, &bounds()).unwrap_err().code,
            "id_not_uuid"
        );
    }

    #[test]
    fn null_prices_stay_null_and_unknown_kinds_are_reported() {
        let mut r = row();
        r.prices = [
            None,
            None,
            Some("0.35".into()),
            None,
            None,
            Some("0.16".into()),
        ];
        r.signal_type = Some("Opção".into());
        r.raw_message = None;
        let m = map_signal(&r, &channels(), &bounds()).unwrap();
        assert_eq!(
            (m.entry_min, m.entry_max, m.target_final),
            (None, None, None)
        );
        assert_eq!(m.kind, None);
        assert_eq!(m.warnings.len(), 2);
        assert_eq!(m.raw_message, "");
    }

    #[test]
    fn integers_follow_the_sql_pattern() {
        assert_eq!(parse_integer("-1001234567890"), Some(-1_001_234_567_890));
        assert_eq!(parse_integer("+5"), None);
        assert_eq!(parse_integer("1234567890123456789"), None);
        assert_eq!(parse_integer(""), None);
        assert_eq!(parse_integer("-"), None);
    }

    #[test]
    fn messages_map_with_photos_and_defaults() {
        let row = LegacyMessage {
            channel_id: "-1001000000001".into(),
            message_id: "77".into(),
            message_date: DateTime::from_timestamp(1_759_857_959, 0),
            text: None,
            photos: Some("[\"a.jpg\"]".into()),
            received_at: None,
            key: Default::default(),
        };
        let m = map_message(&row, &bounds()).unwrap();
        assert_eq!(m.media_type, Some("photo"));
        assert_eq!(m.metadata, "{\"legacy_photos\": [\"a.jpg\"]}");
        assert_eq!(m.received_at, m.message_date);
        assert_eq!(m.text, "");
        let empty = LegacyMessage {
            photos: Some("[]".into()),
            ..row.clone()
        };
        assert_eq!(map_message(&empty, &bounds()).unwrap().media_type, None);
        let bad = LegacyMessage {
            message_id: "x1".into(),
            ..row
        };
        assert_eq!(
            map_message(&bad, &bounds()).unwrap_err().code,
            "message_id_not_integer"
        );
    }
}
