//! The ports: what the domain needs from the outside world, as small documented traits.
//!
//! Adapters (`adapters-postgres`, `adapters-redis`, [`crate::memory`]) implement them; the use
//! cases in [`crate::services`] depend on nothing else. Errors are domain errors: no driver type
//! ever crosses a port.

mod archive;
mod cache;
mod changes;
mod channels;
mod clock;
mod error;
mod events;
mod feed;
mod queries;
mod reception;
mod stats;
mod store;

pub use archive::*;
pub use cache::*;
pub use changes::*;
pub use channels::*;
pub use clock::*;
pub use error::*;
pub use events::*;
pub use feed::*;
pub use queries::*;
pub use reception::SignalReceptions;
pub use stats::*;
pub use store::*;
