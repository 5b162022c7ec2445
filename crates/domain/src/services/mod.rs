//! Use cases over the ports.

mod admission;
mod ingest;
mod live;
mod pull;
mod query;
mod receipt;
mod reparse;
mod reparse_diff;

pub use admission::*;
pub use ingest::*;
pub use live::*;
pub use pull::*;
pub use query::*;
pub use receipt::*;
pub use reparse::*;
pub use reparse_diff::{FieldChange, ReparseChange};
