//! Pulling from the gateway: the policy of the pull consumer, free of HTTP and timers. Page the
//! messages a channel has not had acknowledged, store them through the ingest use case (the same
//! idempotency as a push: a message received both ways is stored once), and only after the commit
//! acknowledge every one of them, whatever its outcome — photo-only, ignored, rejected or
//! unreadable — so nothing blocks the head of the gateway's queue. A per-channel ledger keeps what
//! we saw, stored and acknowledged: it is the truth, not the gateway's `processed_by`. The
//! reconciliation re-reads rows acknowledged under another name (the acknowledgement has no channel
//! filter) and stores the ones we never had. Timers, retries and the circuit breaker belong to the
//! runner in the ingest service.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{ChannelId, Message};
use crate::ports::{Clock, FeedError, FeedItem, FeedStatus, GatewayFeed, StoreError, SyncReport};
use crate::services::{Disposition, IngestReport, IngestService};

/// Where pulled messages are stored: the ingest use case, possibly wrapped (metrics).
#[async_trait]
pub trait MessageSink: Send + Sync {
    /// Stores `messages` in one transaction, as `/ingest/batch` does; `Ok` only after the commit.
    /// MUST answer `Duplicate` receipts for deliveries already stored, and `Unavailable` when the
    /// database cannot be reached. A conflict is retried once inside
    /// ([`IngestService::ingest_received`]), so `Conflict` here means it persisted.
    async fn store(&self, messages: &[Message]) -> Result<IngestReport, StoreError>;
}

#[async_trait]
impl MessageSink for IngestService {
    async fn store(&self, messages: &[Message]) -> Result<IngestReport, StoreError> {
        self.ingest(messages, None).await
    }
}

/// What the consumer knows of one channel since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChannelLedger {
    /// Rows listed by the gateway (duplicates included).
    pub seen: u64,
    /// Messages newly stored by the pull.
    pub stored: u64,
    /// Messages we already had (a push, an earlier pull, a duplicate row of the gateway).
    pub duplicates: u64,
    /// Rows that could not become a message (acknowledged, not stored).
    pub invalid: u64,
    /// Messages the store refused one by one (not acknowledged; listed again next time).
    pub failed: u64,
    /// Ids acknowledged to the gateway.
    pub acknowledged: u64,
    /// Messages swallowed by another channel's acknowledgement, found and stored by the
    /// reconciliation.
    pub healed: u64,
    /// Ids stored but whose acknowledgement did not go through yet (sent again first).
    pub unacknowledged: Vec<String>,
    /// The last error, for operators.
    pub last_error: Option<String>,
    /// The last poll that reached the gateway and the store.
    pub last_success: Option<DateTime<Utc>>,
    /// Reception time of the oldest row the gateway still listed at the last poll.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// The counts of one drain or reconciliation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PullReport {
    /// Pages listed.
    pub pages: u32,
    /// Rows listed.
    pub seen: u64,
    /// Newly stored.
    pub stored: u64,
    /// Already stored.
    pub duplicates: u64,
    /// Unreadable rows (acknowledged).
    pub invalid: u64,
    /// Refused by the store (not acknowledged).
    pub failed: u64,
    /// Older than the drain's lower bound: acknowledged, not stored.
    pub skipped: u64,
    /// Acknowledged.
    pub acknowledged: u64,
    /// Found by the reconciliation and newly stored.
    pub healed: u64,
    /// Age in seconds of the oldest row still pending at the gateway when the drain started
    /// (0 when nothing was pending).
    pub lag_seconds: f64,
}

impl PullReport {
    /// Adds `other`'s counts to these; the lag is the larger of the two.
    pub fn absorb(&mut self, other: &PullReport) {
        self.pages += other.pages;
        self.seen += other.seen;
        self.stored += other.stored;
        self.duplicates += other.duplicates;
        self.invalid += other.invalid;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.acknowledged += other.acknowledged;
        self.healed += other.healed;
        self.lag_seconds = self.lag_seconds.max(other.lag_seconds);
    }
}

/// What a [`PullConsumer::sync`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncSummary {
    /// The gateway's answer to the sync request.
    pub gateway: SyncReport,
    /// The drains of every channel, summed.
    pub pulled: PullReport,
}

/// Why a drain stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullError {
    /// The gateway failed: nothing more was listed; what was stored is in the ledger.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// The store failed (`Unavailable`: stop pulling until it returns); nothing of this page was
    /// acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The pull consumer's policy over a [`GatewayFeed`] and a [`MessageSink`].
