//! Query parameters: what each list endpoint accepts, documented in OpenAPI exactly as it is
//! validated (so a schema-valid request is never refused and a schema-violating one never
//! accepted), and their validation into domain queries. Every rejection is a 400 problem naming
//! the parameter. An empty value (`from=`) means "not given", as the legacy dashboard sends it.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use domain::model::{ChannelId, SignalKind, Ticker};
use domain::ports::{MessageOutcome, MessageQuery, SignalQuery, StatsQuery};
use serde::Deserialize;
use serde_json::json;
use service_kit::Problem;
use utoipa::IntoParams;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};

use crate::cursor;

/// Default page size of the lists.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest page of any list.
pub const MAX_LIMIT: u32 = 1000;
/// Longest free-text parameter, in characters.
const MAX_TEXT: usize = 200;
/// The latest instant accepted (9999-12-31T23:59:59.999Z), in epoch milliseconds.
pub const MAX_EPOCH_MS: i64 = 253_402_300_799_999;
/// Every free-text value: no NUL (PostgreSQL text cannot hold it).
const TEXT_PATTERN: &str = "^[^\\u0000]*$";
/// An asset filter: letters and digits.
const ASSET_PATTERN: &str = "^[A-Za-z0-9]{0,16}$";

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
const STATUS_VALUES: [&str; 6] = [
    "open",
    "target_hit",
    "stopped",
    "cancelled",
    "expired",
    "closed",
];
const OUTCOME_VALUES: [&str; 4] = ["signal", "update", "ignored", "rejected"];
const LEVEL_VALUES: [&str; 5] = ["debug", "info", "warn", "warning", "error"];
const FORMAT_VALUES: [&str; 2] = ["csv", "json"];

fn empty_string() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(0))
        .description(Some("empty: not given"))
        .into()
}

fn or_empty(schema: RefOr<Schema>) -> RefOr<Schema> {
    OneOfBuilder::new().item(schema).item(empty_string()).into()
}

fn integer(min: i64, max: i64, example: i64) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
        .examples([json!(example)])
        .into()
}

fn string_enum(values: &[&str], example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied().chain([""])))
        .examples([json!(example)])
        .into()
}

/// `from`/`to`: an ISO date, an ISO (RFC 3339) date-time or epoch milliseconds.
pub fn instant_schema() -> RefOr<Schema> {
    let string = |format: KnownFormat, example: &str| -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
            .examples([json!(example)])
            .into()
    };
    OneOfBuilder::new()
        .item(string(KnownFormat::Date, "2025-10-01"))
        .item(string(KnownFormat::DateTime, "2025-10-01T13:00:00Z"))
        .item(integer(0, MAX_EPOCH_MS, 1_760_000_000_000))
        .item(empty_string())
        .into()
}

fn null() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::Null).into()
}

/// [`instant_schema`] or `null` (JSON bodies).
pub fn instant_or_null_schema() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(instant_schema())
        .item(null())
        .into()
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

fn top_schema() -> RefOr<Schema> {
    or_empty(integer(1, 500, 20))
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

fn text_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_TEXT))
        .pattern(Some(TEXT_PATTERN))
        .examples([json!("BOVA")])
        .into()
}

fn channel_filter_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_TEXT))
        .pattern(Some(TEXT_PATTERN))
        .examples([json!("TP Capital")])
        .into()
}

fn asset_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(ASSET_PATTERN))
        .examples([json!("PETR4")])
        .into()
}

fn kind_schema() -> RefOr<Schema> {
    string_enum(&KIND_VALUES, "Swing Trade")
}

fn status_schema() -> RefOr<Schema> {
    string_enum(&STATUS_VALUES, "open")
}

fn outcome_schema() -> RefOr<Schema> {
    string_enum(&OUTCOME_VALUES, "rejected")
}

fn level_schema() -> RefOr<Schema> {
    string_enum(&LEVEL_VALUES, "warn")
}

