//! How one legacy row becomes one row of the new schema, as pure functions: channel resolution,
//! synthetic ids, kinds, exact prices, and the domain's own invariants (a row the API could not
//! read back is skipped with its reason, never stored).

mod channels;
mod message;
mod signal;
#[cfg(test)]
mod tests;

use std::str::FromStr;

use chrono::{DateTime, Utc};
use domain::model::{Price, SignalKind};
use rust_decimal::Decimal;
use serde::Serialize;

pub use channels::{
    ChannelResolution, TelegramChannel, UNKNOWN_CHANNEL_ID, UNKNOWN_CHANNEL_LABEL,
    resolve_channels, synthetic_channel_id,
};
pub use message::{LegacyMessage, MESSAGE_OUTCOME, MappedMessage, map_message};
pub use signal::{LegacySignal, MappedSignal, map_signal, synthetic_message_id};

/// The `parser_version` of every imported row.
pub const PARSER_VERSION: &str = "legacy-import";

/// An integer legacy id becomes the UUID `md5(ID_NAMESPACE || id)` (in SQL, so both sides of
/// validation derive it the same way): stable, so a second run finds every row again.
pub const ID_NAMESPACE: &str = "tp_capital_signals/";

/// A UUID in text, with or without dashes (the SQL test before a cast).
pub const UUID_PATTERN: &str = "^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$";

/// The `signal_type` values that mean options (no horizon): imported with no kind, the label
/// kept in the row's warnings.
const OPTIONS_TYPES: [&str; 4] = ["opções", "opcoes", "opção", "opcao"];

/// The `asset` of the legacy sync worker's bookkeeping row (`signal_type` `historical_sync`).
pub const CHECKPOINT_ASSET: &str = "__checkpoint__";

/// The legacy price columns, in the order of [`LegacySignal::prices`].
pub const PRICE_COLUMNS: [&str; 6] = [
    "buy_min",
    "buy_max",
    "target_1",
    "target_2",
    "target_final",
    "stop",
];

/// Why a legacy row is not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    /// A stable reason code (`price_too_precise`, `invalid_call`, …).
    pub code: &'static str,
    /// The reason with the offending values.
    pub detail: String,
}

impl Skip {
    pub(crate) fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
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

/// `signal_type` names options (`Opções`, about a quarter of the legacy rows): a trade call with
/// no horizon, so no kind.
pub fn is_options(signal_type: &str) -> bool {
    OPTIONS_TYPES.contains(&signal_type.trim().to_lowercase().as_str())
}

/// What a legacy `signal_type` becomes, in words (the dry run and the report).
pub fn kind_label(signal_type: &str) -> String {
    match kind_of(signal_type) {
        Some(k) => k.as_str().to_owned(),
        None if is_options(signal_type) => {
            "none: options, horizon unknown (channel default; label kept in warnings)".to_owned()
        }
        None => "none: unrecognised (channel default; label kept in warnings)".to_owned(),
    }
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

    pub(crate) fn check(&self, ts: DateTime<Utc>) -> Result<DateTime<Utc>, Skip> {
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
