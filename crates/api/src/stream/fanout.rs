//! `/signals/stream`: Server-Sent Events of new and changed signals.
//!
//! One [`LiveFanout`] per process follows the store's change feed ([`super::follow`]), renders
//! each change once and fans the frame out to every connected client over a broadcast channel.
//! Each frame's id is the change's feed position, so a client reconnecting with
//! `Last-Event-ID` replays exactly what it missed from the database (bounded; else one `reset`).
//! The fan-out caps clients in total and per client (API key or address).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::broadcast;

use super::frames::Frame;
use crate::common::slots::{ClientId, ClientSlots, Slot};

/// Interval of the keep-alive comments.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Frames buffered per client before it counts as lagging (and is told to reload).
const CHANNEL_CAPACITY: usize = 1024;
/// Concurrent streams one client may hold by default.
pub const DEFAULT_STREAMS_PER_CLIENT: usize = 8;

/// Why a client may not join the fan-out now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefused {
    /// This client holds as many live streams as it may (a 429 for the HTTP layer).
    ClientShare,
    /// The fan-out has as many subscribers as it may (a 503).
    Full,
}

/// The live fan-out of signal changes to SSE clients.
#[derive(Clone)]
pub struct LiveFanout {
    pub(super) sender: broadcast::Sender<Frame>,
    clients: Arc<AtomicUsize>,
    max_clients: usize,
    per_client: ClientSlots,
}

impl std::fmt::Debug for LiveFanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFanout")
            .field("clients", &self.clients.load(Ordering::Relaxed))
            .field("max_clients", &self.max_clients)
            .finish()
    }
}

/// Counts a connected client (in total and for its client id) for as long as it lives.
#[derive(Debug)]
pub struct ClientGuard {
    clients: Arc<AtomicUsize>,
    _slot: Option<Slot>,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let now = self
            .clients
            .fetch_sub(1, Ordering::Relaxed)
            .saturating_sub(1);
        metrics::gauge!("tpcapital_sse_clients").set(now as f64);
    }
}

impl LiveFanout {
    /// A fan-out accepting at most `max_clients` subscribers, [`DEFAULT_STREAMS_PER_CLIENT`] each.
    pub fn new(max_clients: usize) -> Self {
        Self::with_per_client(max_clients, DEFAULT_STREAMS_PER_CLIENT)
    }

    /// A fan-out accepting at most `max_clients` subscribers, `per_client` per client.
    pub fn with_per_client(max_clients: usize, per_client: usize) -> Self {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self {
            sender,
            clients: Arc::new(AtomicUsize::new(0)),
            max_clients: max_clients.max(1),
            per_client: ClientSlots::new(per_client),
        }
    }

    /// Registers a client: its receiver (subscribed now, before any replay read) and the guard
    /// counting it; `client` `None` counts only in the total. Refused when the fan-out is full or
    /// this client holds its share.
    pub fn join(
        &self,
        client: Option<ClientId>,
    ) -> Result<(broadcast::Receiver<Frame>, ClientGuard), JoinRefused> {
        let slot = match client {
            Some(client) => Some(
                self.per_client
                    .acquire(client)
                    .ok_or(JoinRefused::ClientShare)?,
            ),
            None => None,
        };
        let now = self.clients.fetch_add(1, Ordering::Relaxed) + 1;
        let guard = ClientGuard {
            clients: self.clients.clone(),
            _slot: slot,
        };
        if now > self.max_clients {
            return Err(JoinRefused::Full);
        }
        metrics::gauge!("tpcapital_sse_clients").set(now as f64);
        Ok((self.sender.subscribe(), guard))
    }

    /// Connected clients.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }
}