fn format_schema() -> RefOr<Schema> {
    string_enum(&FORMAT_VALUES, "csv")
}

/// Filters of `/signals` and `/signals/export`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignalParams {
    /// Page size, 1–1000 (default 100). For the export: the most rows to write (default: all).
    #[param(schema_with = limit_schema)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = cursor_schema)]
    pub cursor: Option<String>,
    /// Channel id (`-1001649127710`) or channel label (case-insensitive).
    #[param(schema_with = channel_filter_schema)]
    pub channel: Option<String>,
    /// Exact B3 ticker, any case (a word that is no ticker matches nothing).
    #[param(schema_with = asset_schema)]
    pub asset: Option<String>,
    /// Signal type: the legacy label (`Swing Trade`) or the machine name (`swing_trade`).
    #[serde(rename = "type")]
    #[param(rename = "type", schema_with = kind_schema)]
    pub kind: Option<String>,
    /// Status.
    #[param(schema_with = status_schema)]
    pub status: Option<String>,
    /// Case-insensitive substring of the asset or of the message text.
    #[param(schema_with = text_schema)]
    pub search: Option<String>,
    /// Message time at or after: ISO date (start of that day, UTC), ISO date-time, or epoch
    /// milliseconds.
    #[param(schema_with = instant_schema)]
    pub from: Option<String>,
    /// Message time at or before: ISO date (the whole day, UTC, inclusive), ISO date-time, or
    /// epoch milliseconds. Before `from`, nothing matches.
    #[param(schema_with = instant_schema)]
    pub to: Option<String>,
}

/// `/signals` filters, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalFilter {
    /// The domain query.
    pub query: SignalQuery,
    /// Nothing can match (an asset word that is no ticker, an empty window): answer at once.
    pub matches_nothing: bool,
    /// Whether `limit` was given (the export writes everything otherwise).
    pub limit_given: bool,
}

impl SignalParams {
    /// Validates into a domain query.
    pub fn validate(&self) -> Result<SignalFilter, Problem> {
        let limit_given = given(&self.limit).is_some();
        let limit = parse_limit(self.limit.as_deref(), DEFAULT_LIMIT)?;
        let cursor = parse_cursor(&self.cursor, cursor::decode_signal)?;
        let channel = text("channel", &self.channel)?;
        let (asset, no_asset) = parse_asset(&self.asset)?;
        let kind = given(&self.kind).map(parse_kind).transpose()?;
        let status = given(&self.status)
            .map(|raw| one_of("status", raw, &STATUS_VALUES).map(str::to_owned))
            .transpose()?;
        let search = text("search", &self.search)?;
        let (from, to) = parse_range(self.from.as_deref(), self.to.as_deref())?;
        let empty_window = matches!((from, to), (Some(f), Some(t)) if t < f);
        Ok(SignalFilter {
            query: SignalQuery {
                limit,
                cursor,
                channel,
                asset,
                kind,
                status,
                search,
                from,
                to,
            },
            matches_nothing: no_asset || empty_window,
            limit_given,
        })
    }
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

fn one_of<'a>(field: &str, raw: &str, values: &[&'a str]) -> Result<&'a str, Problem> {
    values.iter().copied().find(|v| *v == raw).ok_or_else(|| {
        Problem::validation(
            field,
            format!("'{}' is not one of {}", clip(raw), values.join(", ")),
        )
    })
}

