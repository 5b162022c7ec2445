//! `/logs`: the ingestion log, derived from the message archive.

pub mod dto;
pub mod handlers;
pub mod params;
