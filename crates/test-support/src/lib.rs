//! Support code for tests only (a dev-dependency, never linked into a binary).
//!
//! How a test gets its app and database (zero2prod's `spawn_app`): a test of the api or the
//! ingest over HTTP calls [`spawn::spawn_services`] (api and ingest, through
//! [`api_client::spawn`]) or [`spawn::spawn_ingest`]; both serve the app of the binaries'
//! own composition (`api::wiring`, `ingest::wiring`) in the test's process, on a free port,
//! over a database of the test's own ([`db::migrated`]: a `CREATE DATABASE … TEMPLATE` copy
//! of one migrated template per migration set, ~0.25 s) reached directly, and the stack's
//! Redis under a namespace of the test's own. A test of an adapter takes [`db::migrated`]
//! alone. What needs the real binaries or the whole stack (faults, restarts, PgBouncer,
//! the gateway consumer) uses the stack's running services ([`api_client::stack`],
//! [`ingest_client::ingest`]) in `tests/tests/`, with random channel ids, or the binaries on
//! a database of their own ([`app::TestApp`]).
//!
//! Also: a fake of the existing Telegram gateway that behaves as `shared/GATEWAY.md` says —
//! its REST API with ids as strings, duplicate rows, message ids repeating across channels, an
//! acknowledgement without a channel filter, 429 bursts, 500s, slow answers, a restart that
//! loses its in-memory acknowledgements — and its push sender with the real retry schedule; the
//! real binaries started as test servers ([`process`]); the stack's variables, the skip rule
//! and component restarts ([`stack`]); the messages tests ingest ([`fixtures`]).

pub mod api_client;
pub mod app;
pub mod db;
pub mod fixtures;
pub mod gateway;
pub mod ingest_client;
pub mod process;
pub mod serve;
pub mod spawn;
pub mod stack;

pub use gateway::{FakeGateway, GatewayMessage, Row};
