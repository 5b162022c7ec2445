//! `/signals/stream`: Server-Sent Events of new and changed signals ([`hub`] fans them out,
//! [`handlers`] serves them).

pub mod dto;
pub mod handlers;
pub mod hub;

pub use hub::*;