/// An asset filter: a ticker, or `no match` for a ticker-shaped word that is none.
fn parse_asset(raw: &Option<String>) -> Result<(Option<Ticker>, bool), Problem> {
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

fn parse_cursor<T>(
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
/// A validated signal query's cache key: every filter, normalised, length-prefixed.
pub fn signal_cache_key(prefix: &str, q: &SignalQuery) -> String {
    let mut key = String::with_capacity(96);
    key.push_str(prefix);
    push_field(&mut key, "l", &q.limit.to_string());
    if let Some(c) = &q.cursor {
        push_field(
            &mut key,
            "c",
            &format!("{}.{}", c.message_date.timestamp_micros(), c.id.0),
        );
    }
    if let Some(ch) = &q.channel {
        push_field(&mut key, "ch", &ch.to_lowercase());
    }
    if let Some(a) = &q.asset {
        push_field(&mut key, "a", a.as_str());
    }
    if let Some(k) = q.kind {
        push_field(&mut key, "k", k.as_str());
    }
    if let Some(s) = &q.status {
        push_field(&mut key, "st", s);
    }
    if let Some(s) = &q.search {
        push_field(&mut key, "q", &s.to_lowercase());
    }
    if let Some(f) = q.from {
        push_field(&mut key, "f", &f.timestamp_micros().to_string());
    }
    if let Some(t) = q.to {
        push_field(&mut key, "t", &t.timestamp_micros().to_string());
    }
    key
}

fn push_field(key: &mut String, name: &str, value: &str) {
    key.push('|');
    key.push_str(name);
    key.push_str(&value.len().to_string());
    key.push(':');
    key.push_str(value);
}

/// Filters of `/signals/stats`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Hours at or after (default: 7 days before `to`). ISO date, ISO date-time or epoch ms.
    #[param(schema_with = instant_schema)]
    pub from: Option<String>,
    /// Hours at or before (default: now). ISO date (whole day), ISO date-time or epoch ms.
    #[param(schema_with = instant_schema)]
    pub to: Option<String>,
    /// Only this channel id.
    #[param(schema_with = channel_id_schema)]
    pub channel: Option<String>,
    /// Only this asset (a word that is no ticker matches nothing).
    #[param(schema_with = asset_schema)]
    pub asset: Option<String>,
    /// Most assets listed in `by_asset` (1–500, default 50).
    #[param(schema_with = top_schema)]
    pub top: Option<String>,
}

/// Default window of `/signals/stats` when `from` is absent.
pub const DEFAULT_STATS_WINDOW: TimeDelta = TimeDelta::days(7);

impl StatsParams {
    /// Validates into a domain query. `now` resolves the default window; the cache key is
    /// built from the parameters as given, so a default window stays one cache entry.
    /// `None` as the query means nothing can match (an asset word that is no ticker).
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(Option<StatsQuery>, String), Problem> {
        let (from, to) = parse_range(self.from.as_deref(), self.to.as_deref())?;
        let channel = parse_channel_id("channel", &self.channel)?;
        let (asset, no_asset) = parse_asset(&self.asset)?;
        let top = parse_bounded("top", self.top.as_deref(), 50, 500)?;
        let mut key = String::from("stats1");
        if let Some(f) = from {
            push_field(&mut key, "f", &f.timestamp_micros().to_string());
        }
        if let Some(t) = to {
            push_field(&mut key, "t", &t.timestamp_micros().to_string());
        }
        if let Some(c) = channel {
            push_field(&mut key, "ch", &c.0.to_string());
        }
        if let Some(a) = &asset {
            push_field(&mut key, "a", a.as_str());
        }
        push_field(&mut key, "n", &top.to_string());
        let to_resolved = to.unwrap_or(now);
        let from = from.or_else(|| to_resolved.checked_sub_signed(DEFAULT_STATS_WINDOW));
        let query = StatsQuery {
            from,
            to,
            channel,
            asset,
            top_assets: top,
        };
        Ok(((!no_asset).then_some(query), key))
    }
}

/// Filters of `/messages` and `/forwarded-messages`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageParams {
    /// Page size, 1–1000 (default 100).
    #[param(schema_with = limit_schema)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = cursor_schema)]
    pub cursor: Option<String>,
    /// Parse outcome.
    #[param(schema_with = outcome_schema)]
    pub outcome: Option<String>,
    /// Channel id.
    #[param(schema_with = channel_id_schema)]
    pub channel: Option<String>,
    /// Channel id (the legacy dashboard's name for `channel`).
    #[serde(rename = "channelId")]
    #[param(rename = "channelId", schema_with = channel_id_schema)]
    pub channel_id: Option<String>,
    /// Message time at or after: ISO date, ISO date-time or epoch milliseconds.
    #[param(schema_with = instant_schema)]
    pub from: Option<String>,
    /// Message time at or before: ISO date (whole day), ISO date-time or epoch milliseconds.
    #[param(schema_with = instant_schema)]
    pub to: Option<String>,
}

