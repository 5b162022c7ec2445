//! The lenient scalars of the gateway's payload: ids as numbers or strings, dates as ISO 8601
//! or epoch seconds/milliseconds.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// A Telegram id sent as a JSON number or a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TelegramId(pub i64);

impl<'de> Deserialize<'de> for TelegramId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TelegramId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer id (a number or a numeric string)")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TelegramId, E> {
                Ok(TelegramId(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TelegramId, E> {
                i64::try_from(v)
                    .map(TelegramId)
                    .map_err(|_| E::custom(format!("{v} is out of range")))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TelegramId, E> {
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(TelegramId(v as i64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<TelegramId, E> {
                v.trim()
                    .parse::<i64>()
                    .map(TelegramId)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// A point in time sent as ISO 8601 / RFC 3339 text, a date, or epoch seconds or
/// milliseconds (numbers or numeric strings; values above 10^11 are milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Reads the accepted text forms.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        if let Ok(n) = t.parse::<i64>() {
            return Self::from_epoch(n);
        }
        if let Ok(d) = DateTime::parse_from_rfc3339(t) {
            return Some(Self(d.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
            if let Ok(d) = DateTime::parse_from_str(t, format) {
                return Some(Self(d.with_timezone(&Utc)));
            }
        }
        for format in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
        ] {
            if let Ok(d) = NaiveDateTime::parse_from_str(t, format) {
                return Some(Self(Utc.from_utc_datetime(&d)));
            }
        }
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Self(Utc.from_utc_datetime(&d)))
    }

    /// Epoch seconds, or milliseconds when the magnitude says so.
    pub fn from_epoch(n: i64) -> Option<Self> {
        let dt = if n.unsigned_abs() >= 100_000_000_000 {
            DateTime::from_timestamp_millis(n)
        } else {
            DateTime::from_timestamp(n, 0)
        };
        dt.map(Self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 8601 date-time or epoch seconds/milliseconds")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Timestamp::from_epoch(v).ok_or_else(|| E::custom(format!("{v} is out of range")))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(Timestamp::from_epoch)
                    .ok_or_else(|| E::custom(format!("{v} is out of range")))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                if !v.is_finite() || v.abs() > 9.0e15 {
                    return Err(E::invalid_value(de::Unexpected::Float(v), &self));
                }
                let (whole, frac) = (v.trunc() as i64, v.fract());
                if whole.unsigned_abs() >= 100_000_000_000 {
                    return Timestamp::from_epoch(whole)
                        .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self));
                }
                DateTime::from_timestamp(
                    whole,
                    (frac * 1e9).round().clamp(0.0, 999_999_999.0) as u32,
                )
                .map(Timestamp)
                .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}
