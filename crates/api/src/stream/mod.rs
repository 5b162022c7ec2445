//! `/signals/stream`: Server-Sent Events of new and changed signals ([`hub`] fans them out,
//! [`follow`] reads the change feed, [`frames`] renders them, [`handlers`] serves them).

pub mod dto;
pub mod follow;
pub mod frames;
pub mod handlers;
pub mod hub;

pub use frames::*;
pub use hub::*;