impl MessageParams {
    /// Validates into a domain query.
    pub fn validate(&self) -> Result<MessageQuery, Problem> {
        let limit = parse_limit(self.limit.as_deref(), DEFAULT_LIMIT)?;
        let cursor = parse_cursor(&self.cursor, cursor::decode_message)?;
        let outcomes = match given(&self.outcome) {
            Some(raw) => vec![parse_outcome("outcome", raw)?],
            None => Vec::new(),
        };
        let channel = parse_channel_id("channel", &self.channel)?;
        let legacy = parse_channel_id("channelId", &self.channel_id)?;
        let channel = channel.or(legacy);
        let (from, to) = parse_range(self.from.as_deref(), self.to.as_deref())?;
        Ok(MessageQuery {
            limit,
            cursor,
            outcomes,
            channel,
            from,
            to,
        })
    }
}

/// Parses an outcome name.
pub fn parse_outcome(field: &str, raw: &str) -> Result<MessageOutcome, Problem> {
    one_of(field, raw, &OUTCOME_VALUES).and_then(|name| {
        MessageOutcome::from_name(name).ok_or_else(|| Problem::validation(field, "unknown outcome"))
    })
}

/// Parameters of `/logs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// Entries, 1–1000 (default 100), newest first.
    #[param(schema_with = limit_schema)]
    pub limit: Option<String>,
    /// Lowest level shown (`warn` shows warnings and errors).
    #[param(schema_with = level_schema)]
    pub level: Option<String>,
}

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Ignored messages.
    Debug,
    /// Signals and updates.
    Info,
    /// Rejected messages.
    Warn,
    /// Failures.
    Error,
}

impl Level {
    /// The name shown in log entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl LogParams {
    /// Validates: the number of entries and the lowest level.
    pub fn validate(&self) -> Result<(u32, Level), Problem> {
        let limit = parse_limit(self.limit.as_deref(), DEFAULT_LIMIT)?;
        let level = match given(&self.level).map(|l| one_of("level", l, &LEVEL_VALUES)) {
            None => Level::Debug,
            Some(l) => match l? {
                "debug" => Level::Debug,
                "info" => Level::Info,
                "error" => Level::Error,
                _ => Level::Warn,
            },
        };
        Ok((limit, level))
    }
}

/// `format` of `/signals/export`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportFormatParam {
    /// `csv` (default) or `json` (one JSON array).
    #[param(schema_with = format_schema)]
    pub format: Option<String>,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// A JSON array of signal rows.
    Json,
}

impl ExportFormatParam {
    /// Validates the format.
    pub fn validate(&self) -> Result<ExportFormat, Problem> {
        match given(&self.format)
            .map(|f| one_of("format", f, &FORMAT_VALUES))
            .transpose()?
        {
            Some("json") => Ok(ExportFormat::Json),
            _ => Ok(ExportFormat::Csv),
        }
    }
}

/// Parses `limit`: absent = `default`, otherwise 1..=[`MAX_LIMIT`].
pub fn parse_limit(raw: Option<&str>, default: u32) -> Result<u32, Problem> {
    parse_bounded("limit", raw, default, MAX_LIMIT)
}

