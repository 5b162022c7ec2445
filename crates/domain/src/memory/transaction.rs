//! The in-memory transaction: works on a snapshot, commits if nothing else committed meanwhile.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ArchivedDelivery, MemoryState, MemoryStore};
use crate::model::{
    ChannelId, MessageId, Signal, SignalId, SignalRevision, SignalStatus, StatusChange, Ticker,
};
use crate::ports::{
    ArchiveEntry, BatchStats, DateWindow, NewSignal, SignalStore, StoreError, StoreTransaction,
};

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
        dated: Option<DateWindow>,
    ) -> Result<Vec<Signal>, StoreError> {
        self.store.check()?;
        Ok(self
            .work
            .signals
            .values()
            .filter(|s| keys.contains(&(s.channel_id, s.message_id)))
            .filter(|s| dated.is_none_or(|w| w.contains(s.message_date)))
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
        if self.store.take_conflict() {
            return Err(StoreError::Conflict(
                "a concurrent transaction committed first (simulated)".into(),
            ));
        }
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
