//! `/channels`: each channel's settings and activity, and their change.

pub mod dto;
pub mod handlers;
