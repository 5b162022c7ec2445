//! Ingesting messages: archive every delivery, turn calls into signals, edits into revisions and
//! updates into status changes, all in one transaction; then tell subscribers and the cache.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    ChannelId, Message, MessageId, ParseOutcome, RejectReason, Signal, SignalId, SignalStatus,
    SignalUpdate, StatusChange, TradeCall, UpdateEvent,
};
use crate::parser::{PARSER_VERSION, parse};
use crate::ports::{
    ArchiveEntry, BatchStats, Clock, NewSignal, SignalCache, SignalEvent, SignalEventKind,
    SignalEvents, SignalStore, StoreError, StoreTransaction,
};
use crate::services::{ChannelTitles, ReceiptClock};

/// What became of one delivery, as the gateway is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestOutcome {
    /// A new signal was stored.
    Signal,
    /// An update message (applied to a signal when one was open).
    Update,
    /// Archived, not a trade call.
    Ignored,
    /// Archived, a call that cannot be trusted.
    Rejected,
    /// Already received: nothing stored.
    Duplicate,
    /// An edit that produced a new revision of its signal.
    Edited,
}

impl IngestOutcome {
    /// Every outcome, for metrics.
    pub const ALL: [IngestOutcome; 6] = [
        IngestOutcome::Signal,
        IngestOutcome::Update,
        IngestOutcome::Ignored,
        IngestOutcome::Rejected,
        IngestOutcome::Duplicate,
        IngestOutcome::Edited,
    ];

    /// The machine name.
    pub fn as_str(self) -> &'static str {
        match self {
            IngestOutcome::Signal => "signal",
            IngestOutcome::Update => "update",
            IngestOutcome::Ignored => "ignored",
            IngestOutcome::Rejected => "rejected",
            IngestOutcome::Duplicate => "duplicate",
            IngestOutcome::Edited => "edited",
        }
    }
}

/// The answer for one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReceipt {
    /// Source chat.
    pub channel_id: ChannelId,
    /// Source message.
    pub message_id: MessageId,
    /// Whether anything new was stored.
    pub stored: bool,
    /// What became of it.
    pub outcome: IngestOutcome,
    /// The signal created, revised or updated.
    pub signal_id: Option<SignalId>,
    /// Why it was ignored or rejected, or why an update found nothing to change.
    pub reason: Option<String>,
}

/// The result of one committed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestReport {
    /// One receipt per delivery, in input order.
    pub receipts: Vec<IngestReceipt>,
    /// Counters of the batch.
    pub stats: BatchStats,
    /// Events or cache invalidations that failed after commit (best-effort).
    pub side_effect_failures: u32,
}

/// The result of a deletion notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionReport {
    /// Archived deliveries flagged as deleted.
    pub archived_flagged: u64,
    /// Signals that became cancelled.
    pub cancelled: Vec<SignalId>,
    /// Events or cache invalidations that failed after commit.
    pub side_effect_failures: u32,
}

/// The ingest use case.
#[derive(Clone)]
pub struct IngestService {
    pub(super) store: Arc<dyn SignalStore>,
    events: Arc<dyn SignalEvents>,
    cache: Arc<dyn SignalCache>,
    clock: Arc<dyn Clock>,
    receipts: ReceiptClock,
    titles: ChannelTitles,
    horizon_days: Option<u32>,
}

impl std::fmt::Debug for IngestService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestService").finish_non_exhaustive()
    }
}

