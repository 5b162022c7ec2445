//! The parse outcome as the `parse` command prints it (SPEC §2.5): a stable, flat JSON document
//! for operators and checks, with prices as JSON numbers.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::model::{
    Direction, ParseOutcome, Price, SignalKind, SignalUpdate, TradeCall, UpdateEvent,
};

/// `{"outcome", "reason", "signal", "update"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParseReport {
    /// `signal`, `update`, `ignored` or `rejected`.
    pub outcome: String,
    /// Why it was ignored or rejected.
    pub reason: Option<String>,
    /// The call, for `signal`.
    pub signal: Option<SignalReport>,
    /// The event, for `update`.
    pub update: Option<UpdateReport>,
}

/// A trade call with prices as numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalReport {
    /// The ticker.
    pub asset: String,
    /// The horizon, when the message says it.
    pub kind: Option<SignalKind>,
    /// `long` or `short`.
    pub direction: Direction,
    /// Lowest entry price.
    pub entry_min: Option<f64>,
    /// Highest entry price.
    pub entry_max: Option<f64>,
    /// Intermediate targets.
    pub targets: Vec<f64>,
    /// The final target.
    pub target_final: Option<f64>,
    /// The stop.
    pub stop: Option<f64>,
    /// Validity date.
    pub valid_until: Option<NaiveDate>,
}

/// An update event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateReport {
    /// The ticker, when named.
    pub asset: Option<String>,
    /// What happened.
    pub event: UpdateEvent,
    /// For `target_hit`, which target.
    pub target_index: Option<u8>,
}

/// A price as the nearest JSON number (exact for every `NUMERIC(18,6)` value below 10^9).
pub fn price_number(p: Price) -> f64 {
    p.value().to_string().parse().unwrap_or(f64::NAN)
}

impl From<&TradeCall> for SignalReport {
    fn from(call: &TradeCall) -> Self {
        Self {
            asset: call.asset.to_string(),
            kind: call.kind,
            direction: call.direction,
            entry_min: call.entry.map(|e| price_number(e.min())),
            entry_max: call.entry.map(|e| price_number(e.max())),
            targets: call.targets.iter().copied().map(price_number).collect(),
            target_final: call.target_final.map(price_number),
            stop: call.stop.map(price_number),
            valid_until: call.valid_until,
        }
    }
}

impl From<&SignalUpdate> for UpdateReport {
    fn from(update: &SignalUpdate) -> Self {
        Self {
            asset: update.asset.as_ref().map(ToString::to_string),
            event: update.event,
            target_index: update.target_index,
        }
    }
}

impl From<&ParseOutcome> for ParseReport {
    fn from(outcome: &ParseOutcome) -> Self {
        let (signal, update) = match outcome {
            ParseOutcome::Signal(call) => (Some(call.into()), None),
            ParseOutcome::Update(update) => (None, Some(update.into())),
            ParseOutcome::Ignored(_) | ParseOutcome::Rejected(_) => (None, None),
        };
        Self {
            outcome: outcome.name().to_owned(),
            reason: outcome.reason(),
            signal,
            update,
        }
    }
}
