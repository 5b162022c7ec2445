//! The database schema of TP-Capital as versioned sea-orm migrations, and the runner the
//! `tp-capital-migrate` binary (and tests) use to apply them.
//!
//! Every object is schema-qualified (`signals`, `forwarded_messages`, `metrics`); nothing relies
//! on `search_path`. What the server offers (TimescaleDB, its license) is detected once by the
//! first migration and recorded in `metrics.capabilities`, so later migrations and the service
//! agree on the mode: hypertables when TimescaleDB is installed, a continuous aggregate and
//! policies only under the Timescale license, else a plain materialized view and retention run
//! by the service.
//!
//! The import of the legacy data lives in `crates/legacy-import`; the binary's `import-legacy`
//! and `rollback-import` commands call it.

mod adopt;
mod capabilities;
mod edition;
mod m20251101_000001_foundation;
mod m20251101_000002_signals;
mod m20251101_000003_message_archive;
mod m20251101_000004_metrics;
mod m20251102_000005_revision_time;
mod m20251104_000007_signal_changes;
mod m20251105_000008_legacy_import;
mod m20251106_000009_delivery_keys;
mod m20251128_000010_positive_prices;
mod m20251205_000011_search_index_per_week;
mod m20251206_000012_channel_label_learned;
mod m20251207_000013_exact_rollups;
mod m20251209_000013_change_feed;
mod m20251214_000014_rollup_newest_index;
mod m20251215_000015_rollup_per_statement;
mod m20251216_000016_no_updated_index;
mod m20251216_000017_status_totals;
mod m20251217_000018_value_domains;
mod plans;
mod runner;

pub use capabilities::{AggregateMode, Capabilities, RetentionMode};
pub use edition::{RetentionApplied, ServerEdition, server_report};
pub use runner::{MigrateError, MigrationState, Migrator, down, redact_url, status, up};
