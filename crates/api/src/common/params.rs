//! What every list endpoint's query parameters share: their OpenAPI schemas, documented exactly
//! as they are validated (so a schema-valid request is never refused and a schema-violating one
//! never accepted), and their validation. Every rejection is a 400 problem naming the parameter.
//! An empty value (`limit=`) means "not given", as the legacy dashboard sends it.

use domain::model::{ChannelId, SignalKind, Ticker};
use serde_json::json;
use service_kit::Problem;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};

use crate::cursor;

/// Default page size of the lists.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest page of any list.
pub const MAX_LIMIT: u32 = 1000;
/// Longest free-text parameter, in characters.
pub const MAX_TEXT: usize = 200;
/// Every free-text value: no NUL (PostgreSQL text cannot hold it).
pub const TEXT_PATTERN: &str = "^[^\\u0000]*$";
/// Shortest search term, trimmed: below a trigram no index helps and every message is scanned.
pub const MIN_SEARCH: usize = 3;
/// A search term: blank (no search) or at least [`MIN_SEARCH`] characters once trimmed, no NUL.
pub const SEARCH_PATTERN: &str = "^(\\s*|\\s*[^\\s\\u0000][^\\u0000]+[^\\s\\u0000]\\s*)$";
/// An asset filter: letters and digits.
pub const ASSET_PATTERN: &str = "^[A-Za-z0-9]{0,16}$";

/// The signal types `type` accepts: the legacy labels and the machine names.
pub const KIND_VALUES: [&str; 8] = [
    "Swing Trade",
    "Day Trade",
    "Scalping",
    "Position",
    "swing_trade",
    "day_trade",
    "scalping",
    "position",
];

pub fn empty_string() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(0))
        .description(Some("empty: not given"))
        .into()
}

pub fn or_empty(schema: RefOr<Schema>) -> RefOr<Schema> {
    OneOfBuilder::new().item(schema).item(empty_string()).into()
}

pub fn integer(min: i64, max: i64, example: i64) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
        .examples([json!(example)])
        .into()
}

pub fn string_enum(values: &[&str], example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied().chain([""])))
        .examples([json!(example)])
        .into()
}

pub fn null() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::Null).into()
}

/// [`cursor_schema`] or `null` (JSON bodies).
pub fn cursor_or_null_schema() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(cursor_schema())
        .item(null())
        .into()
}

/// `limit`: 1–1000.
pub fn limit_schema() -> RefOr<Schema> {
    or_empty(integer(1, i64::from(MAX_LIMIT), 50))
}

/// A Telegram chat id.
pub fn channel_id_schema() -> RefOr<Schema> {
    or_empty(integer(i64::MIN, i64::MAX, -1_001_649_127_710))
}

/// A page cursor: `next_cursor` of the previous page.
pub fn cursor_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(cursor::PATTERN))
        .examples([json!("1760965200000000.1234")])
        .into()
}

pub fn search_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_TEXT))
        .pattern(Some(SEARCH_PATTERN))
        .examples([json!("BOVA")])
        .into()
}

pub fn asset_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(ASSET_PATTERN))
        .examples([json!("PETR4")])
        .into()
}

pub fn kind_schema() -> RefOr<Schema> {
    string_enum(&KIND_VALUES, "Swing Trade")
}

/// Parses a signal type: exactly a legacy label or a machine name.
pub fn parse_kind(raw: &str) -> Result<SignalKind, Problem> {
    SignalKind::ALL
        .into_iter()
        .find(|k| k.as_str() == raw || k.legacy_label() == raw)
        .ok_or_else(|| {
            Problem::validation(
                "type",
                format!(
                    "unknown signal type '{}': use Swing Trade, Day Trade, Scalping, Position (or swing_trade …)",
                    clip(raw)
                ),
            )
        })
}

pub fn one_of<'a>(field: &str, raw: &str, values: &[&'a str]) -> Result<&'a str, Problem> {
    values.iter().copied().find(|v| *v == raw).ok_or_else(|| {
        Problem::validation(
            field,
            format!("'{}' is not one of {}", clip(raw), values.join(", ")),
        )
    })
}

