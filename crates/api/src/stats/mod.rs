//! `/signals/stats`: signal counts per hour, asset and channel.

pub mod dto;
pub mod handlers;
pub mod params;
