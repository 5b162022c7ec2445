//! The legacy service's routes that an older dashboard build (or a fork) still calls:
//! `GET /healthz`, `GET /telegram-channels` (a view of `/channels` with the legacy field names) and
//! `DELETE /signals` with `{ingestedAt}`. Served as thin views over the current use cases and
//! marked deprecated in the OpenAPI document ([`DEPRECATED`]).

pub mod dto;
pub mod handlers;

/// The deprecated operations: path and method (lower case).
pub const DEPRECATED: &[(&str, &str)] = &[
    ("/healthz", "get"),
    ("/telegram-channels", "get"),
    ("/signals", "delete"),
];
