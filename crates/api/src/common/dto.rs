//! Wire types every resource shares: prices as JSON numbers, ISO 8601 times as the legacy
//! service wrote them, and the names of kinds, directions and statuses.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::model::{Direction, Price, SignalKind, SignalStatus};
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

/// A price as a JSON number (exact decimal → nearest double; every `NUMERIC(18,6)` price
/// round-trips through its shortest decimal representation).
pub fn number(p: Price) -> f64 {
    p.value().to_f64().unwrap_or(f64::NAN)
}

/// ISO 8601 with milliseconds and `Z`, as the legacy service wrote (`toISOString`).
pub fn iso<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    serialize_time(t, SecondsFormat::Millis, s)
}

/// ISO 8601 with microseconds and `Z`: for `ingested_at`, unique per signal (the dashboard keys
/// its rows by it).
pub fn iso_micros<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    serialize_time(t, SecondsFormat::Micros, s)
}

/// `t.to_rfc3339_opts(digits, true)`, written on the stack for the years 0–9999 (a page holds
/// a few hundred times; each `String` was an allocation).
fn serialize_time<S: Serializer>(
    t: &DateTime<Utc>,
    digits: SecondsFormat,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 27];
    match write_time(t, digits, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => s.serialize_str(&t.to_rfc3339_opts(digits, true)),
    }
}

/// `YYYY-MM-DDThh:mm:ss.fff[fff]Z` into `buf`; `None` outside the years 0–9999, for a leap
/// second or another precision (left to chrono).
pub(crate) fn write_time<'a>(
    t: &DateTime<Utc>,
    digits: SecondsFormat,
    buf: &'a mut [u8; 27],
) -> Option<&'a str> {
    use chrono::{Datelike, Timelike};
    let (fraction, len) = match digits {
        SecondsFormat::Millis => (t.nanosecond() / 1_000_000, 3),
        SecondsFormat::Micros => (t.nanosecond() / 1_000, 6),
        _ => return None,
    };
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    if t.nanosecond() >= 1_000_000_000 {
        return None;
    }
    let mut put = |at: usize, value: u32, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    put(20, fraction, len);
    for (at, sep) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        buf[at] = sep;
    }
    buf[20 + len] = b'Z';
    std::str::from_utf8(&buf[..21 + len]).ok()
}

/// [`iso`], or `null`.
pub fn iso_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
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
