//! Finding a signal by the time it was received (`ingested_at` on the wire), the key the legacy
//! API's `DELETE /signals` used. Receptions are unique per signal, to the microsecond.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::model::SignalId;

/// Signals by reception time.
#[async_trait]
pub trait SignalReceptions: Send + Sync {
    /// The live (not deleted) signal received at exactly `at` (microseconds). MUST return
    /// `NotFound` when there is none, `Unavailable` when the store cannot be reached.
    async fn signal_received_at(&self, at: DateTime<Utc>) -> Result<SignalId, StoreError>;
}
