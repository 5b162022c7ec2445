//! `POST /sync-messages`: the dashboard's "Checar Mensagens". The api holds no gateway secret: it
//! asks the ingest service's internal `/gateway/sync` ([`client`]), which asks the gateway to fetch
//! recent history and drains it through the running pull consumer. Without an ingest URL the
//! route answers a 503 problem whose `message` says what to configure.

pub mod client;
pub mod dto;
pub mod handlers;

pub use client::IngestSync;