impl IngestService {
    /// Wires the use case to its ports.
    pub fn new(
        store: Arc<dyn SignalStore>,
        events: Arc<dyn SignalEvents>,
        cache: Arc<dyn SignalCache>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            events,
            cache,
            receipts: ReceiptClock::new(clock.clone()),
            titles: ChannelTitles::default(),
            clock,
            horizon_days: None,
        }
    }

    /// Messages dated more than `days` ago (by their Telegram date) are archived as rejected
    /// and never applied; 0 = no horizon.
    pub fn with_horizon(mut self, days: u32) -> Self {
        self.horizon_days = (days > 0).then_some(days);
        self
    }

    /// What the parser reads in `m`, unless it is older than the horizon.
    fn read(&self, m: &Message, now: DateTime<Utc>) -> ParseOutcome {
        match self.horizon_days {
            Some(days) if m.date < now - chrono::Duration::days(i64::from(days)) => {
                ParseOutcome::Rejected(RejectReason::TooOld { days })
            }
            _ => parse(&m.text, m.date.date_naive()),
        }
    }

    /// The receipt times of this service (shared by its clones): stamp messages with it when
    /// they arrive, then pass the times to [`IngestService::ingest_received`].
    pub fn receipts(&self) -> &ReceiptClock {
        &self.receipts
    }

    /// Ingests a batch atomically: either every delivery is archived and applied, or nothing is
    /// (then the error says whether to retry). Re-deliveries store nothing and answer
    /// `Duplicate`. After the commit, events are published and the cache invalidated,
    /// best-effort.
    /// Each message is stamped as received now ([`IngestService::receipts`]).
    pub async fn ingest(
        &self,
        messages: &[Message],
        traceparent: Option<&str>,
    ) -> Result<IngestReport, StoreError> {
        let received = self.receipts.stamps(messages.len());
        self.ingest_received(messages, &received, traceparent).await
    }

    /// [`IngestService::ingest`] with the time each message was received (from
    /// [`IngestService::receipts`]; it becomes the signal's `created_at`, the dashboard's
    /// `ingested_at`). Missing times are stamped now.
    pub async fn ingest_received(
        &self,
        messages: &[Message],
        received: &[DateTime<Utc>],
        traceparent: Option<&str>,
    ) -> Result<IngestReport, StoreError> {
        let received = self.complete(messages.len(), received);
        let started = Instant::now();
        let now = self.clock.now();
        let outcomes: Vec<ParseOutcome> = tracing::info_span!("parse", messages = messages.len())
            .in_scope(|| messages.iter().map(|m| self.read(m, now)).collect());
        let reasons: Vec<Option<String>> = outcomes.iter().map(ParseOutcome::reason).collect();
        let entries: Vec<ArchiveEntry<'_>> = messages
            .iter()
            .zip(&outcomes)
            .zip(&reasons)
            .map(|((message, outcome), reason)| ArchiveEntry {
                message,
                outcome: outcome.name(),
                reason: reason.as_deref(),
                parser_version: PARSER_VERSION,
            })
            .collect();

        let mut tx = self.store.begin().await?;
        let fresh = tx.archive(&entries).await?;
        let run = Run {
            received: &received,
            started,
            record_stats: true,
            traceparent,
        };
        self.apply(tx, messages, outcomes, fresh, run).await
    }

    /// `received`, with times stamped now for the messages it lacks.
    fn complete(&self, n: usize, received: &[DateTime<Utc>]) -> Vec<DateTime<Utc>> {
        let mut all = received[..received.len().min(n)].to_vec();
        if all.len() < n {
            all.extend(
                self.receipts
                    .stamps(n - all.len())
                    .into_iter()
                    .take(n - all.len()),
            );
        }
        all
    }

    /// Applies deliveries that are already archived, as the current parser reads them (a
    /// re-parse after a parser fix): the same rules as [`IngestService::ingest`] — new signals
    /// deduplicated by message, edits as revisions, updates on the latest open signal — but
    /// nothing is archived and no batch stats are recorded. Applying the same deliveries twice
    /// creates no second signal.
    pub async fn apply_archived(
        &self,
        messages: &[Message],
        traceparent: Option<&str>,
    ) -> Result<IngestReport, StoreError> {
        let started = Instant::now();
        let outcomes: Vec<ParseOutcome> = messages
            .iter()
            .map(|m| parse(&m.text, m.date.date_naive()))
            .collect();
        let tx = self.store.begin().await?;
        let fresh = vec![true; messages.len()];
        let received = self.receipts.stamps(messages.len());
        let run = Run {
            received: &received,
            started,
            record_stats: false,
            traceparent,
        };
        self.apply(tx, messages, outcomes, fresh, run).await
    }

    async fn apply(
        &self,
        tx: Box<dyn StoreTransaction>,
        messages: &[Message],
        outcomes: Vec<ParseOutcome>,
        fresh: Vec<bool>,
        run: Run<'_>,
    ) -> Result<IngestReport, StoreError> {
        let Run {
            received,
            started,
            record_stats,
            traceparent,
        } = run;
        let mut batch = Batch::new(tx, self.clock.now(), started);
        let signal_keys: Vec<_> = messages
            .iter()
            .zip(&outcomes)
            .zip(&fresh)
            .filter(|((_, o), fresh)| **fresh && matches!(o, ParseOutcome::Signal(_)))
            .map(|((m, _), _)| (m.channel_id, m.message_id))
            .collect();
        batch.load_existing(&signal_keys).await?;

        for (((message, outcome), fresh), received_at) in
            messages.iter().zip(outcomes).zip(fresh).zip(received)
        {
            batch.stats.received += 1;
            if !fresh {
                batch.stats.duplicates += 1;
                batch.receipt(message, false, IngestOutcome::Duplicate, None, None);
                continue;
            }
            match outcome {
                ParseOutcome::Signal(call) => batch.signal(message, call, *received_at).await?,
                ParseOutcome::Update(update) => batch.update(message, &update).await?,
                ParseOutcome::Ignored(reason) => {
                    batch.stats.ignored += 1;
                    let reason = Some(reason.describe().to_owned());
                    batch.receipt(message, true, IngestOutcome::Ignored, None, reason);
                }
                ParseOutcome::Rejected(reason) => {
                    batch.stats.rejected += 1;
                    let reason = Some(reason.to_string());
                    batch.receipt(message, true, IngestOutcome::Rejected, None, reason);
                }
            }
        }
        let titles = if record_stats {
            self.titles.unknown(messages)
        } else {
            Vec::new()
        };
        batch.tx.learn_channel_titles(&titles).await?;
        let (receipts, events, stats) = batch.finish(record_stats).await?;
        self.titles.learned(titles);
        let stored_any = receipts.iter().any(|r| r.stored);
        let side_effect_failures = self.after_commit(events, stored_any, traceparent).await;
        Ok(IngestReport {
            receipts,
            stats,
            side_effect_failures,
        })
    }

    /// Applies a deletion notice: archived deliveries are flagged, open signals of those
    /// messages become cancelled. Nothing is ever removed.
    pub async fn delete(
        &self,
        channel_id: ChannelId,
        message_ids: &[MessageId],
        traceparent: Option<&str>,
    ) -> Result<DeletionReport, StoreError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let archived_flagged = tx.mark_deleted(channel_id, message_ids, now).await?;
        let keys: Vec<_> = message_ids.iter().map(|m| (channel_id, *m)).collect();
        let mut cancelled = Vec::new();
        let mut events = Vec::new();
        for signal in tx.signals_for_messages(&keys).await? {
            if !signal.status.is_open() {
                continue;
            }
            let change = StatusChange {
                status: SignalStatus::Cancelled,
                at: now,
                message: Some((signal.channel_id, signal.message_id)),
                reason: "message deleted in Telegram".to_owned(),
            };
            tx.change_status(signal.id, &change).await?;
            cancelled.push(signal.id);
            events.push(event(
                SignalEventKind::StatusChanged,
                &signal,
                SignalStatus::Cancelled,
                now,
            ));
        }
        tx.commit().await?;
        let changed = archived_flagged > 0 || !cancelled.is_empty();
        let side_effect_failures = self.after_commit(events, changed, traceparent).await;
        Ok(DeletionReport {
            archived_flagged,
            cancelled,
            side_effect_failures,
        })
    }

    /// Invalidates the cache when the commit changed anything readers see (signals, and the
    /// archive behind channel counts and logs), then publishes the events.
    async fn after_commit(
        &self,
        events: Vec<SignalEvent>,
        changed: bool,
        traceparent: Option<&str>,
    ) -> u32 {
        let mut failures = 0;
        if !changed && events.is_empty() {
            return 0;
        }
        if self.cache.invalidate_all().await.is_err() {
            failures += 1;
        }
        let mut events = events;
        for e in &mut events {
            e.traceparent = traceparent.map(str::to_owned);
        }
        let unpublished = self.events.publish_all(&events).await;
        failures + u32::try_from(unpublished).unwrap_or(u32::MAX)
    }
}

