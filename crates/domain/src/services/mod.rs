//! Use cases over the ports.

mod ingest;
mod pull;
mod query;
mod receipt;
mod reparse;

pub use ingest::*;
pub use pull::*;
pub use query::*;
pub use receipt::*;
pub use reparse::*;
