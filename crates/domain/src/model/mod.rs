//! The trading vocabulary: newtypes that cannot hold an invalid value.

mod message;
mod outcome;
mod price;
mod signal;
mod ticker;

pub use message::*;
pub use outcome::*;
pub use price::*;
pub use signal::*;
pub use ticker::*;
