//! PostgreSQL/TimescaleDB persistence for TP-Capital: sea-orm (over sqlx) implementations of the
//! domain's [`SignalStore`](domain::ports::SignalStore),
//! [`StoreTransaction`](domain::ports::StoreTransaction) and
//! [`SignalQueries`](domain::ports::SignalQueries), built to run through PgBouncer in
//! transaction mode. Errors are the domain's [`StoreError`](domain::ports::StoreError); the one
//! sqlx type in this crate's public API is the query the batch inserts' arrays bind to
//! ([`SignalArrays::bind`], [`MessageArrays::bind`]), for the legacy importer's transaction.

mod archive;
mod call;
mod changes;
mod channels;
mod edition;
mod error;
mod list;
mod maintenance;
mod message_insert;
mod newest;
mod read_pool;
mod reception;
mod rollups;
mod rows;
mod search_indexes;
mod signal_insert;
mod signals;
mod stats;
mod store;
mod transaction;

pub use call::{CallColumns, direction_name};
pub use edition::DatabaseEdition;
pub use maintenance::{
    AggregateMode, MaintenanceReport, Removed, Retention, RetentionMode, StoreCapabilities,
};
pub use message_insert::{
    ArchiveAnswer, DeliveryKey, MessageArrays, MessageInsert, MessageMetadata, first_deliveries,
    insert_messages_sql,
};
pub use signal_insert::{
    MessageColumns, OnLegacyConflict, SignalArrays, SignalInsert, insert_signals_sql,
};
pub use store::{PgStore, PoolOptions, PoolStats};
