//! [`SignalReceptions`] over the in-memory store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::model::SignalId;
use crate::ports::{SignalReceptions, StoreError};

#[async_trait]
impl SignalReceptions for MemoryStore {
    async fn signal_received_at(&self, at: DateTime<Utc>) -> Result<SignalId, StoreError> {
        self.check()?;
        self.snapshot()
            .signals
            .values()
            .find(|s| !s.deleted && s.created_at == at)
            .map(|s| s.id)
            .ok_or(StoreError::NotFound)
    }
}
