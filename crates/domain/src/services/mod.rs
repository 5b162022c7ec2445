//! Use cases over the ports.

mod ingest;
mod query;
mod reparse;

pub use ingest::*;
pub use query::*;
pub use reparse::*;
