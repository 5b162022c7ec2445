//! Ingesting messages: archive every delivery, turn calls into signals, edits into revisions and
//! updates into status changes, all in one transaction; then tell subscribers and the cache.

mod batch;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    ChannelId, Message, MessageId, ParseOutcome, RejectReason, SignalId, SignalStatus,
    StatusChange, TraceContext,
};
use crate::parser::{PARSER_VERSION, parse};
use crate::ports::{
    ArchiveEntry, BatchStats, Clock, Invalidation, SignalCache, SignalEvent, SignalEventKind,
    SignalEvents, SignalStore, StoreError, StoreTransaction,
};
use crate::services::{ChannelTitles, ReceiptClock};

use batch::{Batch, Run, event};

/// What became of one delivery, as the gateway is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
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

impl Disposition {
    /// Every outcome, for metrics.
    pub const ALL: [Disposition; 6] = [
        Disposition::Signal,
        Disposition::Update,
        Disposition::Ignored,
        Disposition::Rejected,
        Disposition::Duplicate,
        Disposition::Edited,
    ];

    /// The machine name.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Signal => "signal",
            Disposition::Update => "update",
            Disposition::Ignored => "ignored",
            Disposition::Rejected => "rejected",
            Disposition::Duplicate => "duplicate",
            Disposition::Edited => "edited",
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
    pub outcome: Disposition,
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
    /// Transactions retried after a conflict before this one committed (0 or 1).
    pub retries: u32,
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
    /// Transactions retried after a conflict before this one committed (0 or 1).
    pub retries: u32,
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
        traceparent: Option<&TraceContext>,
    ) -> Result<IngestReport, StoreError> {
        let received = self.receipts.stamps(messages.len());
        self.ingest_received(messages, &received, traceparent).await
    }

    /// [`IngestService::ingest`] with the time each message was received (from
    /// [`IngestService::receipts`]; it becomes the signal's `created_at`, the dashboard's
    /// `ingested_at`). Missing times are stamped now.
    ///
    /// A `Conflict` (a concurrent delivery of the same message committed first) is retried
    /// once in a new transaction, where that delivery is then a duplicate; a second `Conflict`
    /// is returned.
    pub async fn ingest_received(
        &self,
        messages: &[Message],
        received: &[DateTime<Utc>],
        traceparent: Option<&TraceContext>,
    ) -> Result<IngestReport, StoreError> {
        let received = self.complete(messages.len(), received);
        match self.ingest_once(messages, &received, traceparent).await {
            Err(StoreError::Conflict(why)) => {
                tracing::info!(error = %why, "commit conflict (concurrent duplicate); retrying once");
                let mut report = self.ingest_once(messages, &received, traceparent).await?;
                report.retries = 1;
                Ok(report)
            }
            other => other,
        }
    }

    /// One transaction of [`IngestService::ingest_received`].
    async fn ingest_once(
        &self,
        messages: &[Message],
        received: &[DateTime<Utc>],
        traceparent: Option<&TraceContext>,
    ) -> Result<IngestReport, StoreError> {
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
            received,
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
        traceparent: Option<&TraceContext>,
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
        let calls: Vec<&Message> = messages
            .iter()
            .zip(&outcomes)
            .zip(&fresh)
            .filter(|((_, o), fresh)| **fresh && matches!(o, ParseOutcome::Signal(_)))
            .map(|((m, _), _)| m)
            .collect();
        batch.load_existing(&calls).await?;

        for (((message, outcome), fresh), received_at) in
            messages.iter().zip(outcomes).zip(fresh).zip(received)
        {
            batch.stats.received += 1;
            if !fresh {
                batch.stats.duplicates += 1;
                batch.receipt(message, false, Disposition::Duplicate, None, None);
                continue;
            }
            match outcome {
                ParseOutcome::Signal(call) => batch.signal(message, call, *received_at).await?,
                ParseOutcome::Update(update) => batch.update(message, &update).await?,
                ParseOutcome::Ignored(reason) => {
                    batch.stats.ignored += 1;
                    let reason = Some(reason.describe().to_owned());
                    batch.receipt(message, true, Disposition::Ignored, None, reason);
                }
                ParseOutcome::Rejected(reason) => {
                    batch.stats.rejected += 1;
                    let reason = Some(reason.to_string());
                    batch.receipt(message, true, Disposition::Rejected, None, reason);
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
        let mut touched: Vec<ChannelId> = titles.iter().map(|(channel, _)| *channel).collect();
        self.titles.learned(titles);
        touched.extend(receipts.iter().filter(|r| r.stored).map(|r| r.channel_id));
        let side_effect_failures = self.after_commit(events, touched, traceparent).await;
        Ok(IngestReport {
            receipts,
            stats,
            side_effect_failures,
            retries: 0,
        })
    }

    /// Applies a deletion notice: archived deliveries are flagged, open signals of those
    /// messages become cancelled. Nothing is ever removed. A `Conflict` is retried once, as
    /// for [`IngestService::ingest_received`].
    pub async fn delete(
        &self,
        channel_id: ChannelId,
        message_ids: &[MessageId],
        traceparent: Option<&TraceContext>,
    ) -> Result<DeletionReport, StoreError> {
        match self.delete_once(channel_id, message_ids, traceparent).await {
            Err(StoreError::Conflict(why)) => {
                tracing::info!(error = %why, "deletion conflict; retrying once");
                let mut report = self
                    .delete_once(channel_id, message_ids, traceparent)
                    .await?;
                report.retries = 1;
                Ok(report)
            }
            other => other,
        }
    }

    /// One transaction of [`IngestService::delete`].
    async fn delete_once(
        &self,
        channel_id: ChannelId,
        message_ids: &[MessageId],
        traceparent: Option<&TraceContext>,
    ) -> Result<DeletionReport, StoreError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let archived_flagged = tx.mark_deleted(channel_id, message_ids, now).await?;
        let keys: Vec<_> = message_ids.iter().map(|m| (channel_id, *m)).collect();
        let mut cancelled = Vec::new();
        let mut events = Vec::new();
        for signal in tx.signals_for_messages(&keys, None).await? {
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
        let touched = if changed {
            vec![channel_id]
        } else {
            Vec::new()
        };
        let side_effect_failures = self.after_commit(events, touched, traceparent).await;
        Ok(DeletionReport {
            archived_flagged,
            cancelled,
            side_effect_failures,
            retries: 0,
        })
    }

    /// Invalidates the cached answers of the channels the commit changed (signals, and the
    /// archive behind channel counts and logs; `touched` plus the events' channels), then
    /// publishes the events.
    async fn after_commit(
        &self,
        events: Vec<SignalEvent>,
        mut touched: Vec<ChannelId>,
        traceparent: Option<&TraceContext>,
    ) -> u32 {
        let mut failures = 0;
        touched.extend(events.iter().map(|e| e.channel_id));
        if touched.is_empty() {
            return 0;
        }
        touched.sort_unstable();
        touched.dedup();
        if self
            .cache
            .invalidate(&Invalidation::Channels(touched))
            .await
            .is_err()
        {
            failures += 1;
        }
        let mut events = events;
        for e in &mut events {
            e.traceparent = traceparent.cloned();
        }
        let unpublished = self.events.publish_all(&events).await;
        failures + u32::try_from(unpublished).unwrap_or(u32::MAX)
    }
}
