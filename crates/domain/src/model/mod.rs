//! The trading vocabulary: newtypes that cannot hold an invalid value.

mod expiry;
mod message;
mod nul;
mod outcome;
mod price;
mod signal;
mod ticker;
mod trace;

pub use expiry::*;
pub use message::*;
pub use nul::*;
pub use outcome::*;
pub use price::*;
pub use signal::*;
pub use ticker::*;
pub use trace::*;
