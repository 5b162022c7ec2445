//! Publish/subscribe of signal changes to live subscribers.

use std::pin::Pin;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_core::Stream;
use serde::{Deserialize, Serialize};

use super::CacheError;
use crate::model::{ChannelId, SignalId, SignalStatus, Ticker, TraceContext};

/// What happened to a signal, as published to live subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalEventKind {
    /// A new signal.
    Created,
    /// An edit produced a new revision.
    Revised,
    /// Its status changed (update message, deletion, operator).
    StatusChanged,
    /// An operator soft-deleted it: it no longer appears in lists.
    Deleted,
}

/// A change of a signal, published after commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalEvent {
    /// What happened.
    pub kind: SignalEventKind,
    /// Which signal.
    pub signal_id: SignalId,
    /// Its channel.
    pub channel_id: ChannelId,
    /// Its asset.
    pub asset: Ticker,
    /// Its status after the change.
    pub status: SignalStatus,
    /// When the change was committed.
    pub at: DateTime<Utc>,
    /// The trace of the request that caused it, so subscribers continue it (a malformed one
    /// read from the broker is dropped, the event kept).
    #[serde(default, deserialize_with = "TraceContext::deserialize_lenient")]
    pub traceparent: Option<TraceContext>,
}

/// A stream of events; ends when the subscription is lost for good.
pub type EventStream = Pin<Box<dyn Stream<Item = SignalEvent> + Send>>;

/// Publish/subscribe of signal changes.
#[async_trait]
pub trait SignalEvents: Send + Sync {
    /// Publishes one event. Best-effort: MUST return `Unavailable` rather than block when the
    /// broker is down.
    async fn publish(&self, event: &SignalEvent) -> Result<(), CacheError>;

    /// Publishes `events` in order and returns how many could not be published. Adapters
    /// override it to send them in one round trip; the default publishes one by one.
    async fn publish_all(&self, events: &[SignalEvent]) -> usize {
        let mut failed = 0;
        for event in events {
            if self.publish(event).await.is_err() {
                failed += 1;
            }
        }
        failed
    }

    /// Subscribes to every event published from now on. The stream survives broker restarts
    /// (events published while disconnected are lost; readers reconcile from the store).
    async fn subscribe(&self) -> Result<EventStream, CacheError>;
}
