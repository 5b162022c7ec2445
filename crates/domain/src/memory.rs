//! In-memory adapters of every port, for unit tests of the services and the HTTP handlers.
//! They honour the same contracts as the real adapters, with one simplification: a transaction
//! works on a snapshot and its commit fails with `Conflict` if another commit happened meanwhile.

mod reception;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_channel::mpsc::{UnboundedSender, unbounded};

use crate::model::{
    ChannelId, Message, MessageId, Signal, SignalId, SignalKind, SignalRevision, SignalStatus,
    StatusChange, Ticker,
};
use crate::ports::{
    ArchiveEntry, ArchivedMessage, AssetStats, BatchStats, CacheError, CacheLookup, ChangePosition,
    ChannelDirectory, ChannelStats, ChannelSummary, ChannelUpdate, Clock, EventStream, GroupStats,
    HourlyCount, MessageArchive, MessageCursor, MessageOutcome, MessagePage, MessageQuery,
    NewSignal, Reclassification, ReparseSelection, SignalCache, SignalChange, SignalChanges,
    SignalCursor, SignalDetail, SignalEvent, SignalEvents, SignalPage, SignalQueries, SignalQuery,
    SignalRow, SignalStatistics, SignalStats, SignalStore, StatsQuery, StoreError,
    StoreTransaction,
};

/// One archived delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedDelivery {
    /// Archive row id.
    pub id: i64,
    /// Chat.
    pub channel_id: ChannelId,
    /// Message.
    pub message_id: MessageId,
    /// Edit time of this delivery.
    pub edit_date: Option<DateTime<Utc>>,
    /// Parser outcome.
    pub outcome: String,
    /// Parser reason.
    pub reason: Option<String>,
    /// Deleted in Telegram.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The delivery as received.
    pub message: Message,
    /// Parser that decided.
    pub parser_version: String,
    /// When it was archived.
    pub received_at: DateTime<Utc>,
}

/// Everything the in-memory store holds.
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    /// The message archive.
    pub archive: Vec<ArchivedDelivery>,
    /// Signals by id.
    pub signals: HashMap<SignalId, Signal>,
    /// Earlier revisions by signal.
    pub revisions: HashMap<SignalId, Vec<SignalRevision>>,
    /// Status history by signal.
    pub history: HashMap<SignalId, Vec<StatusChange>>,
    /// Channel default kinds.
    pub channel_kinds: HashMap<ChannelId, SignalKind>,
    /// Channel labels.
    pub channel_labels: HashMap<ChannelId, String>,
    /// Channels whose label was learned from the gateway (not set by an operator).
    pub learned_labels: std::collections::HashSet<ChannelId>,
    /// Recorded batch stats.
    pub stats: Vec<BatchStats>,
    next_id: i64,
    next_archive_id: i64,
    version: u64,
}

/// An in-memory [`SignalStore`] and [`SignalQueries`].
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<MemoryState>>,
    down: Arc<AtomicBool>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the current state, for assertions.
    pub fn snapshot(&self) -> MemoryState {
        self.lock().clone()
    }

    /// Simulates the database going away (`true`) or coming back.
    pub fn set_unavailable(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("memory store switched off".into()))
        } else {
            Ok(())
        }
    }
}

struct MemoryTransaction {
    store: MemoryStore,
    base_version: u64,
    work: MemoryState,
}

#[async_trait]
impl SignalStore for MemoryStore {
    async fn begin(&self) -> Result<Box<dyn StoreTransaction>, StoreError> {
        self.check()?;
        let work = self.lock().clone();
        Ok(Box::new(MemoryTransaction {
            store: self.clone(),
            base_version: work.version,
            work,
        }))
    }
}

