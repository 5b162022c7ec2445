//! The one mapping between a [`TradeCall`] and its ten columns, shared by `signals.signals` and
//! `signals.signal_revisions`, by the reads (a row back into a call, re-validated by the domain's
//! constructors) and by every write of a new signal: the ingest's and the legacy importer's
//! (`crate::signal_insert`).

use std::fmt::Display;

use chrono::NaiveDate;
use domain::model::{Direction, EntryRange, Price, SignalKind, Ticker, TradeCall, without_nul};
use domain::ports::StoreError;
use rust_decimal::Decimal;
use sea_orm::FromQueryResult;

use crate::error::corrupt;

#[cfg(test)]
mod tests;

/// The ten columns of a trade call as stored.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct CallColumns {
    /// `asset`: the ticker.
    pub asset: String,
    /// `kind`: the horizon's machine name, `NULL` when the message names none.
    pub kind: Option<String>,
    /// `direction`: `long` or `short`.
    pub direction: String,
    /// `entry_min`.
    pub entry_min: Option<Decimal>,
    /// `entry_max`.
    pub entry_max: Option<Decimal>,
    /// `targets`, in the order given.
    pub targets: Vec<Decimal>,
    /// `target_final`.
    pub target_final: Option<Decimal>,
    /// `stop`.
    pub stop: Option<Decimal>,
    /// `valid_until`.
    pub valid_until: Option<NaiveDate>,
    /// `warnings`: a JSON array of strings.
    pub warnings: serde_json::Value,
}

/// The names of the call columns, in the order of [`CallColumns`].
pub(crate) const CALL_COLUMNS: &str = "asset, kind, direction, entry_min, entry_max, targets, \
    target_final, stop, valid_until, warnings";

/// The stored name of a direction.
pub fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Long => "long",
        Direction::Short => "short",
    }
}

impl CallColumns {
    /// The columns of `call` (warnings without NUL characters, which PostgreSQL refuses).
    pub fn from_call(call: &TradeCall) -> Self {
        let p = |p: Price| p.value();
        Self {
            asset: call.asset.as_str().to_owned(),
            kind: call.kind.map(|k| k.as_str().to_owned()),
            direction: direction_name(call.direction).to_owned(),
            entry_min: call.entry.map(|e| p(e.min())),
            entry_max: call.entry.map(|e| p(e.max())),
            targets: call.targets.iter().copied().map(p).collect(),
            target_final: call.target_final.map(p),
            stop: call.stop.map(p),
            valid_until: call.valid_until,
            warnings: serde_json::Value::Array(
                call.warnings
                    .iter()
                    .map(|w| serde_json::Value::String(without_nul(w).into_owned()))
                    .collect(),
            ),
        }
    }

    /// The call these columns hold; `row` names the row in the error of a broken invariant.
    pub(crate) fn into_call(self, row: &dyn Display) -> Result<TradeCall, StoreError> {
        let price = |field: &str, v: Decimal| {
            Price::new(v).map_err(|e| corrupt(format!("{row}: {field} {v}: {e}")))
        };
        let opt_price = |field: &str, v: Option<Decimal>| v.map(|v| price(field, v)).transpose();
        let asset = Ticker::parse(&self.asset)
            .ok_or_else(|| corrupt(format!("{row}: asset '{}' is not a ticker", self.asset)))?;
        let kind = self.kind.map(|k| parse_kind(row, &k)).transpose()?;
        let direction = match self.direction.as_str() {
            "long" => Direction::Long,
            "short" => Direction::Short,
            other => return Err(corrupt(format!("{row}: direction '{other}'"))),
        };
        let entry = match (
            opt_price("entry_min", self.entry_min)?,
            opt_price("entry_max", self.entry_max)?,
        ) {
            (Some(a), Some(b)) => Some(EntryRange::new(a, b)),
            (Some(a), None) | (None, Some(a)) => Some(EntryRange::single(a)),
            (None, None) => None,
        };
        let targets = self
            .targets
            .iter()
            .map(|t| price("target", *t))
            .collect::<Result<Vec<_>, _>>()?;
        let warnings = serde_json::from_value::<Vec<String>>(self.warnings)
            .map_err(|e| corrupt(format!("{row}: warnings: {e}")))?;
        Ok(TradeCall::restore(
            asset,
            kind,
            direction,
            entry,
            targets,
            opt_price("target_final", self.target_final)?,
            opt_price("stop", self.stop)?,
            self.valid_until,
            warnings,
        ))
    }
}

/// A stored kind name as the domain's [`SignalKind`].
pub(crate) fn parse_kind(row: &dyn Display, kind: &str) -> Result<SignalKind, StoreError> {
    kind.parse::<SignalKind>()
        .map_err(|e| corrupt(format!("{row}: {e}")))
}
