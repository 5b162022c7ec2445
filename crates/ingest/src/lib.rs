//! The ingest service as a library: its configuration, wire format, HTTP surface and the
//! ingest use case wrapped for the network. `main.rs` is only the composition root; the
//! in-process tests build the same app over the in-memory adapters.

pub mod config;
pub mod dto;
pub mod gateway;
pub mod http;
pub mod ingestion;
pub mod limits;
pub mod maintenance;
pub mod wiring;
