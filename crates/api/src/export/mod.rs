//! `/signals/export`: the list's filters, streamed as CSV or JSON.

pub mod handlers;
pub mod params;
