//! Support code for tests only (a dev-dependency, never linked into a binary): a fake of the
//! existing Telegram gateway that behaves as `shared/GATEWAY.md` says — its REST API with ids as
//! strings, duplicate rows, message ids repeating across channels, an acknowledgement without a
//! channel filter, 429 bursts, 500s, slow answers, a restart that loses its in-memory
//! acknowledgements — and its push sender with the real retry schedule; the real binaries
//! started as test servers ([`process`]); and the running stack: its variables, the skip rule
//! and component restarts ([`stack`]); the messages tests ingest ([`fixtures`]); a database of
//! a test's own ([`db`]) and the binaries started on it ([`app`]).

pub mod app;
pub mod db;
pub mod fixtures;
pub mod gateway;
pub mod ingest_client;
pub mod process;
pub mod serve;
pub mod stack;

pub use gateway::{FakeGateway, GatewayMessage, Row};
