//! An in-memory [`SignalEvents`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use futures_channel::mpsc::{UnboundedSender, unbounded};

use crate::ports::{CacheError, EventStream, SignalEvent, SignalEvents};

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
