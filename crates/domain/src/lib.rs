//! TP-Capital's pure core.
//!
//! Everything here is free of I/O and infrastructure: the trading vocabulary ([`model`]), the
//! message parser ([`parser`]), the ports the adapters implement ([`ports`]), the use cases over
//! those ports ([`services`]) and in-memory adapters for unit tests ([`memory`]). The dependency
//! direction is the architecture: adapters and binaries depend on this crate, never the reverse.

pub mod memory;
pub mod model;
pub mod parser;
pub mod ports;
pub mod services;

pub use model::*;
pub use parser::{PARSER_VERSION, parse};