#[async_trait]
impl StoreTransaction for MemoryTransaction {
    async fn archive(&mut self, entries: &[ArchiveEntry<'_>]) -> Result<Vec<bool>, StoreError> {
        self.store.check()?;
        Ok(entries
            .iter()
            .map(|e| {
                let m = e.message;
                let seen = self.work.archive.iter().any(|a| {
                    (a.channel_id, a.message_id, a.edit_date)
                        == (m.channel_id, m.message_id, m.edit_date)
                });
                if !seen {
                    self.work.next_archive_id += 1;
                    self.work.archive.push(ArchivedDelivery {
                        id: self.work.next_archive_id,
                        channel_id: m.channel_id,
                        message_id: m.message_id,
                        edit_date: m.edit_date,
                        outcome: e.outcome.to_owned(),
                        reason: e.reason.map(str::to_owned),
                        deleted_at: None,
                        message: m.clone(),
                        parser_version: e.parser_version.to_owned(),
                        received_at: Utc::now(),
                    });
                }
                !seen
            })
            .collect())
    }

    async fn signals_for_messages(
        &mut self,
        keys: &[(ChannelId, MessageId)],
    ) -> Result<Vec<Signal>, StoreError> {
        self.store.check()?;
        Ok(self
            .work
            .signals
            .values()
            .filter(|s| keys.contains(&(s.channel_id, s.message_id)))
            .cloned()
            .collect())
    }

    async fn insert_signals(&mut self, signals: &[NewSignal]) -> Result<Vec<SignalId>, StoreError> {
        self.store.check()?;
        let mut ids = Vec::with_capacity(signals.len());
        for n in signals {
            if self
                .work
                .signals
                .values()
                .any(|s| (s.channel_id, s.message_id) == (n.channel_id, n.message_id))
            {
                return Err(StoreError::Conflict(format!(
                    "signal for message {}/{} exists",
                    n.channel_id, n.message_id
                )));
            }
            self.work.next_id += 1;
            let id = SignalId(self.work.next_id);
            self.work.signals.insert(
                id,
                Signal {
                    id,
                    channel_id: n.channel_id,
                    message_id: n.message_id,
                    revision: 1,
                    message_date: n.message_date,
                    edit_date: n.edit_date,
                    call: n.call.clone(),
                    status: SignalStatus::Open,
                    raw_message: n.raw_message.clone(),
                    parser_version: n.parser_version.clone(),
                    source: n.source.clone(),
                    created_at: n.recorded_at,
                    updated_at: n.recorded_at,
                    deleted: false,
                },
            );
            ids.push(id);
        }
        Ok(ids)
    }

    async fn revise_signal(
        &mut self,
        id: SignalId,
        revision: &NewSignal,
    ) -> Result<(), StoreError> {
        self.store.check()?;
        let signal = self.work.signals.get_mut(&id).ok_or(StoreError::NotFound)?;
        self.work
            .revisions
            .entry(id)
            .or_default()
            .push(SignalRevision {
                revision: signal.revision,
                call: signal.call.clone(),
                raw_message: signal.raw_message.clone(),
                recorded_at: signal.updated_at,
            });
        signal.revision = revision.revision;
        signal.edit_date = revision.edit_date;
        signal.call = revision.call.clone();
        signal.raw_message = revision.raw_message.clone();
        signal.parser_version = revision.parser_version.clone();
        signal.updated_at = revision.recorded_at;
        Ok(())
    }

    async fn latest_open_signal(
        &mut self,
        channel_id: ChannelId,
        asset: &Ticker,
    ) -> Result<Option<Signal>, StoreError> {
        self.store.check()?;
        Ok(self
            .work
            .signals
            .values()
            .filter(|s| {
                s.channel_id == channel_id
                    && &s.call.asset == asset
                    && s.status.is_open()
                    && !s.deleted
            })
            .max_by_key(|s| (s.message_date, s.id))
            .cloned())
    }

    async fn change_status(
        &mut self,
        id: SignalId,
        change: &StatusChange,
    ) -> Result<(), StoreError> {
        self.store.check()?;
        let signal = self.work.signals.get_mut(&id).ok_or(StoreError::NotFound)?;
        signal.status = change.status;
        signal.updated_at = change.at;
        self.work
            .history
            .entry(id)
            .or_default()
            .push(change.clone());
        Ok(())
    }

    async fn mark_deleted(
        &mut self,
        channel_id: ChannelId,
        message_ids: &[MessageId],
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.store.check()?;
        let mut n = 0;
        for a in &mut self.work.archive {
            if a.channel_id == channel_id
                && message_ids.contains(&a.message_id)
                && a.deleted_at.is_none()
            {
                a.deleted_at = Some(at);
                n += 1;
            }
        }
        Ok(n)
    }

    async fn learn_channel_titles(
        &mut self,
        titles: &[(ChannelId, String)],
    ) -> Result<(), StoreError> {
        self.store.check()?;
        for (channel, title) in titles {
            let work = &mut self.work;
            if !work.channel_labels.contains_key(channel) || work.learned_labels.contains(channel) {
                work.channel_labels.insert(*channel, title.clone());
                work.learned_labels.insert(*channel);
            }
        }
        Ok(())
    }

    async fn record_stats(
        &mut self,
        stats: &BatchStats,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store.check()?;
        self.work.stats.push(stats.clone());
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.store.check()?;
        let mut state = self.store.lock();
        if state.version != self.base_version {
            return Err(StoreError::Conflict(
                "a concurrent transaction committed first".into(),
            ));
        }
        *state = MemoryState {
            version: self.base_version + 1,
            ..self.work
        };
        Ok(())
    }
}

#[async_trait]
impl SignalQueries for MemoryStore {
    async fn list_signals(&self, q: &SignalQuery) -> Result<SignalPage, StoreError> {
        self.check()?;
        let state = self.lock();
        let mut rows: Vec<SignalRow> = state
            .signals
            .values()
            .filter(|s| !s.deleted)
            .map(|s| row_of(&state, s))
            .filter(|r| matches_query(r, q))
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse((r.signal.message_date, r.signal.id)));
        let limit = q.limit.clamp(1, 1000) as usize;
        let next_cursor = (rows.len() > limit).then(|| {
            let last = &rows[limit - 1].signal;
            SignalCursor {
                message_date: last.message_date,
                id: last.id,
            }
        });
        rows.truncate(limit);
        Ok(SignalPage { rows, next_cursor })
    }

