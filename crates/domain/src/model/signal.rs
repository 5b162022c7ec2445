//! Signals: what a trade call becomes once parsed and stored.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{ChannelId, MessageId, Price, Ticker};

/// Long (Compra / Buy) or short (Venda / Sell).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Buy first, profit when the price rises.
    Long,
    /// Sell first, profit when the price falls.
    Short,
}

/// The trading horizon of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// Days to weeks (the legacy default).
    SwingTrade,
    /// Opened and closed the same day.
    DayTrade,
    /// Minutes.
    Scalping,
    /// Months.
    Position,
}

impl SignalKind {
    /// Every kind, in display order.
    pub const ALL: [SignalKind; 4] = [
        SignalKind::SwingTrade,
        SignalKind::DayTrade,
        SignalKind::Scalping,
        SignalKind::Position,
    ];

    /// The machine name (`swing_trade`).
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::SwingTrade => "swing_trade",
            SignalKind::DayTrade => "day_trade",
            SignalKind::Scalping => "scalping",
            SignalKind::Position => "position",
        }
    }

    /// The legacy dashboard's label (`Swing Trade`).
    pub fn legacy_label(self) -> &'static str {
        match self {
            SignalKind::SwingTrade => "Swing Trade",
            SignalKind::DayTrade => "Day Trade",
            SignalKind::Scalping => "Scalping",
            SignalKind::Position => "Position",
        }
    }
}

