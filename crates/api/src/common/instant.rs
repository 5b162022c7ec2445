//! `from`/`to` bounds: an ISO date, an ISO (RFC 3339) date-time or epoch milliseconds. A date
//! alone is a day of the desk's time zone (`America/Sao_Paulo` unless configured otherwise): the
//! dashboard sends `<input type=date>` values, which mean São Paulo days; a date-time carries its
//! own offset and is taken as given.

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::json;
use service_kit::Problem;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};

use super::params::{clip, empty_string, integer, null};

/// The desk's time zone when none is configured.
pub const DEFAULT_DESK_ZONE: Tz = chrono_tz::America::Sao_Paulo;

/// How every `from`/`to` is read, for the OpenAPI descriptions.
pub const BOUNDS_DOC: &str = "A date alone (`2025-10-01`) is a day of the desk's time zone \
(America/Sao_Paulo unless `TP_CAPITAL_DESK_TIME_ZONE` says otherwise); a date-time needs its offset \
(`2025-10-01T10:00:00-03:00`, `…Z`) and is taken as given; epoch milliseconds are UTC.";

/// The latest instant accepted (9999-12-31T23:59:59.999Z), in epoch milliseconds.
pub const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// `from`/`to`: an ISO date, an ISO (RFC 3339) date-time or epoch milliseconds
/// ([`BOUNDS_DOC`]).
pub fn instant_schema() -> RefOr<Schema> {
    let string = |format: KnownFormat, example: &str| -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
            .examples([json!(example)])
            .into()
    };
    OneOfBuilder::new()
        .description(Some(BOUNDS_DOC))
        .item(string(KnownFormat::Date, "2025-10-01"))
        .item(string(KnownFormat::DateTime, "2025-10-01T13:00:00Z"))
        .item(integer(0, MAX_EPOCH_MS, 1_760_000_000_000))
        .item(empty_string())
        .into()
}

/// [`instant_schema`] or `null` (JSON bodies).
pub fn instant_or_null_schema() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(instant_schema())
        .item(null())
        .into()
}

/// A validated `from`/`to` window; either end may be open.
pub type Window = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Parses a `from`/`to` pair, dates as days of `zone` (`to` before `from` is an empty window,
/// not an error).
pub fn parse_range(from: Option<&str>, to: Option<&str>, zone: Tz) -> Result<Window, Problem> {
    let from = from
        .filter(|f| !f.is_empty())
        .map(|f| parse_instant("from", f, false, zone))
        .transpose()?;
    let to = to
        .filter(|t| !t.is_empty())
        .map(|t| parse_instant("to", t, true, zone))
        .transpose()?;
    Ok((from, to))
}

/// Parses an instant: epoch milliseconds, an ISO date (its start in `zone`, or with
/// `end_of_day` its last microsecond) or an RFC 3339 date-time.
pub fn parse_instant(
    field: &str,
    raw: &str,
    end_of_day: bool,
    zone: Tz,
) -> Result<DateTime<Utc>, Problem> {
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return parse_epoch_ms(field, raw);
    }
    parse_iso(field, raw, end_of_day, zone)
}

/// The first instant of `date` in `zone` (past a daylight-saving gap when midnight is skipped,
/// as São Paulo's clocks did until 2019).
pub fn start_of_day(date: NaiveDate, zone: Tz) -> Option<DateTime<Utc>> {
    (0..=3).find_map(|hour| {
        let local = date.and_hms_opt(hour, 0, 0)?;
        zone.from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
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

/// An ISO date (its start in `zone`, or with `end_of_day` its last microsecond) or an RFC 3339
/// date-time.
pub fn parse_iso(
    field: &str,
    raw: &str,
    end_of_day: bool,
    zone: Tz,
) -> Result<DateTime<Utc>, Problem> {
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
        let bound = if end_of_day {
            date.succ_opt()
                .and_then(|next| start_of_day(next, zone))
                .map(|next| next - TimeDelta::microseconds(1))
        } else {
            start_of_day(date, zone)
        };
        return bound.ok_or_else(bad);
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad())
}