    async fn signal_detail(&self, id: SignalId) -> Result<SignalDetail, StoreError> {
        self.check()?;
        let state = self.lock();
        let s = state
            .signals
            .get(&id)
            .filter(|s| !s.deleted)
            .ok_or(StoreError::NotFound)?;
        Ok(SignalDetail {
            row: row_of(&state, s),
            revisions: state.revisions.get(&id).cloned().unwrap_or_default(),
            status_history: state.history.get(&id).cloned().unwrap_or_default(),
        })
    }

    async fn soft_delete(&self, id: SignalId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.check()?;
        let mut state = self.lock();
        let s = state
            .signals
            .get_mut(&id)
            .filter(|s| !s.deleted)
            .ok_or(StoreError::NotFound)?;
        s.deleted = true;
        s.updated_at = at;
        state.version += 1;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check()
    }
}

/// A signal as the read side shows it: with its channel's label and its effective kind.
fn row_of(state: &MemoryState, s: &Signal) -> SignalRow {
    SignalRow {
        signal: s.clone(),
        channel_label: state.channel_labels.get(&s.channel_id).cloned(),
        kind: s
            .call
            .kind
            .or(state.channel_kinds.get(&s.channel_id).copied())
            .unwrap_or(SignalKind::SwingTrade),
    }
}

fn matches_query(r: &SignalRow, q: &SignalQuery) -> bool {
    let s = &r.signal;
    q.cursor
        .is_none_or(|c| (s.message_date, s.id) < (c.message_date, c.id))
        && q.channel.as_deref().is_none_or(|c| {
            c == s.channel_id.to_string()
                || r.channel_label
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case(c))
        })
        && q.asset.as_ref().is_none_or(|a| a == &s.call.asset)
        && q.kind.is_none_or(|k| k == r.kind)
        && q.status.as_deref().is_none_or(|st| st == s.status.as_str())
        && q.search.as_deref().is_none_or(|t| {
            let t = t.to_lowercase();
            s.call.asset.as_str().to_lowercase().contains(&t)
                || s.raw_message.to_lowercase().contains(&t)
        })
        && q.from.is_none_or(|f| s.message_date >= f)
        && q.to.is_none_or(|t| s.message_date <= t)
}

impl ArchivedDelivery {
    fn to_archived(&self) -> ArchivedMessage {
        ArchivedMessage {
            id: self.id,
            message: self.message.clone(),
            outcome: MessageOutcome::from_name(&self.outcome).unwrap_or(MessageOutcome::Ignored),
            reason: self.reason.clone(),
            parser_version: self.parser_version.clone(),
            received_at: self.received_at,
            deleted_at: self.deleted_at,
        }
    }

    fn key(&self) -> (DateTime<Utc>, i64) {
        (self.message.date, self.id)
    }
}