impl FromStr for SignalKind {
    type Err = String;
    /// Accepts the machine name or the legacy label, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SignalKind::ALL
            .into_iter()
            .find(|k| {
                k.as_str().eq_ignore_ascii_case(s) || k.legacy_label().eq_ignore_ascii_case(s)
            })
            .ok_or_else(|| format!("unknown signal kind '{s}'"))
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry range; a single price gives `min == max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRange {
    min: Price,
    max: Price,
}

impl EntryRange {
    /// A range from two prices in any order.
    pub fn new(a: Price, b: Price) -> Self {
        if a <= b {
            Self { min: a, max: b }
        } else {
            Self { min: b, max: a }
        }
    }

    /// A single entry price.
    pub fn single(price: Price) -> Self {
        Self {
            min: price,
            max: price,
        }
    }

    /// The lowest entry price.
    pub fn min(&self) -> Price {
        self.min
    }

    /// The highest entry price.
    pub fn max(&self) -> Price {
        self.max
    }
}

/// The lifecycle of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignalStatus {
    /// Waiting for entry or running.
    Open,
    /// Target number `index` (1-based) was reached; `None` when the message did not say which.
    TargetHit {
        /// 1-based target number.
        index: Option<u8>,
    },
    /// The stop was hit.
    Stopped,
    /// Cancelled by the channel or deleted by the gateway.
    Cancelled,
    /// Its validity date passed without entry.
    Expired,
    /// Closed by the channel.
    Closed,
}

impl SignalStatus {
    /// Every status name, as [`SignalStatus::as_str`] spells it.
    pub const NAMES: [&'static str; 6] = [
        "open",
        "target_hit",
        "stopped",
        "cancelled",
        "expired",
        "closed",
    ];

    /// The machine name (`target_hit`).
    pub fn as_str(self) -> &'static str {
        match self {
            SignalStatus::Open => "open",
            SignalStatus::TargetHit { .. } => "target_hit",
            SignalStatus::Stopped => "stopped",
            SignalStatus::Cancelled => "cancelled",
            SignalStatus::Expired => "expired",
            SignalStatus::Closed => "closed",
        }
    }

    /// The target index for `TargetHit`.
    pub fn target_index(self) -> Option<u8> {
        match self {
            SignalStatus::TargetHit { index } => index,
            _ => None,
        }
    }

    /// Rebuilds a status from its stored name and target index.
    pub fn from_parts(name: &str, target_index: Option<u8>) -> Option<Self> {
        Some(match name {
            "open" => SignalStatus::Open,
            "target_hit" => SignalStatus::TargetHit {
                index: target_index,
            },
            "stopped" => SignalStatus::Stopped,
            "cancelled" => SignalStatus::Cancelled,
            "expired" => SignalStatus::Expired,
            "closed" => SignalStatus::Closed,
            _ => return None,
        })
    }

    /// Whether later updates may still change it. A signal whose first target was hit stays
    /// trackable: the next target, the stop or a close may follow.
    pub fn is_open(self) -> bool {
        matches!(self, SignalStatus::Open | SignalStatus::TargetHit { .. })
    }
}

/// A parsed trade call: what a message says, before it is stored.
///
/// Invariants (checked by [`TradeCall::new`]): the stop lies on the losing side of the entry and
/// the first target on the winning side, for the call's direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeCall {
    /// The asset.
    pub asset: Ticker,
    /// The horizon, when the message says it.
    pub kind: Option<SignalKind>,
    /// Long or short.
    pub direction: Direction,
    /// The entry range; `None` for a call given by target and stop only.
    pub entry: Option<EntryRange>,
    /// Intermediate targets in the order given.
    pub targets: Vec<Price>,
    /// The final target; the last listed target when the message names none.
    pub target_final: Option<Price>,
    /// The stop price.
    pub stop: Option<Price>,
    /// Until when the order stays in the book.
    pub valid_until: Option<NaiveDate>,
    /// What the parser noticed but accepted (a percent target, a swapped range).
    pub warnings: Vec<String>,
}

/// Why a set of prices cannot be a trade call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TradeCallError {
    /// The stop is on the winning side of the entry.
    #[error("stop {stop} is not {side} the entry {entry} of a {direction} call")]
    StopOnWrongSide {
        /// The stop given.
        stop: Price,
        /// The entry bound it was compared with.
        entry: Price,
        /// "below" or "above".
        side: &'static str,
        /// "long" or "short".
        direction: &'static str,
    },
    /// The first target is on the losing side of the entry.
    #[error("first target {target} is not {side} the entry {entry} of a {direction} call")]
    TargetOnWrongSide {
        /// The first target.
        target: Price,
        /// The entry bound it was compared with.
        entry: Price,
        /// "above" or "below".
        side: &'static str,
        /// "long" or "short".
        direction: &'static str,
    },
    /// Neither an entry nor a target and a stop.
    #[error("no entry price, and not both a target and a stop")]
    Incomplete,
}

impl TradeCall {
    /// Builds a call, deriving `target_final` from the last target when absent, and checks the
    /// invariants. For a call without entry, the target and the stop stand in for it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        asset: Ticker,
        kind: Option<SignalKind>,
        direction: Direction,
        entry: Option<EntryRange>,
        targets: Vec<Price>,
        target_final: Option<Price>,
        stop: Option<Price>,
        valid_until: Option<NaiveDate>,
        warnings: Vec<String>,
    ) -> Result<Self, TradeCallError> {
        let target_final = target_final.or_else(|| targets.last().copied());
        let first_target = targets.first().copied().or(target_final);
        let long = direction == Direction::Long;
        let direction_name = if long { "long" } else { "short" };
        // The bound a stop must stay beyond, and the bound a target must exceed.
        let (stop_bound, target_bound) = match (entry, stop) {
            (Some(e), _) if long => (Some(e.min()), e.max()),
            (Some(e), _) => (Some(e.max()), e.min()),
            (None, Some(stop)) if first_target.is_some() => (None, stop),
            (None, _) => return Err(TradeCallError::Incomplete),
        };
        if let (Some(stop), Some(bound)) = (stop, stop_bound)
            && if long { stop >= bound } else { stop <= bound }
        {
            return Err(TradeCallError::StopOnWrongSide {
                stop,
                entry: bound,
                side: if long { "below" } else { "above" },
                direction: direction_name,
            });
        }
        if let Some(target) = first_target
            && if long {
                target <= target_bound
            } else {
                target >= target_bound
            }
        {
            return Err(TradeCallError::TargetOnWrongSide {
                target,
                entry: target_bound,
                side: if long { "above" } else { "below" },
                direction: direction_name,
            });
        }
        Ok(Self::restore(
            asset,
            kind,
            direction,
            entry,
            targets,
            target_final,
            stop,
            valid_until,
            warnings,
        ))
    }
}

impl TradeCall {
    /// Rebuilds a call that was checked when it was stored (by [`TradeCall::new`] or the legacy
    /// import), without checking the cross-field rules again: a stored "stop gain" legitimately
    /// sits beyond the entry, and reading must never fail on what writing accepted. Every value
    /// is still a valid [`Ticker`] / [`Price`] / [`EntryRange`].
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        asset: Ticker,
        kind: Option<SignalKind>,
        direction: Direction,
        entry: Option<EntryRange>,
        targets: Vec<Price>,
        target_final: Option<Price>,
        stop: Option<Price>,
        valid_until: Option<NaiveDate>,
        warnings: Vec<String>,
    ) -> Self {
        Self {
            asset,
            kind,
            direction,
            entry,
            targets,
            target_final,
            stop,
            valid_until,
            warnings,
        }
    }
}

/// Database identity of a signal (the legacy dashboard's integer `id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SignalId(pub i64);

impl fmt::Display for SignalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored signal: a trade call with its source message, revision and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    /// Identity.
    pub id: SignalId,
    /// Source channel.
    pub channel_id: ChannelId,
    /// Source message inside the channel.
    pub message_id: MessageId,
    /// 1 for the original message, +1 for every edit.
    pub revision: i32,
    /// Telegram time of the message (the partition column).
    pub message_date: DateTime<Utc>,
    /// Telegram time of the edit behind the current revision.
    pub edit_date: Option<DateTime<Utc>>,
    /// What the call says. `kind` is already resolved against the channel default when stored.
    pub call: TradeCall,
    /// Current lifecycle state.
    pub status: SignalStatus,
    /// The message text as received.
    pub raw_message: String,
    /// Parser that produced it.
    pub parser_version: String,
    /// Who delivered it (`bot`, `user_client`, `legacy-import` …).
    pub source: Option<String>,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Soft-deleted by an operator.
    pub deleted: bool,
}

