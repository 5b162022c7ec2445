//! PostgreSQL/TimescaleDB persistence for TP-Capital: sea-orm (over sqlx) implementations of the
//! domain's [`SignalStore`](domain::ports::SignalStore),
//! [`StoreTransaction`](domain::ports::StoreTransaction) and
//! [`SignalQueries`](domain::ports::SignalQueries), built to run through PgBouncer in
//! transaction mode. No sea-orm or sqlx type appears in this crate's public API: errors are the
//! domain's [`StoreError`](domain::ports::StoreError).

mod changes;
mod edition;
mod error;
mod list;
mod maintenance;
mod newest;
mod read;
mod reads;
mod reception;
mod rollups;
mod rows;
mod stats;
mod status_counts;
mod store;
mod write;

pub use edition::DatabaseEdition;
pub use maintenance::{
    AggregateMode, MaintenanceReport, Removed, Retention, RetentionMode, StoreCapabilities,
};
pub use store::{PgStore, PoolOptions, PoolStats};