fn parse_bounded(field: &str, raw: Option<&str>, default: u32, max: u32) -> Result<u32, Problem> {
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

/// A validated `from`/`to` window; either end may be open.
pub type Window = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Parses a `from`/`to` pair (`to` before `from` is an empty window, not an error).
pub fn parse_range(from: Option<&str>, to: Option<&str>) -> Result<Window, Problem> {
    let from = from
        .filter(|f| !f.is_empty())
        .map(|f| parse_instant("from", f, false))
        .transpose()?;
    let to = to
        .filter(|t| !t.is_empty())
        .map(|t| parse_instant("to", t, true))
        .transpose()?;
    Ok((from, to))
}

/// Parses an instant: epoch milliseconds, an ISO date (its start, or with `end_of_day` its
/// last microsecond, UTC) or an ISO date-time (with offset, or UTC when it has none).
pub fn parse_instant(field: &str, raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, Problem> {
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return parse_epoch_ms(field, raw);
    }
    parse_iso(field, raw, end_of_day)
}

/// Epoch milliseconds, 0 to the end of year 9999.
pub fn parse_epoch_ms(field: &str, raw: &str) -> Result<DateTime<Utc>, Problem> {
    raw.parse::<i64>()
        .ok()
        .filter(|ms| (0..=MAX_EPOCH_MS).contains(ms))
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| {
            Problem::validation(
                field,
                format!(
                    "'{}' is not epoch milliseconds between 0 and {MAX_EPOCH_MS}",
                    clip(raw)
                ),
            )
        })
}

