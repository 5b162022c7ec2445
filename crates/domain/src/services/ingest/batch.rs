//! The work of one batch inside its transaction: receipts, events and counters as the
//! deliveries are applied in input order.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};

use super::{Disposition, IngestReceipt};
use crate::model::{
    ChannelId, Message, MessageId, Signal, SignalId, SignalStatus, SignalUpdate, StatusChange,
    TraceContext, TradeCall, UpdateEvent,
};
use crate::parser::PARSER_VERSION;
use crate::ports::{
    BatchStats, DateWindow, NewSignal, SignalEvent, SignalEventKind, StoreError, StoreTransaction,
};

/// How far from a delivery's date its message's stored signal may be dated: the gateway may
/// report a message's date from another of its time fields, or in another zone, on a later
/// delivery. One week, the chunk interval: the lookup reads at most three chunks.
const SAME_MESSAGE_DATES: TimeDelta = TimeDelta::days(7);

pub(super) fn event(
    kind: SignalEventKind,
    signal: &Signal,
    status: SignalStatus,
    at: chrono::DateTime<chrono::Utc>,
) -> SignalEvent {
    SignalEvent {
        kind,
        signal_id: signal.id,
        channel_id: signal.channel_id,
        asset: signal.call.asset.clone(),
        status,
        at,
        traceparent: None,
    }
}

/// How one batch is applied: the receipt time of each message, when it started, whether its
/// stats are recorded, and the trace its events carry.
pub(super) struct Run<'a> {
    pub(super) received: &'a [DateTime<Utc>],
    pub(super) started: Instant,
    pub(super) record_stats: bool,
    pub(super) traceparent: Option<&'a TraceContext>,
}

/// The work of one batch inside its transaction. New signals are inserted together; the
/// pending inserts are flushed first whenever a later delivery depends on them (an update of the
/// same asset, an edit of the same message), so input order is always respected.
pub(super) struct Batch {
    pub(super) tx: Box<dyn StoreTransaction>,
    pub(super) now: chrono::DateTime<chrono::Utc>,
    pub(super) started: Instant,
    pub(super) existing: HashMap<(ChannelId, MessageId), Signal>,
    pub(super) pending: Vec<(usize, NewSignal)>,
    pub(super) receipts: Vec<IngestReceipt>,
    pub(super) events: Vec<SignalEvent>,
    pub(super) stats: BatchStats,
}

impl Batch {
    pub(super) fn new(
        tx: Box<dyn StoreTransaction>,
        now: chrono::DateTime<chrono::Utc>,
        started: Instant,
    ) -> Self {
        Self {
            tx,
            now,
            started,
            existing: HashMap::new(),
            pending: Vec::new(),
            receipts: Vec::new(),
            events: Vec::new(),
            stats: BatchStats::default(),
        }
    }

    /// Loads the signals already stored for these calls (their edits become revisions), looking
    /// only at the weeks around their dates.
    pub(super) async fn load_existing(&mut self, calls: &[&Message]) -> Result<(), StoreError> {
        if calls.is_empty() {
            return Ok(());
        }
        let keys: Vec<_> = calls.iter().map(|m| (m.channel_id, m.message_id)).collect();
        let dated = DateWindow::around(calls.iter().map(|m| m.date), SAME_MESSAGE_DATES);
        for s in self.tx.signals_for_messages(&keys, dated).await? {
            self.existing.insert((s.channel_id, s.message_id), s);
        }
        Ok(())
    }

    pub(super) fn receipt(
        &mut self,
        m: &Message,
        stored: bool,
        outcome: Disposition,
        signal_id: Option<SignalId>,
        reason: Option<String>,
    ) {
        self.receipts.push(IngestReceipt {
            channel_id: m.channel_id,
            message_id: m.message_id,
            stored,
            outcome,
            signal_id,
            reason,
        });
    }

