//! `/messages` (and the legacy `/forwarded-messages`): the archive of every delivery; its
//! re-parse.

pub mod dto;
pub mod handlers;
pub mod params;
