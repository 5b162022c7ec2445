//! What every handler shares: the ports, the services over them and the api's settings. Built
//! once by the composition root (or by a test over the in-memory adapters).

use std::sync::Arc;

use domain::ports::{
    ChannelDirectory, Clock, MessageArchive, SignalCache, SignalChanges, SignalEvents,
    SignalQueries, SignalReceptions, SignalStatistics,
};
use domain::services::{CachedReads, ReparseService};
use service_kit::SecretList;

use crate::stream::LiveFanout;

/// The adapters the api reads and writes through.
#[derive(Clone)]
pub struct Ports {
    /// The signal list and details.
    pub queries: Arc<dyn SignalQueries>,
    /// The message archive.
    pub archive: Arc<dyn MessageArchive>,
    /// Channels.
    pub channels: Arc<dyn ChannelDirectory>,
    /// Statistics.
    pub stats: Arc<dyn SignalStatistics>,
    /// The change feed (SSE catch-up).
    pub changes: Arc<dyn SignalChanges>,
    /// The cache.
    pub cache: Arc<dyn SignalCache>,
    /// Pub/sub of signal changes.
    pub events: Arc<dyn SignalEvents>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Signals by reception time (the legacy `DELETE /signals`).
    pub receptions: Arc<dyn SignalReceptions>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ports").finish_non_exhaustive()
    }
}

/// Who may call the admin routes.
#[derive(Debug, Clone)]
pub struct AdminKeys {
    /// Accepted `X-API-Key` values.
    pub keys: SecretList,
    /// Without keys in dev mode, admin routes are open.
    pub dev_mode: bool,
}

/// The application state of every handler (`web::Data<ApiState>`).
pub struct ApiState {
    /// The adapters.
    pub ports: Ports,
    /// Cache-aside reads of `/signals`, `/signals/stats` and `/channels`.
    pub reads: CachedReads,
    /// Concurrent identical reads share one lookup and one load.
    pub flights: crate::cache::Coalescer,
    /// Re-parse of the archive.
    pub reparse: ReparseService,
    /// Admin credentials.
    pub admin: AdminKeys,
    /// Live fan-out of signal events to SSE clients.
    pub fanout: LiveFanout,
    /// Concurrent exports per client.
    pub export_slots: crate::common::slots::ClientSlots,
    /// The desk's time zone: date-only `from`/`to` are its days.
    pub desk_zone: chrono_tz::Tz,
    /// The ingest's sync endpoint (`/sync-messages`); `None` = not configured (503).
    pub sync: Option<crate::sync::IngestSync>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}
