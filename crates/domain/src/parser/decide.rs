//! From what the scan found to an outcome: an update when an event word names a signal and no
//! complete call stands beside it, a call when prices are bound, else ignored or rejected.

use super::STOP_GAIN_WARNING;
use super::numbers::{Style, read_price};
use super::scan::{RawPrice, Scan};
use crate::model::{
    Direction, EntryRange, IgnoreReason, ParseOutcome, Price, RejectReason, SignalUpdate, Ticker,
    TradeCall, UpdateEvent,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Entry,
    Target,
    Stop,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Entry => "entry",
            Field::Target => "target",
            Field::Stop => "stop",
        }
    }
}

/// "PETR4 alvo 2": a lone small number after a target label names the target that was hit.
fn lone_index(targets: &[(Option<u8>, RawPrice<'_>)]) -> Option<u8> {
    match targets {
        [(None, raw)] if matches!(raw.raw, "1" | "2" | "3" | "4" | "5") => raw.raw.parse().ok(),
        _ => None,
    }
}

impl Scan<'_, '_> {
    fn event(&mut self, has_asset: bool) -> Option<UpdateEvent> {
        let no_call = self.entry.is_none() && self.stop.is_none() && self.target_final.is_none();
        if has_asset
            && no_call
            && !self.bare_target
            && let Some(index) = lone_index(&self.targets)
        {
            self.targets.clear();
            self.bare_target = true;
            self.hit_target_index = Some(index);
            self.note(
                || "event".into(),
                || format!("target_hit {index}"),
                || "target label + a lone index next to an asset".into(),
            );
        }
        let bare_target = self.bare_target && has_asset && no_call && self.targets.is_empty();
        let bare_stop = self.bare_stop && has_asset && no_call && self.targets.is_empty();
        if self.cancelled {
            Some(UpdateEvent::Cancelled)
        } else if self.stop_hit || bare_stop {
            Some(UpdateEvent::StopHit)
        } else if (self.hit_word && (self.hit_target_index.is_some() || self.update_context))
            || bare_target
        {
            Some(UpdateEvent::TargetHit)
        } else if self.closed {
            Some(UpdateEvent::Closed)
        } else {
            None
        }
    }

    pub(super) fn decide(&mut self) -> ParseOutcome {
        let asset = self.asset.or(self.first_ticker).and_then(Ticker::parse);
        if self.summary && self.entry.is_none() {
            return ParseOutcome::Ignored(IgnoreReason::NotATradeCall);
        }
        if let Some(event) = self.event(asset.is_some()) {
            let has_target = !self.targets.is_empty() || self.target_final.is_some();
            let full_call = self.entry.is_some() && (has_target || self.stop.is_some());
            if !full_call && (asset.is_some() || self.update_context) {
                let target_index = (event == UpdateEvent::TargetHit)
                    .then_some(self.hit_target_index)
                    .flatten();
                return ParseOutcome::Update(SignalUpdate {
                    asset,
                    event,
                    target_index,
                });
            }
        }
        let has_target = !self.targets.is_empty() || self.target_final.is_some();
        let call_like = self.entry.is_some() || (has_target && self.stop.is_some());
        if !call_like {
            return if asset.is_some() && (has_target || self.stop.is_some()) {
                ParseOutcome::Rejected(RejectReason::Inconsistent(
                    crate::model::TradeCallError::Incomplete.to_string(),
                ))
            } else {
                ParseOutcome::Ignored(IgnoreReason::NotATradeCall)
            };
        }
        let Some(asset) = asset else {
            return ParseOutcome::Rejected(match self.invalid_asset {
                Some(raw) => RejectReason::InvalidAsset(raw.to_owned()),
                None => RejectReason::NoAsset,
            });
        };
        match self.build(asset) {
            Ok(call) => ParseOutcome::Signal(call),
            Err(reason) => ParseOutcome::Rejected(reason),
        }
    }

    fn build(&mut self, asset: Ticker) -> Result<TradeCall, RejectReason> {
        let mut style = Style::Unknown;
        let raws = self
            .entry
            .iter()
            .flat_map(|(l, h)| std::iter::once(l).chain(h.iter()));
        let raws = raws
            .chain(self.targets.iter().map(|(_, t)| t))
            .chain(self.target_final.iter())
            .chain(self.stop.iter());
        for raw in raws {
            style = style.merge(Style::of(raw.raw));
        }
        let price = |field: Field, raw: RawPrice<'_>| {
            read_price(raw.raw, style).map_err(|why| RejectReason::UnreadablePrice {
                field: field.name().to_owned(),
                raw: raw.raw.to_owned(),
                why,
            })
        };
        let entry = match self.entry {
            Some((low, high)) => {
                let low = price(Field::Entry, low)?;
                let high = high
                    .map(|h| price(Field::Entry, h))
                    .transpose()?
                    .unwrap_or(low);
                if high < low {
                    self.warnings
                        .push("entry range written high to low".to_owned());
                }
                Some(EntryRange::new(low, high))
            }
            None => None,
        };
        let targets = self
            .targets
            .iter()
            .map(|&(_, t)| price(Field::Target, t))
            .collect::<Result<Vec<Price>, _>>()?;
        let target_final = self
            .target_final
            .map(|t| price(Field::Target, t))
            .transpose()?;
        let stop = self.stop.map(|s| price(Field::Stop, s)).transpose()?;
        let direction = self.direction(entry, targets.first().copied().or(target_final), stop);
        // A "stop gain" protects profit and may sit beyond the entry: keep it out of the check.
        let checked_stop = if self.stop_is_gain { None } else { stop };
        if self.stop_is_gain {
            self.warnings.push(STOP_GAIN_WARNING.to_owned());
        }
        let mut call = TradeCall::new(
            asset,
            self.kind,
            direction,
            entry,
            targets,
            target_final,
            checked_stop,
            self.valid_until,
            std::mem::take(&mut self.warnings),
        )
        .map_err(|e| RejectReason::Inconsistent(e.to_string()))?;
        call.stop = stop;
        Ok(call)
    }

    /// The entry label's direction, else a hint word (VENDIDO), else what the prices say.
    fn direction(
        &mut self,
        entry: Option<EntryRange>,
        first_target: Option<Price>,
        stop: Option<Price>,
    ) -> Direction {
        if let Some(Some(d)) = self.entry_direction {
            return d;
        }
        if let Some(d) = self.direction_hint {
            return d;
        }
        let reference = entry.map(|e| e.min());
        let d = match (reference, first_target, stop) {
            (Some(e), Some(t), _) if t < e => Direction::Short,
            (Some(e), None, Some(s)) if s > e => Direction::Short,
            (None, Some(t), Some(s)) if t < s => Direction::Short,
            _ => Direction::Long,
        };
        self.note(
            || "direction".into(),
            || format!("{d:?}"),
            || "the prices (no direction word)".into(),
        );
        d
    }
}