fn event(
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
struct Run<'a> {
    received: &'a [DateTime<Utc>],
    started: Instant,
    record_stats: bool,
    traceparent: Option<&'a str>,
}

/// The work of one batch inside its transaction. New signals are inserted together; the
/// pending inserts are flushed first whenever a later delivery depends on them (an update of the
/// same asset, an edit of the same message), so input order is always respected.
struct Batch {
    tx: Box<dyn StoreTransaction>,
    now: chrono::DateTime<chrono::Utc>,
    started: Instant,
    existing: HashMap<(ChannelId, MessageId), Signal>,
    pending: Vec<(usize, NewSignal)>,
    receipts: Vec<IngestReceipt>,
    events: Vec<SignalEvent>,
    stats: BatchStats,
}

impl Batch {
    fn new(
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

    async fn load_existing(&mut self, keys: &[(ChannelId, MessageId)]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        for s in self.tx.signals_for_messages(keys).await? {
            self.existing.insert((s.channel_id, s.message_id), s);
        }
        Ok(())
    }

    fn receipt(
        &mut self,
        m: &Message,
        stored: bool,
        outcome: IngestOutcome,
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

    async fn signal(
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
            self.receipt(m, true, IngestOutcome::Signal, None, None);
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
                IngestOutcome::Signal,
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
        self.receipt(m, true, IngestOutcome::Edited, Some(current.id), None);
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

    async fn update(&mut self, m: &Message, update: &SignalUpdate) -> Result<(), StoreError> {
        self.stats.updates += 1;
        if let Some(signal) = self.replied_signal(m, update).await? {
            return self.apply_update(m, update, signal).await;
        }
        let Some(asset) = &update.asset else {
            let reason = "the update names no asset: no signal changed";
            self.receipt(
                m,
                true,
                IngestOutcome::Update,
                None,
                Some(reason.to_owned()),
            );
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
            self.receipt(m, true, IngestOutcome::Update, None, Some(reason));
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
                .signals_for_messages(&[key])
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
        self.receipt(m, true, IngestOutcome::Update, Some(signal.id), None);
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

    async fn finish(
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{DateTime, TimeZone, Utc};
    use futures_executor::block_on;

    use super::*;
    use crate::memory::{FixedClock, MemoryCache, MemoryEvents, MemoryStore};
    use crate::ports::{CacheLookup, SignalCache};

    const CALL: &str = "🟢Swing Trade\nAtivo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nAlvo 2: 2,15\nStop: 0,70";

    struct World {
        store: MemoryStore,
        cache: Arc<MemoryCache>,
        events: Arc<MemoryEvents>,
        service: IngestService,
    }

    fn world() -> World {
        let store = MemoryStore::new();
        let cache = Arc::new(MemoryCache::new());
        let events = Arc::new(MemoryEvents::new());
        let clock = Arc::new(FixedClock::new(at(12)));
        let service = IngestService::new(
            Arc::new(store.clone()),
            events.clone(),
            cache.clone(),
            clock,
        );
        World {
            store,
            cache,
            events,
            service,
        }
    }

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 10, 20, hour, 0, 0)
            .single()
            .expect("valid time")
    }

    fn message(channel: i64, id: i64, text: &str) -> Message {
        Message {
            channel_id: ChannelId(channel),
            message_id: MessageId(id),
            text: text.to_owned(),
            date: at(10),
            edit_date: None,
            media_type: None,
            source: Some("bot".into()),
            metadata: serde_json::Value::Null,
        }
    }

    fn ingest(w: &World, messages: &[Message]) -> IngestReport {
        block_on(w.service.ingest(messages, Some("00-abc-def-01"))).expect("ingest succeeds")
    }

    #[test]
    fn a_call_becomes_an_open_signal_and_is_announced() {
        let w = world();
        let report = ingest(&w, &[message(-100, 1, CALL)]);
        let receipt = &report.receipts[0];
        assert_eq!(
            (receipt.outcome, receipt.stored),
            (IngestOutcome::Signal, true)
        );
        let state = w.store.snapshot();
        assert_eq!(state.signals.len(), 1);
        let signal = state.signals.values().next().expect("one signal");
        assert_eq!(Some(signal.id), receipt.signal_id);
        assert_eq!(signal.status, SignalStatus::Open);
        assert_eq!(signal.call.asset.as_str(), "BOVAW32");
        let events = w.events.published();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, SignalEventKind::Created);
        assert_eq!(events[0].traceparent.as_deref(), Some("00-abc-def-01"));
        assert_eq!(state.stats.len(), 1);
        assert_eq!(state.stats[0].signals, 1);
    }

    #[test]
    fn a_reply_without_asset_updates_the_call_it_replies_to() {
        let w = world();
        let second = CALL.replace("Alvo 1: 1,15", "Alvo 1: 1,20");
        ingest(&w, &[message(-100, 1, CALL), message(-100, 2, &second)]);
        let reply = |id: i64, to: serde_json::Value| Message {
            metadata: serde_json::json!({"replyTo": {"messageId": to}}),
            ..message(-100, id, "Alvo 1 atingido ✅")
        };
        let report = ingest(&w, &[reply(3, 1.into())]);
        let first_id = w
            .store
            .snapshot()
            .signals
            .values()
            .find(|s| s.message_id == MessageId(1))
            .map(|s| s.id);
        assert_eq!(
            report.receipts[0].signal_id, first_id,
            "the replied call, not the latest"
        );
        let statuses: Vec<_> = {
            let state = w.store.snapshot();
            let mut s: Vec<_> = state
                .signals
                .values()
                .map(|s| (s.message_id.0, s.status))
                .collect();
            s.sort_by_key(|(id, _)| *id);
            s
        };
        assert_eq!(
            statuses,
            vec![
                (1, SignalStatus::TargetHit { index: Some(1) }),
                (2, SignalStatus::Open)
            ]
        );
        // No reply, or a reply to a message that is no call: no signal changes.
        let none = ingest(
            &w,
            &[
                message(-100, 4, "Alvo 1 atingido ✅"),
                reply(5, "99".into()),
            ],
        );
        assert!(none.receipts.iter().all(|r| r.signal_id.is_none()));
        assert_eq!(
            w.store
                .snapshot()
                .signals
                .values()
                .filter(|s| s.status == SignalStatus::Open)
                .count(),
            1
        );
    }

    #[test]
    fn redelivery_stores_once() {
        let w = world();
        let first = ingest(&w, &[message(-100, 1, CALL)]);
        let again = ingest(&w, &[message(-100, 1, CALL), message(-100, 1, CALL)]);
        assert_eq!(first.receipts[0].outcome, IngestOutcome::Signal);
        assert!(
            again
                .receipts
                .iter()
                .all(|r| r.outcome == IngestOutcome::Duplicate && !r.stored)
        );
        let state = w.store.snapshot();
        assert_eq!((state.signals.len(), state.archive.len()), (1, 1));
    }

    #[test]
    fn duplicates_inside_one_batch_store_once() {
        let w = world();
        let report = ingest(&w, &[message(-100, 1, CALL), message(-100, 1, CALL)]);
        let outcomes: Vec<_> = report.receipts.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            vec![IngestOutcome::Signal, IngestOutcome::Duplicate]
        );
        assert_eq!(w.store.snapshot().signals.len(), 1);
    }

    #[test]
    fn the_same_message_id_in_two_channels_is_two_signals() {
        let w = world();
        ingest(&w, &[message(-100, 1, CALL), message(-200, 1, CALL)]);
        assert_eq!(w.store.snapshot().signals.len(), 2);
    }

    #[test]
    fn a_newer_edit_is_a_revision_and_an_older_one_changes_nothing() {
        let w = world();
        ingest(&w, &[message(-100, 1, CALL)]);
        let edited = Message {
            edit_date: Some(at(11)),
            text: CALL.replace("0,70", "0,80"),
            ..message(-100, 1, "")
        };
        let report = ingest(&w, std::slice::from_ref(&edited));
        assert_eq!(report.receipts[0].outcome, IngestOutcome::Edited);
        let stale = Message {
            edit_date: Some(at(10)),
            text: CALL.replace("0,70", "0,60"),
            ..message(-100, 1, "")
        };
        let report = ingest(&w, &[stale, edited]);
        assert_eq!(report.receipts[0].outcome, IngestOutcome::Signal);
        assert_eq!(report.receipts[1].outcome, IngestOutcome::Duplicate);
        let state = w.store.snapshot();
        let signal = state.signals.values().next().expect("signal");
        assert_eq!(signal.revision, 2);
        assert_eq!(signal.call.stop.map(|s| s.to_string()), Some("0.8".into()));
        let history = &state.revisions[&signal.id];
        assert_eq!(history.len(), 1);
        assert_eq!(
            history[0].call.stop.map(|s| s.to_string()),
            Some("0.7".into())
        );
    }

    #[test]
    fn updates_change_the_latest_open_signal_of_that_asset_in_that_channel() {
        let w = world();
        ingest(&w, &[message(-100, 1, CALL), message(-200, 1, CALL)]);
        let report = ingest(&w, &[message(-100, 2, "✅ Alvo 1 atingido em BOVAW32!")]);
        let receipt = &report.receipts[0];
        assert_eq!(receipt.outcome, IngestOutcome::Update);
        let state = w.store.snapshot();
        let updated = &state.signals[&receipt.signal_id.expect("an updated signal")];
        assert_eq!(updated.channel_id, ChannelId(-100));
        assert_eq!(updated.status, SignalStatus::TargetHit { index: Some(1) });
        let other = state
            .signals
            .values()
            .find(|s| s.channel_id == ChannelId(-200))
            .expect("other channel");
        assert_eq!(other.status, SignalStatus::Open);
        assert_eq!(state.history[&updated.id].len(), 1);
    }

    #[test]
    fn a_call_and_its_update_in_one_batch_apply_in_order() {
        let w = world();
        let report = ingest(
            &w,
            &[
                message(-100, 1, CALL),
                message(-100, 2, "BOVAW32 stop\n-25%"),
            ],
        );
        let id = report.receipts[0].signal_id.expect("signal id");
        assert_eq!(report.receipts[1].signal_id, Some(id));
        assert_eq!(
            w.store.snapshot().signals[&id].status,
            SignalStatus::Stopped
        );
    }

    #[test]
    fn an_update_without_open_signal_is_archived_with_a_reason() {
        let w = world();
        let report = ingest(&w, &[message(-100, 2, "Operação CANCELADA: ABEVK122")]);
        let receipt = &report.receipts[0];
        assert_eq!(
            (receipt.outcome, receipt.signal_id),
            (IngestOutcome::Update, None)
        );
        assert!(
            receipt
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("no open signal of ABEVK122")
        );
        assert_eq!(w.store.snapshot().archive.len(), 1);
    }

    #[test]
    fn calls_older_than_the_horizon_are_archived_as_rejected_not_applied() {
        let mut w = world();
        w.service = w.service.clone().with_horizon(30);
        let old = Message {
            date: at(10) - chrono::Duration::days(31),
            ..message(-100, 1, CALL)
        };
        let report = ingest(&w, &[old, message(-100, 2, CALL)]);
        let outcomes: Vec<_> = report.receipts.iter().map(|r| r.outcome).collect();
        assert_eq!(outcomes, [IngestOutcome::Rejected, IngestOutcome::Signal]);
        let reason = report.receipts[0].reason.as_deref().unwrap_or_default();
        assert!(reason.contains("30 days"), "{reason}");
        let state = w.store.snapshot();
        assert_eq!(state.archive.len(), 2, "both archived");
        assert_eq!(state.signals.len(), 1, "only the recent call applied");
    }

    #[test]
    fn ignored_and_rejected_messages_are_archived_with_reasons() {
        let w = world();
        let report = ingest(
            &w,
            &[
                message(-100, 1, "Bom dia pessoal!"),
                message(-100, 2, ""),
                message(-100, 3, "Compra: 1,00\nStop: 0,90"),
            ],
        );
        let outcomes: Vec<_> = report.receipts.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            vec![
                IngestOutcome::Ignored,
                IngestOutcome::Ignored,
                IngestOutcome::Rejected
            ]
        );
        let state = w.store.snapshot();
        assert_eq!(state.archive.len(), 3);
        assert!(state.archive.iter().all(|a| a.reason.is_some()));
        assert!(state.signals.is_empty());
    }

    #[test]
    fn deletions_cancel_and_keep_everything() {
        let w = world();
        ingest(&w, &[message(-100, 1, CALL)]);
        let report = block_on(w.service.delete(
            ChannelId(-100),
            &[MessageId(1), MessageId(9)],
            None,
        ))
        .expect("delete");
        assert_eq!((report.archived_flagged, report.cancelled.len()), (1, 1));
        let state = w.store.snapshot();
        assert_eq!(
            state.signals.values().next().map(|s| s.status),
            Some(SignalStatus::Cancelled)
        );
        assert_eq!(state.archive.len(), 1);
        assert!(state.archive[0].deleted_at.is_some());
    }

    #[test]
    fn an_unavailable_store_fails_the_batch_and_stores_nothing() {
        let w = world();
        w.store.set_unavailable(true);
        let err =
            block_on(w.service.ingest(&[message(-100, 1, CALL)], None)).expect_err("must fail");
        assert!(matches!(err, StoreError::Unavailable(_)));
        w.store.set_unavailable(false);
        assert!(w.store.snapshot().archive.is_empty());
        assert!(w.events.published().is_empty());
    }

    #[test]
    fn redis_down_never_fails_ingestion() {
        let w = world();
        w.cache.set_unavailable(true);
        w.events.set_unavailable(true);
        let report = ingest(&w, &[message(-100, 1, CALL)]);
        assert_eq!(report.receipts[0].outcome, IngestOutcome::Signal);
        assert_eq!(report.side_effect_failures, 2);
        assert_eq!(w.store.snapshot().signals.len(), 1);
    }

    #[test]
    fn every_commit_with_changes_invalidates_the_cache() {
        let w = world();
        let generation = |c: &MemoryCache| {
            block_on(c.get("k"))
                .map(|l: CacheLookup| l.generation)
                .expect("cache up")
        };
        let before = generation(&w.cache);
        ingest(&w, &[message(-100, 1, CALL)]);
        assert_eq!(generation(&w.cache), before + 1);
        ingest(&w, &[message(-100, 1, CALL)]);
        assert_eq!(
            generation(&w.cache),
            before + 1,
            "a duplicate changes nothing"
        );
    }
}
