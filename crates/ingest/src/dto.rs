//! The wire format of the ingest API: the legacy gateway's payload, as lenient as the gateway
//! needs (ids as numbers or strings, dates as ISO 8601 or epoch seconds/milliseconds, unknown
//! fields kept), converted into domain [`Message`]s by `try_into_domain`, and the receipts sent
//! back.

mod message;
mod request;
mod response;
mod scalars;
#[cfg(test)]
mod tests;

pub use message::*;
pub use request::*;
pub use response::*;
pub use scalars::*;

/// Most messages one batch may carry.
pub const MAX_BATCH: usize = 1_000;
/// Most message ids one deletion notice may carry.
pub const MAX_DELETIONS: usize = 10_000;