/// An asset filter: a ticker, or `no match` for a ticker-shaped word that is none.
pub fn parse_asset(raw: &Option<String>) -> Result<(Option<Ticker>, bool), Problem> {
    let Some(raw) = raw.as_deref().filter(|r| !r.is_empty()) else {
        return Ok((None, false));
    };
    if raw.len() > 16 || !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Problem::validation(
            "asset",
            format!("'{}' is not a B3 ticker", clip(raw)),
        ));
    }
    Ok(match Ticker::parse(raw) {
        Some(t) => (Some(t), false),
        None => (None, true),
    })
}

pub fn parse_cursor<T>(
    raw: &Option<String>,
    decode: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, Problem> {
    match raw.as_deref().filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(raw) => decode(raw)
            .map(Some)
            .ok_or_else(|| Problem::validation("cursor", "not a cursor issued by this service")),
    }
}
/// Parses `limit`: absent = `default`, otherwise 1..=[`MAX_LIMIT`].
pub fn parse_limit(raw: Option<&str>, default: u32) -> Result<u32, Problem> {
    parse_bounded("limit", raw, default, MAX_LIMIT)
}

pub fn parse_bounded(
    field: &str,
    raw: Option<&str>,
    default: u32,
    max: u32,
) -> Result<u32, Problem> {
    let Some(raw) = raw.filter(|r| !r.is_empty()).map(str::trim) else {
        return Ok(default);
    };
    match raw.parse::<i64>() {
        Ok(n) if (1..=i64::from(max)).contains(&n) => Ok(n as u32),
        Ok(_) => Err(Problem::validation(
            field,
            format!("must be between 1 and {max}"),
        )),
        Err(_) => Err(Problem::validation(
            field,
            format!("'{}' is not an integer", clip(raw)),
        )),
    }
}

/// Parses a channel id parameter.
pub fn parse_channel_id(field: &str, raw: &Option<String>) -> Result<Option<ChannelId>, Problem> {
    match given(raw) {
        None => Ok(None),
        Some(r) => r
            .trim()
            .parse::<i64>()
            .map(|id| Some(ChannelId(id)))
            .map_err(|_| Problem::validation(field, format!("'{}' is not a channel id", clip(r)))),
    }
}

/// The value when one was given (`x=` counts as not given).
pub fn given(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().filter(|r| !r.is_empty())
}

/// A free-text parameter: at most 200 characters, no NUL; trimmed, blank = not given.
pub fn text(field: &str, raw: &Option<String>) -> Result<Option<String>, Problem> {
    let Some(raw) = given(raw) else {
        return Ok(None);
    };
    if raw.chars().count() > MAX_TEXT {
        return Err(Problem::validation(
            field,
            format!("longer than {MAX_TEXT} characters"),
        ));
    }
    if raw.contains('\0') {
        return Err(Problem::validation(field, "contains a NUL character"));
    }
    let t = raw.trim();
    Ok((!t.is_empty()).then(|| t.to_owned()))
}

/// A search term ([`text`]) of at least [`MIN_SEARCH`] characters once trimmed, else a 400
/// saying so. Trimmed as [`SEARCH_PATTERN`]'s `\\s` reads (Unicode whitespace and the
/// separators U+001C–U+001F), so a schema-valid term is never refused.
pub fn search(field: &str, raw: &Option<String>) -> Result<Option<String>, Problem> {
    let Some(term) = text(field, raw)? else {
        return Ok(None);
    };
    let term = term.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c));
    if term.is_empty() {
        return Ok(None);
    }
    if term.chars().count() < MIN_SEARCH {
        return Err(Problem::validation(
            field,
            format!("at least {MIN_SEARCH} characters: a shorter term would scan every message"),
        ));
    }
    Ok(Some(term.to_owned()))
}

/// At most 40 characters of an invalid input, for the problem's detail.
pub fn clip(raw: &str) -> String {
    let mut s: String = raw.chars().take(40).collect();
    if raw.chars().count() > 40 {
        s.push('…');
    }
    s
}

/// A channel filter: an id or a label.
pub fn channel_filter_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_TEXT))
        .pattern(Some(TEXT_PATTERN))
        .examples([json!("TP Capital")])
        .into()
}