/// An ISO date (its start, or with `end_of_day` its last microsecond, UTC) or an RFC 3339
/// date-time.
pub fn parse_iso(field: &str, raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, Problem> {
    let bad = || {
        Problem::validation(
            field,
            format!(
                "'{}' is not an ISO date (2025-10-01), an ISO date-time (2025-10-01T13:00:00Z) or epoch milliseconds",
                clip(raw)
            ),
        )
    };
    if raw.len() == 10
        && let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
    {
        let start = date.and_time(NaiveTime::MIN).and_utc();
        if !end_of_day {
            return Ok(start);
        }
        return Ok(start
            .checked_add_signed(TimeDelta::days(1) - TimeDelta::microseconds(1))
            .unwrap_or(start));
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad())
}

/// The value when one was given (`x=` counts as not given).
fn given(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().filter(|r| !r.is_empty())
}

/// A free-text parameter: at most 200 characters, no NUL; trimmed, blank = not given.
fn text(field: &str, raw: &Option<String>) -> Result<Option<String>, Problem> {
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

/// At most 40 characters of an invalid input, for the problem's detail.
fn clip(raw: &str) -> String {
    let mut s: String = raw.chars().take(40).collect();
    if raw.chars().count() > 40 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(q: &str) -> Result<SignalFilter, Problem> {
        service_kit::extract::parse_query::<SignalParams>(q)?.validate()
    }

    fn field_of(r: Result<SignalFilter, Problem>) -> Option<String> {
        r.err().and_then(|p| p.field.clone())
    }

    #[test]
    fn the_dashboard_query_parses() {
        let f = signals("limit=50&channel=TP%20Capital&type=Swing%20Trade&search=bova&from=2025-10-01&to=2025-10-31")
            .expect("valid");
        let q = f.query;
        assert_eq!(q.limit, 50);
        assert_eq!(q.kind, Some(SignalKind::SwingTrade));
        assert_eq!(q.channel.as_deref(), Some("TP Capital"));
        assert_eq!(
            q.from.map(|t| t.to_rfc3339()),
            Some("2025-10-01T00:00:00+00:00".into())
        );
        assert_eq!(
            q.to.map(|t| t.to_rfc3339()),
            Some("2025-10-31T23:59:59.999999+00:00".into()),
            "a date as `to` covers the whole day"
        );
        assert_eq!(
            signals("type=swing_trade")
                .expect("machine name")
                .query
                .kind,
            Some(SignalKind::SwingTrade)
        );
        assert_eq!(signals("").expect("defaults").query.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn instants_in_every_accepted_form() {
        let ms = parse_instant("from", "1760000000000", false).expect("epoch ms");
        assert_eq!(ms.timestamp_millis(), 1_760_000_000_000);
        let dt = parse_instant("from", "2025-10-01T10:00:00-03:00", false).expect("offset");
        assert_eq!(dt.to_rfc3339(), "2025-10-01T13:00:00+00:00");
        assert!(
            parse_instant("from", "2025-10-01T13:00:00", false).is_err(),
            "a date-time needs its offset (RFC 3339)"
        );
        assert!(parse_instant("from", "2025-1-1", false).is_err());
        assert!(parse_instant("from", "2025-10-01t13:00:00.123456789z", false).is_ok());
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (q, field) in [
            ("limit=-1", "limit"),
            ("limit=abc", "limit"),
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=99999999999999999999999", "limit"),
            ("from=garbage", "from"),
            ("to=2025-13-45", "to"),
            ("from=99999999999999999999", "from"),
            ("cursor=garbage", "cursor"),
            ("type=Long%20Trade", "type"),
            ("status=sleeping", "status"),
            ("asset=PETR4%3B%20DROP", "asset"),
        ] {
            assert_eq!(field_of(signals(q)).as_deref(), Some(field), "{q}");
        }
        assert_eq!(
            field_of(signals("outcome=x&status=OPEN")).as_deref(),
            Some("status")
        );
        assert_eq!(
            field_of(signals("type=swing%20trade")).as_deref(),
            Some("type"),
            "exact names"
        );
        assert_eq!(field_of(signals("search=a%00b")).as_deref(), Some("search"));
        let inverted = signals("from=2025-10-02&to=2025-10-01").expect("an empty window");
        assert!(inverted.matches_nothing);
        let blank = signals("limit=&from=&to=&type=&channel=&cursor=").expect("blank = not given");
        assert_eq!(blank.query.limit, DEFAULT_LIMIT);
        let long = format!("search={}", "a".repeat(201));
        assert_eq!(field_of(signals(&long)).as_deref(), Some("search"));
    }

    #[test]
    fn label_shaped_assets_match_nothing_instead_of_failing() {
        let f = signals("asset=ALVO1").expect("ticker-shaped");
        assert!(f.matches_nothing);
        assert_eq!(
            signals("asset=petr4")
                .expect("lower case")
                .query
                .asset
                .map(|a| a.to_string()),
            Some("PETR4".into())
        );
    }

    #[test]
    fn equal_queries_share_a_cache_key_and_different_ones_do_not() {
        let a = signals("limit=50&type=Swing%20Trade&channel=TP")
            .expect("a")
            .query;
        let b = signals("channel=tp&type=swing_trade&limit=50&_=123")
            .expect("b")
            .query;
        let c = signals("limit=50&type=swing_trade&search=tp")
            .expect("c")
            .query;
        assert_eq!(signal_cache_key("s", &a), signal_cache_key("s", &b));
        assert_ne!(signal_cache_key("s", &a), signal_cache_key("s", &c));
    }

    #[test]
    fn messages_and_logs_parameters() {
        let q =
            service_kit::extract::parse_query::<MessageParams>("channelId=-100&outcome=rejected")
                .expect("parse")
                .validate()
                .expect("valid");
        assert_eq!(q.channel, Some(ChannelId(-100)));
        assert_eq!(q.outcomes, vec![MessageOutcome::Rejected]);
        let both = service_kit::extract::parse_query::<MessageParams>("channel=-1&channelId=null")
            .expect("parse")
            .validate()
            .expect_err("every given value is checked");
        assert_eq!(both.field.as_deref(), Some("channelId"));
        let bad = service_kit::extract::parse_query::<MessageParams>("channel=abc")
            .expect("parse")
            .validate()
            .expect_err("not an id");
        assert_eq!(bad.field.as_deref(), Some("channel"));
        let (limit, level) =
            service_kit::extract::parse_query::<LogParams>("level=warning&limit=5")
                .expect("parse")
                .validate()
                .expect("valid");
        assert_eq!((limit, level), (5, Level::Warn));
    }
}