    pub(super) async fn signal(
        &mut self,
        m: &Message,
        call: TradeCall,
        received_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = (m.channel_id, m.message_id);
        if self
            .pending
            .iter()
            .any(|(_, p)| (p.channel_id, p.message_id) == key)
        {
            self.flush().await?;
        }
        let new = NewSignal {
            channel_id: m.channel_id,
            message_id: m.message_id,
            message_date: m.date,
            edit_date: m.edit_date,
            revision: 1,
            call,
            raw_message: m.text.clone(),
            parser_version: PARSER_VERSION.to_owned(),
            source: m.source.clone(),
            recorded_at: received_at,
        };
        let Some(current) = self.existing.get(&key).cloned() else {
            self.stats.signals += 1;
            self.receipt(m, true, Disposition::Signal, None, None);
            self.pending.push((self.receipts.len() - 1, new));
            return Ok(());
        };
        let newer = match (m.edit_date, current.edit_date) {
            (Some(edit), Some(shown)) => edit > shown,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !newer {
            let reason = "an older delivery of an edited message: archived, signal unchanged";
            self.receipt(
                m,
                true,
                Disposition::Signal,
                Some(current.id),
                Some(reason.to_owned()),
            );
            return Ok(());
        }
        let revision = NewSignal {
            revision: current.revision + 1,
            ..new
        };
        self.tx.revise_signal(current.id, &revision).await?;
        self.stats.edits += 1;
        self.events.push(event(
            SignalEventKind::Revised,
            &current,
            current.status,
            self.now,
        ));
        self.receipt(m, true, Disposition::Edited, Some(current.id), None);
        let revised = Signal {
            revision: revision.revision,
            edit_date: revision.edit_date,
            call: revision.call,
            raw_message: revision.raw_message,
            ..current
        };
        self.existing.insert(key, revised);
        Ok(())
    }

    pub(super) async fn update(
        &mut self,
        m: &Message,
        update: &SignalUpdate,
    ) -> Result<(), StoreError> {
        self.stats.updates += 1;
        if let Some(signal) = self.replied_signal(m, update).await? {
            return self.apply_update(m, update, signal).await;
        }
        let Some(asset) = &update.asset else {
            let reason = "the update names no asset: no signal changed";
            self.receipt(m, true, Disposition::Update, None, Some(reason.to_owned()));
            return Ok(());
        };
        // Only a pending call of this asset in this channel can be the one the update is about.
        if self
            .pending
            .iter()
            .any(|(_, p)| p.channel_id == m.channel_id && &p.call.asset == asset)
        {
            self.flush().await?;
        }
        let Some(signal) = self.tx.latest_open_signal(m.channel_id, asset).await? else {
            let reason = format!("no open signal of {asset} in this channel");
            self.receipt(m, true, Disposition::Update, None, Some(reason));
            return Ok(());
        };
        self.apply_update(m, update, signal).await
    }

    /// The open signal of the call `m` replies to, when the update names no other asset.
    async fn replied_signal(
        &mut self,
        m: &Message,
        update: &SignalUpdate,
    ) -> Result<Option<Signal>, StoreError> {
        let Some(call) = m.reply_to() else {
            return Ok(None);
        };
        let key = (m.channel_id, call);
        if self
            .pending
            .iter()
            .any(|(_, p)| (p.channel_id, p.message_id) == key)
        {
            self.flush().await?;
        }
        let signal = match self.existing.get(&key) {
            Some(known) => Some(known.clone()),
            None => self
                .tx
                .signals_for_messages(&[key], None)
                .await?
                .into_iter()
                .next(),
        };
        Ok(signal.filter(|s| {
            (s.status.is_open() || s.status == SignalStatus::Expired)
                && !s.deleted
                && update.asset.as_ref().is_none_or(|a| *a == s.call.asset)
        }))
    }

    async fn apply_update(
        &mut self,
        m: &Message,
        update: &SignalUpdate,
        signal: Signal,
    ) -> Result<(), StoreError> {
        let said = match update.event {
            UpdateEvent::TargetHit => SignalStatus::TargetHit {
                index: update.target_index,
            },
            UpdateEvent::StopHit => SignalStatus::Stopped,
            UpdateEvent::Cancelled => SignalStatus::Cancelled,
            UpdateEvent::Closed => SignalStatus::Closed,
        };
        // An expired call stays expired: the update goes into its history only.
        let (status, reason) = if signal.status == SignalStatus::Expired {
            let reason = format!("after expiry ({}): {}", said.as_str(), first_line(&m.text));
            (SignalStatus::Expired, reason)
        } else {
            (said, first_line(&m.text))
        };
        let change = StatusChange {
            status,
            at: self.now,
            message: Some((m.channel_id, m.message_id)),
            reason,
        };
        self.tx.change_status(signal.id, &change).await?;
        self.events.push(event(
            SignalEventKind::StatusChanged,
            &signal,
            status,
            self.now,
        ));
        if let Some(known) = self
            .existing
            .get_mut(&(signal.channel_id, signal.message_id))
        {
            known.status = status;
        }
        self.receipt(m, true, Disposition::Update, Some(signal.id), None);
        Ok(())
    }

    /// Inserts the pending new signals and fills in their ids.
    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let (slots, news): (Vec<usize>, Vec<NewSignal>) = pending.into_iter().unzip();
        let ids = self.tx.insert_signals(&news).await?;
        for ((slot, new), id) in slots.into_iter().zip(news).zip(ids) {
            self.receipts[slot].signal_id = Some(id);
            let signal = Signal {
                id,
                channel_id: new.channel_id,
                message_id: new.message_id,
                revision: new.revision,
                message_date: new.message_date,
                edit_date: new.edit_date,
                call: new.call,
                status: SignalStatus::Open,
                raw_message: new.raw_message,
                parser_version: new.parser_version,
                source: new.source,
                created_at: new.recorded_at,
                updated_at: new.recorded_at,
                deleted: false,
            };
            self.events.push(event(
                SignalEventKind::Created,
                &signal,
                SignalStatus::Open,
                self.now,
            ));
            self.existing
                .insert((signal.channel_id, signal.message_id), signal);
        }
        Ok(())
    }

    pub(super) async fn finish(
        mut self,
        record_stats: bool,
    ) -> Result<(Vec<IngestReceipt>, Vec<SignalEvent>, BatchStats), StoreError> {
        self.flush().await?;
        self.stats.duration_us = self
            .started
            .elapsed()
            .as_micros()
            .try_into()
            .unwrap_or(u64::MAX);
        if record_stats {
            self.tx.record_stats(&self.stats, self.now).await?;
        }
        self.tx.commit().await?;
        Ok((self.receipts, self.events, self.stats))
    }
}

/// The first non-empty line of a message, as the reason of a status change.
fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(200).collect()
}
