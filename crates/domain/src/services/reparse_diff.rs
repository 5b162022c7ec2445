//! What a new parser version would change over the archive, before anything is written: new
//! signals, stored signals read with different fields, outcomes that flip — so a parser release
//! is reviewed against real history.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{IngestService, ReparseReport};
use crate::model::{ChannelId, MessageId, ParseOutcome, Signal, TradeCall};
use crate::ports::{ArchivedMessage, MessageClass, StoreError};

/// Samples kept per run.
const SAMPLES: usize = 20;

/// How many re-read signals changed one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// `asset`, `direction`, `kind`, `entry`, `targets`, `target_final`, `stop`, `valid_until`.
    pub field: String,
    /// Signals.
    pub count: u32,
}

/// One delivery the current parser reads differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReparseChange {
    /// The chat.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
    /// The stored outcome.
    pub from: MessageClass,
    /// The current parser's outcome.
    pub to: MessageClass,
    /// For a stored signal read again as a call: the fields that differ.
    pub fields: Vec<String>,
    /// The current parser's reason, for ignored and rejected.
    pub reason: Option<String>,
}

/// The fields of two calls that differ.
pub(super) fn changed_fields(old: &TradeCall, new: &TradeCall) -> Vec<String> {
    let mut fields = Vec::new();
    let mut check = |name: &str, same: bool| {
        if !same {
            fields.push(name.to_owned());
        }
    };
    check("asset", old.asset == new.asset);
    check("direction", old.direction == new.direction);
    check("kind", old.kind == new.kind);
    check("entry", old.entry == new.entry);
    check("targets", old.targets == new.targets);
    check("target_final", old.target_final == new.target_final);
    check("stop", old.stop == new.stop);
    check("valid_until", old.valid_until == new.valid_until);
    fields
}

type Key = (ChannelId, MessageId);

/// The accumulated differences of a run.
#[derive(Debug, Default)]
pub(super) struct Diff {
    new_signals: u32,
    changed_signals: u32,
    fields: BTreeMap<String, u32>,
    samples: Vec<ReparseChange>,
}

impl Diff {
    pub(super) fn record(
        &mut self,
        archived: &ArchivedMessage,
        parsed: &ParseOutcome,
        outcome: MessageClass,
        stored: &HashMap<Key, Signal>,
    ) {
        let m = &archived.message;
        let was_dropped = matches!(
            archived.outcome,
            MessageClass::Ignored | MessageClass::Rejected
        );
        if was_dropped && outcome == MessageClass::Signal {
            self.new_signals += 1;
        }
        let fields = match (parsed, stored.get(&(m.channel_id, m.message_id))) {
            (ParseOutcome::Signal(call), Some(signal))
                if archived.outcome == MessageClass::Signal && signal.edit_date == m.edit_date =>
            {
                changed_fields(&signal.call, call)
            }
            _ => Vec::new(),
        };
        if !fields.is_empty() {
            self.changed_signals += 1;
            for f in &fields {
                *self.fields.entry(f.clone()).or_default() += 1;
            }
        }
        if (outcome != archived.outcome || !fields.is_empty()) && self.samples.len() < SAMPLES {
            self.samples.push(ReparseChange {
                channel_id: m.channel_id,
                message_id: m.message_id,
                from: archived.outcome,
                to: outcome,
                fields,
                reason: parsed.reason(),
            });
        }
    }

    pub(super) fn finish(self, report: &mut ReparseReport) {
        report.new_signals = self.new_signals;
        report.changed_signals = self.changed_signals;
        report.field_changes = self
            .fields
            .into_iter()
            .map(|(field, count)| FieldChange { field, count })
            .collect();
        report.samples = self.samples;
    }
}

impl IngestService {
    /// The stored signals of the deliveries that were and still are calls, for the field diff.
    pub(super) async fn stored_signals(
        &self,
        page: &[ArchivedMessage],
        parsed: &[ParseOutcome],
    ) -> Result<HashMap<Key, Signal>, StoreError> {
        let keys: Vec<Key> = page
            .iter()
            .zip(parsed)
            .filter(|(a, p)| {
                a.outcome == MessageClass::Signal && matches!(p, ParseOutcome::Signal(_))
            })
            .map(|(a, _)| (a.message.channel_id, a.message.message_id))
            .collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut tx = self.store.begin().await?;
        let signals = tx.signals_for_messages(&keys, None).await?;
        tx.commit().await?;
        Ok(signals
            .into_iter()
            .map(|s| ((s.channel_id, s.message_id), s))
            .collect())
    }
}
