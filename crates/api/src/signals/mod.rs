//! `/signals`: the dashboard's list, one signal with its history, its soft delete.

pub mod dto;
pub mod handlers;
pub mod params;