/// One change of a signal's status, kept as its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// New status.
    pub status: SignalStatus,
    /// When it changed.
    pub at: DateTime<Utc>,
    /// The message that caused it, when a message did.
    pub message: Option<(ChannelId, MessageId)>,
    /// Human-readable cause ("Alvo 1 atingido", "deleted in Telegram", "operator").
    pub reason: String,
}

/// One earlier version of an edited signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalRevision {
    /// Its revision number.
    pub revision: i32,
    /// The call as that revision said it.
    pub call: TradeCall,
    /// Its text.
    pub raw_message: String,
    /// When that revision was stored.
    pub recorded_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn p(v: &str) -> Price {
        Price::new(v.parse::<Decimal>().unwrap()).unwrap()
    }

    fn call(
        direction: Direction,
        entry: (&str, &str),
        target: &str,
        stop: &str,
    ) -> Result<TradeCall, TradeCallError> {
        TradeCall::new(
            Ticker::parse("PETR4").unwrap(),
            None,
            direction,
            Some(EntryRange::new(p(entry.0), p(entry.1))),
            vec![p(target)],
            None,
            Some(p(stop)),
            None,
            vec![],
        )
    }

    #[test]
    fn long_and_short_sides() {
        assert!(call(Direction::Long, ("10", "11"), "12", "9").is_ok());
        assert!(matches!(
            call(Direction::Long, ("10", "11"), "12", "10.5"),
            Err(TradeCallError::StopOnWrongSide { .. })
        ));
        assert!(matches!(
            call(Direction::Long, ("10", "11"), "10.5", "9"),
            Err(TradeCallError::TargetOnWrongSide { .. })
        ));
        assert!(call(Direction::Short, ("10", "11"), "9", "12").is_ok());
        assert!(matches!(
            call(Direction::Short, ("10", "11"), "9", "10.5"),
            Err(TradeCallError::StopOnWrongSide { .. })
        ));
    }

    #[test]
    fn final_target_defaults_to_last() {
        let c = call(Direction::Long, ("10", "10"), "12", "9").unwrap();
        assert_eq!(c.target_final, Some(p("12")));
    }

    #[test]
    fn entry_range_orders_its_bounds() {
        let r = EntryRange::new(p("2"), p("1"));
        assert_eq!((r.min(), r.max()), (p("1"), p("2")));
    }

    #[test]
    fn status_round_trips_through_parts() {
        for s in [
            SignalStatus::Open,
            SignalStatus::TargetHit { index: Some(2) },
            SignalStatus::Stopped,
            SignalStatus::Closed,
        ] {
            assert_eq!(
                SignalStatus::from_parts(s.as_str(), s.target_index()),
                Some(s)
            );
        }
    }
}