pub struct PullConsumer {
    feed: Arc<dyn GatewayFeed>,
    sink: Arc<dyn MessageSink>,
    clock: Arc<dyn Clock>,
    page: usize,
    ledger: Mutex<BTreeMap<ChannelId, ChannelLedger>>,
}

impl std::fmt::Debug for PullConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullConsumer")
            .field("page", &self.page)
            .finish_non_exhaustive()
    }
}

/// What became of one page.
#[derive(Debug, Default)]
struct PageOutcome {
    ack_ids: Vec<String>,
    stored: u64,
    duplicates: u64,
    invalid: u64,
    failed: u64,
    skipped: u64,
    last_failure: Option<String>,
}

impl PullConsumer {
    /// A consumer listing `page` rows at a time (at least 1).
    pub fn new(
        feed: Arc<dyn GatewayFeed>,
        sink: Arc<dyn MessageSink>,
        clock: Arc<dyn Clock>,
        page: usize,
    ) -> Self {
        Self {
            feed,
            sink,
            clock,
            page: page.max(1),
            ledger: Mutex::new(BTreeMap::new()),
        }
    }

    /// A copy of the ledger, by channel.
    pub fn ledger(&self) -> BTreeMap<ChannelId, ChannelLedger> {
        self.ledger
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update<R>(&self, channel: ChannelId, f: impl FnOnce(&mut ChannelLedger) -> R) -> R {
        let mut ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        f(ledger.entry(channel).or_default())
    }

    /// Records an error of `channel` in its ledger (the runner's errors too).
    pub fn record_error(&self, channel: ChannelId, error: &str) {
        self.update(channel, |l| l.last_error = Some(error.to_owned()));
    }

    /// Drains `channel`: first the acknowledgements still owed, then up to `max_pages` pages of
    /// pending rows, each stored then acknowledged. Stops early when a page is not full, or when
    /// a page made no progress (every row refused by the store).
    pub async fn drain(&self, channel: ChannelId, max_pages: u32) -> Result<PullReport, PullError> {
        self.drain_since(channel, max_pages, None).await
    }

    /// [`PullConsumer::drain`], but messages dated before `not_before` are acknowledged without
    /// being stored (an operator's backfill from a date).
    pub async fn drain_since(
        &self,
        channel: ChannelId,
        max_pages: u32,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<PullReport, PullError> {
        let mut report = PullReport::default();
        let owed = self.update(channel, |l| l.unacknowledged.clone());
        if !owed.is_empty() {
            self.acknowledge(channel, owed, &mut report).await?;
        }
        for _ in 0..max_pages.max(1) {
            let items = self
                .feed
                .list(channel, FeedStatus::Pending, self.page)
                .await
                .inspect_err(|e| self.record_error(channel, &e.to_string()))?;
            report.pages += 1;
            let oldest = items.iter().filter_map(|i| i.received_at).min();
            if report.pages == 1 {
                report.lag_seconds = oldest.map_or(0.0, |t| {
                    (self.clock.now() - t).num_milliseconds().max(0) as f64 / 1000.0
                });
            }
            self.update(channel, |l| {
                l.oldest_pending = oldest;
                l.seen += items.len() as u64;
            });
            if items.is_empty() {
                break;
            }
            let full = items.len() >= self.page;
            report.seen += items.len() as u64;
            let outcome = self.store(channel, items, not_before).await?;
            report.skipped += outcome.skipped;
            report.stored += outcome.stored;
            report.duplicates += outcome.duplicates;
            report.invalid += outcome.invalid;
            report.failed += outcome.failed;
            let progressed = !outcome.ack_ids.is_empty();
            if progressed {
                self.acknowledge(channel, outcome.ack_ids, &mut report)
                    .await?;
            }
            if !full || !progressed {
                break;
            }
        }
        let now = self.clock.now();
        self.update(channel, |l| {
            l.last_success = Some(now);
            if report.failed == 0 {
                l.last_error = None;
            }
        });
        Ok(report)
    }

    /// Asks the gateway to fetch up to `limit` recent messages from Telegram, then drains each of
    /// `channels` (at most `max_pages` pages each): an operator's "check messages now". The
    /// drains are the ordinary ones, so a sync racing the background poll stores nothing twice.
    pub async fn sync(
        &self,
        channels: &[ChannelId],
        limit: usize,
        max_pages: u32,
    ) -> Result<SyncSummary, PullError> {
        let gateway = self.feed.request_sync(limit).await?;
        let mut pulled = PullReport::default();
        for &channel in channels {
            pulled.absorb(&self.drain(channel, max_pages).await?);
        }
        Ok(SyncSummary { gateway, pulled })
    }

    /// Reads one page of `channel`'s rows acknowledged under another name and stores them (a
    /// message swallowed by another channel's acknowledgement becomes `healed`; the others are
    /// duplicates). Nothing is acknowledged: acknowledging would swallow the other channel's row
    /// of the same id in turn.
    pub async fn reconcile(&self, channel: ChannelId) -> Result<PullReport, PullError> {
        let items = self
            .feed
            .list(channel, FeedStatus::PublishedElsewhere, self.page)
            .await
            .inspect_err(|e| self.record_error(channel, &e.to_string()))?;
        let mut report = PullReport {
            pages: 1,
            seen: items.len() as u64,
            ..PullReport::default()
        };
        if items.is_empty() {
            return Ok(report);
        }
        let outcome = self.store(channel, items, None).await?;
        report.healed = outcome.stored;
        report.duplicates = outcome.duplicates;
        report.invalid = outcome.invalid;
        report.failed = outcome.failed;
        self.update(channel, |l| l.healed += outcome.stored);
        Ok(report)
    }

    async fn acknowledge(
        &self,
        channel: ChannelId,
        mut ids: Vec<String>,
        report: &mut PullReport,
    ) -> Result<(), PullError> {
        ids.sort_unstable();
        ids.dedup();
        match self.feed.acknowledge(channel, &ids).await {
            Ok(_) => {
                report.acknowledged += ids.len() as u64;
                self.update(channel, |l| {
                    l.acknowledged += ids.len() as u64;
                    l.unacknowledged.retain(|owed| !ids.contains(owed));
                });
                Ok(())
            }
            Err(e) => {
                self.update(channel, |l| {
                    for id in ids {
                        if !l.unacknowledged.contains(&id) {
                            l.unacknowledged.push(id);
                        }
                    }
                    l.last_error = Some(format!("acknowledging: {e}"));
                });
                Err(e.into())
            }
        }
    }

    /// Stores the readable rows (one transaction; one by one when the batch is refused for
    /// another reason than an unreachable database) and says which ids may be acknowledged.
    async fn store(
        &self,
        channel: ChannelId,
        items: Vec<FeedItem>,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<PageOutcome, PullError> {
        let mut outcome = PageOutcome::default();
        let mut messages = Vec::with_capacity(items.len());
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            match item.message {
                Ok(message) if not_before.is_some_and(|t| message.date < t) => {
                    outcome.skipped += 1;
                    outcome.ack_ids.push(item.ack_id);
                }
                Ok(message) => {
                    messages.push(message);
                    ids.push(item.ack_id);
                }
                Err(why) => {
                    outcome.invalid += 1;
                    outcome.last_failure = Some(format!("row {}: {why}", item.ack_id));
                    outcome.ack_ids.push(item.ack_id);
                }
            }
        }
        if !messages.is_empty() {
            match self.sink.store(&messages).await {
                Ok(report) => {
                    count(&report, &mut outcome);
                    outcome.ack_ids.extend(ids);
                }
                Err(e @ StoreError::Unavailable(_)) => {
                    self.record_error(channel, &e.to_string());
                    return Err(e.into());
                }
                Err(_) => {
                    for (message, id) in messages.iter().zip(ids) {
                        match self.sink.store(std::slice::from_ref(message)).await {
                            Ok(report) => {
                                count(&report, &mut outcome);
                                outcome.ack_ids.push(id);
                            }
                            Err(e @ StoreError::Unavailable(_)) => {
                                self.record_error(channel, &e.to_string());
                                return Err(e.into());
                            }
                            Err(e) => {
                                outcome.failed += 1;
                                outcome.last_failure = Some(format!("message {id}: {e}"));
                            }
                        }
                    }
                }
            }
        }
        self.update(channel, |l| {
            l.stored += outcome.stored;
            l.duplicates += outcome.duplicates;
            l.invalid += outcome.invalid;
            l.failed += outcome.failed;
            if let Some(why) = &outcome.last_failure {
                l.last_error = Some(why.clone());
            }
        });
        Ok(outcome)
    }
}

fn count(report: &IngestReport, outcome: &mut PageOutcome) {
    for receipt in &report.receipts {
        if receipt.outcome == Disposition::Duplicate {
            outcome.duplicates += 1;
        } else {
            outcome.stored += 1;
        }
    }
}
