//! [`ChannelDirectory`] over the in-memory store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryState, MemoryStore};
use crate::model::{ChannelId, Signal};
use crate::ports::{ChannelDirectory, ChannelSummary, ChannelUpdate, MessageClass, StoreError};

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
        match MessageClass::from_name(&a.outcome) {
            Some(MessageClass::Signal) => messages.signal += 1,
            Some(MessageClass::Update) => messages.update += 1,
            Some(MessageClass::Ignored) => messages.ignored += 1,
            Some(MessageClass::Rejected) => messages.rejected += 1,
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