fn in_window(t: DateTime<Utc>, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> bool {
    from.is_none_or(|f| t >= f) && to.is_none_or(|e| t <= e)
}

#[async_trait]
impl MessageArchive for MemoryStore {
    async fn list_messages(&self, q: &MessageQuery) -> Result<MessagePage, StoreError> {
        self.check()?;
        let state = self.lock();
        let mut rows: Vec<&ArchivedDelivery> = state
            .archive
            .iter()
            .filter(|a| {
                q.cursor.is_none_or(|c| a.key() < (c.message_date, c.id))
                    && (q.outcomes.is_empty() || q.outcomes.iter().any(|o| o.as_str() == a.outcome))
                    && q.channel.is_none_or(|c| c == a.channel_id)
                    && in_window(a.message.date, q.from, q.to)
            })
            .collect();
        rows.sort_by_key(|a| std::cmp::Reverse(a.key()));
        let limit = q.limit.clamp(1, 1000) as usize;
        let next_cursor = (rows.len() > limit).then(|| {
            let (message_date, id) = rows[limit - 1].key();
            MessageCursor { message_date, id }
        });
        rows.truncate(limit);
        Ok(MessagePage {
            rows: rows
                .into_iter()
                .map(ArchivedDelivery::to_archived)
                .collect(),
            next_cursor,
        })
    }

    async fn messages_to_reparse(
        &self,
        selection: &ReparseSelection,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<ArchivedMessage>, StoreError> {
        self.check()?;
        let state = self.lock();
        let mut rows: Vec<&ArchivedDelivery> = state
            .archive
            .iter()
            .filter(|a| {
                after.is_none_or(|c| a.key() > (c.message_date, c.id))
                    && (selection.outcomes.is_empty()
                        || selection.outcomes.iter().any(|o| o.as_str() == a.outcome))
                    && selection.channel.is_none_or(|c| c == a.channel_id)
                    && in_window(a.message.date, selection.from, selection.to)
            })
            .collect();
        rows.sort_by_key(|a| a.key());
        rows.truncate(limit as usize);
        Ok(rows
            .into_iter()
            .map(ArchivedDelivery::to_archived)
            .collect())
    }

    async fn reclassify(&self, changes: &[Reclassification]) -> Result<u64, StoreError> {
        self.check()?;
        let mut state = self.lock();
        let mut n = 0;
        for change in changes {
            if let Some(a) = state.archive.iter_mut().find(|a| a.id == change.id) {
                a.outcome = change.outcome.as_str().to_owned();
                a.reason = change.reason.clone();
                a.parser_version = change.parser_version.clone();
                n += 1;
            }
        }
        state.version += 1;
        Ok(n)
    }
}

#[async_trait]
impl ChannelDirectory for MemoryStore {
    async fn list_channels(&self) -> Result<Vec<ChannelSummary>, StoreError> {
        self.check()?;
        let state = self.lock();
        let mut ids: Vec<ChannelId> = state
            .channel_labels
            .keys()
            .chain(state.channel_kinds.keys())
            .copied()
            .chain(state.signals.values().map(|s| s.channel_id))
            .chain(state.archive.iter().map(|a| a.channel_id))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids.into_iter().map(|id| summary(&state, id)).collect())
    }

    async fn update_channel(
        &self,
        channel_id: ChannelId,
        update: &ChannelUpdate,
        _at: DateTime<Utc>,
    ) -> Result<ChannelSummary, StoreError> {
        self.check()?;
        let mut state = self.lock();
        if update.label.is_some() {
            state.learned_labels.remove(&channel_id);
        }
        match &update.label {
            Some(Some(label)) => {
                state.channel_labels.insert(channel_id, label.clone());
            }
            Some(None) => {
                state.channel_labels.remove(&channel_id);
            }
            None => {}
        }
        match update.default_kind {
            Some(Some(kind)) => {
                state.channel_kinds.insert(channel_id, kind);
            }
            Some(None) => {
                state.channel_kinds.remove(&channel_id);
            }
            None => {}
        }
        state.version += 1;
        Ok(summary(&state, channel_id))
    }
}

fn summary(state: &MemoryState, id: ChannelId) -> ChannelSummary {
    let signals: Vec<&Signal> = state
        .signals
        .values()
        .filter(|s| s.channel_id == id && !s.deleted)
        .collect();
    let mut messages = crate::ports::OutcomeCounts::default();
    let mut last_message_at = None;
    for a in state.archive.iter().filter(|a| a.channel_id == id) {
        match MessageOutcome::from_name(&a.outcome) {
            Some(MessageOutcome::Signal) => messages.signal += 1,
            Some(MessageOutcome::Update) => messages.update += 1,
            Some(MessageOutcome::Ignored) => messages.ignored += 1,
            Some(MessageOutcome::Rejected) => messages.rejected += 1,
            None => {}
        }
        last_message_at = last_message_at.max(Some(a.message.date));
    }
    ChannelSummary {
        channel_id: id,
        label: state.channel_labels.get(&id).cloned(),
        default_kind: state.channel_kinds.get(&id).copied(),
        signal_count: signals.len() as u64,
        last_signal_at: signals.iter().map(|s| s.message_date).max(),
        messages,
        last_message_at,
    }
}

#[async_trait]
impl SignalStatistics for MemoryStore {
    async fn count_by_status(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        self.check()?;
        let state = self.lock();
        Ok(SignalStatus::NAMES
            .into_iter()
            .map(|name| {
                let n = state
                    .signals
                    .values()
                    .filter(|s| !s.deleted && s.status.as_str() == name)
                    .count();
                (name, n as u64)
            })
            .collect())
    }

    async fn signal_stats(&self, q: &StatsQuery) -> Result<SignalStats, StoreError> {
        use chrono::{DurationRound, TimeDelta};
        self.check()?;
        let state = self.lock();
        let signals: Vec<&Signal> = state
            .signals
            .values()
            .filter(|s| {
                !s.deleted
                    && q.channel.is_none_or(|c| c == s.channel_id)
                    && q.asset.as_ref().is_none_or(|a| a == &s.call.asset)
            })
            .filter(|s| {
                let bucket = s
                    .message_date
                    .duration_trunc(TimeDelta::hours(1))
                    .unwrap_or(s.message_date);
                in_window(bucket, q.from, q.to)
            })
            .collect();
        let mut by_hour: HashMap<DateTime<Utc>, u64> = HashMap::new();
        let mut by_asset: HashMap<Ticker, Vec<&Signal>> = HashMap::new();
        let mut by_channel: HashMap<ChannelId, Vec<&Signal>> = HashMap::new();
        for s in &signals {
            let bucket = s
                .message_date
                .duration_trunc(TimeDelta::hours(1))
                .unwrap_or(s.message_date);
            *by_hour.entry(bucket).or_default() += 1;
            by_asset.entry(s.call.asset.clone()).or_default().push(s);
            by_channel.entry(s.channel_id).or_default().push(s);
        }
        let mut by_hour: Vec<HourlyCount> = by_hour
            .into_iter()
            .map(|(bucket, signal_count)| HourlyCount {
                bucket,
                signal_count,
            })
            .collect();
        by_hour.sort_by_key(|h| h.bucket);
        let mut by_asset: Vec<AssetStats> = by_asset
            .into_iter()
            .map(|(asset, group)| AssetStats {
                asset,
                stats: group_stats(&group),
            })
            .collect();
        by_asset.sort_by(|a, b| {
            b.stats
                .signal_count
                .cmp(&a.stats.signal_count)
                .then_with(|| a.asset.cmp(&b.asset))
        });
        by_asset.truncate(q.top_assets.max(1) as usize);
        let mut by_channel: Vec<ChannelStats> = by_channel
            .into_iter()
            .map(|(channel_id, group)| ChannelStats {
                channel_id,
                label: state.channel_labels.get(&channel_id).cloned(),
                stats: group_stats(&group),
            })
            .collect();
        by_channel.sort_by(|a, b| {
            b.stats
                .signal_count
                .cmp(&a.stats.signal_count)
                .then_with(|| a.channel_id.cmp(&b.channel_id))
        });
        Ok(SignalStats {
            total: signals.len() as u64,
            by_hour,
            by_asset,
            by_channel,
        })
    }
}

fn group_stats(group: &[&Signal]) -> GroupStats {
    use rust_decimal::prelude::ToPrimitive;
    let avg = |values: Vec<f64>| {
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let f = |p: crate::model::Price| p.value().to_f64().unwrap_or(0.0);
    let ranges = group
        .iter()
        .filter_map(|s| s.call.entry.map(|e| f(e.max()) - f(e.min())))
        .collect();
    let upsides = group
        .iter()
        .filter_map(|s| {
            let e = s.call.entry?;
            let t = f(s.call.target_final?);
            Some(match s.call.direction {
                crate::model::Direction::Long => (t - f(e.max())) / f(e.max()) * 100.0,
                crate::model::Direction::Short => (f(e.min()) - t) / f(e.min()) * 100.0,
            })
        })
        .collect();
    let downsides = group
        .iter()
        .filter_map(|s| {
            let e = s.call.entry?;
            let stop = f(s.call.stop?);
            Some(match s.call.direction {
                crate::model::Direction::Long => (f(e.min()) - stop) / f(e.min()) * 100.0,
                crate::model::Direction::Short => (stop - f(e.max())) / f(e.max()) * 100.0,
            })
        })
        .collect();
    GroupStats {
        signal_count: group.len() as u64,
        avg_range: avg(ranges),
        avg_upside_pct: avg(upsides),
        avg_downside_pct: avg(downsides),
        last_signal_at: group.iter().map(|s| s.message_date).max(),
    }
}

/// The in-memory feed position of a signal: its change time in µs, then its id (every write is
/// committed at once, in order, so the whole feed is final).
fn position_of(s: &Signal) -> ChangePosition {
    ChangePosition {
        tx: u64::try_from(s.updated_at.timestamp_micros()).unwrap_or(0),
        id: s.id,
    }
}

#[async_trait]
impl SignalChanges for MemoryStore {
    async fn head(&self) -> Result<ChangePosition, StoreError> {
        self.check()?;
        let state = self.lock();
        Ok(state
            .signals
            .values()
            .map(position_of)
            .max()
            .unwrap_or(ChangePosition::START))
    }

    async fn changes_after(
        &self,
        after: ChangePosition,
        limit: u32,
    ) -> Result<Vec<SignalChange>, StoreError> {
        self.check()?;
        let state = self.lock();
        let mut rows: Vec<&Signal> = state
            .signals
            .values()
            .filter(|s| position_of(s) > after)
            .collect();
        rows.sort_by_key(|s| position_of(s));
        rows.truncate(limit as usize);
        Ok(rows
            .into_iter()
            .map(|s| SignalChange {
                position: position_of(s),
                row: row_of(&state, s),
            })
            .collect())
    }
}

/// An in-memory [`SignalCache`] with the same generation semantics as the Redis one.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<(u64, String), Vec<u8>>>,
    generation: AtomicU64,
    down: AtomicBool,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates Redis going away (`true`) or coming back.
    pub fn set_unavailable(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), CacheError> {
        if self.down.load(Ordering::SeqCst) {
            Err(CacheError::Unavailable("memory cache switched off".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl SignalCache for MemoryCache {
    async fn get(&self, key: &str) -> Result<CacheLookup, CacheError> {
        self.check()?;
        let generation = self.generation.load(Ordering::SeqCst);
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        Ok(CacheLookup {
            value: entries.get(&(generation, key.to_owned())).cloned(),
            generation,
        })
    }

    async fn put(
        &self,
        key: &str,
        generation: u64,
        value: &[u8],
        _ttl: Duration,
    ) -> Result<(), CacheError> {
        self.check()?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert((generation, key.to_owned()), value.to_vec());
        Ok(())
    }

    async fn invalidate_all(&self) -> Result<(), CacheError> {
        self.check()?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.check()
    }
}

/// An in-memory [`SignalEvents`]: every published event is kept and sent to live subscribers.
#[derive(Debug, Default)]
pub struct MemoryEvents {
    published: Mutex<Vec<SignalEvent>>,
    subscribers: Mutex<Vec<UnboundedSender<SignalEvent>>>,
    down: AtomicBool,
}

impl MemoryEvents {
    /// No events yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything published so far.
    pub fn published(&self) -> Vec<SignalEvent> {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Simulates Redis going away (`true`) or coming back.
    pub fn set_unavailable(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

#[async_trait]
impl SignalEvents for MemoryEvents {
    async fn publish(&self, event: &SignalEvent) -> Result<(), CacheError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(CacheError::Unavailable("memory events switched off".into()));
        }
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|s| s.unbounded_send(event.clone()).is_ok());
        Ok(())
    }

    async fn subscribe(&self) -> Result<EventStream, CacheError> {
        let (tx, rx) = unbounded();
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        Ok(Box::pin(rx))
    }
}

/// A clock that says what it is told.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    /// Starts at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(now))
    }

    /// Moves time forward.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
