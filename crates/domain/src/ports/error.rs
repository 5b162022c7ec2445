//! The errors every port returns: domain errors, never a driver's type.

/// Errors of the persistence ports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A write collided with existing data (a unique key, a concurrent change).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The addressed record does not exist.
    #[error("not found")]
    NotFound,
    /// The database (or PgBouncer) cannot be reached or timed out: retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the detail is for logs, not for clients.
    #[error("store failure: {0}")]
    Internal(String),
}

/// Errors of the cache and event ports. Both are best-effort: callers degrade, never fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// Redis cannot be reached or timed out.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
}
