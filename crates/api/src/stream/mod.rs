//! `/signals/stream`: Server-Sent Events of new and changed signals ([`fanout`] fans them out,
//! [`follow`] reads the change feed, [`frames`] renders them, [`handlers`] serves them).

pub mod dto;
pub mod fanout;
pub mod follow;
pub mod frames;
pub mod handlers;

pub use fanout::*;
pub use frames::*;
