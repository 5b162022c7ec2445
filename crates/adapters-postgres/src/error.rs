//! Turning driver errors into the domain's [`StoreError`]: the one place that knows SQLSTATEs.

use domain::ports::StoreError;
use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr};

/// Maps a sea-orm error; `what` says which operation failed, for the logs.
pub(crate) fn map_db_err(what: &str, err: DbErr) -> StoreError {
    match &err {
        DbErr::ConnectionAcquire(e) => StoreError::Unavailable(format!("{what}: {e}")),
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => map_sqlx(what, e),
        DbErr::Conn(_) => StoreError::Unavailable(format!("{what}: {err}")),
        DbErr::RecordNotFound(_) => StoreError::NotFound,
        _ => StoreError::Internal(format!("{what}: {err}")),
    }
}

/// Maps a sqlx error (the ingest's transaction runs on sqlx directly).
pub(crate) fn map_sqlx(what: &str, err: &sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => StoreError::Unavailable(format!("{what}: {err}")),
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            let detail = format!("{what}: {} (SQLSTATE {code})", db.message());
            if dropped_concurrently(&code, db.message()) {
                return StoreError::Unavailable(detail);
            }
            map_sqlstate(&code, detail)
        }
        _ => StoreError::Internal(format!("{what}: {err}")),
    }
}

/// The connection itself failed, not the statement (I/O, protocol, SQLSTATE 08 connection
/// exception or 57P0x shutdown): a read is worth one more try on a new connection.
pub(crate) fn lost_connection(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// SQLSTATE classes: 08 connection exception, 57P0x the server is shutting down or starting,
/// 53 insufficient resources, 57014 a statement timeout, 40 a serialisation failure or deadlock
/// (the transaction is void, a retry will do), 23505 a unique violation.
fn map_sqlstate(code: &str, detail: String) -> StoreError {
    match code {
        "23505" => StoreError::Conflict(detail),
        c if c.starts_with("40") => StoreError::Conflict(detail),
        c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") => {
            StoreError::Unavailable(detail)
        }
        "57014" => StoreError::Unavailable(detail),
        _ => StoreError::Internal(detail),
    }
}

/// A chunk dropped by retention (`drop_chunks`) while a statement was about to use it: the
/// server reports an internal error, but the statement only lost a race and a retry will do
/// (it creates the chunk again). Seen when old-dated messages arrive while the archive's
/// retention runs.
fn dropped_concurrently(code: &str, message: &str) -> bool {
    code == "XX000" && message.starts_with("could not open relation with OID")
}

/// A stored row the domain refuses (a broken invariant): the detail names the row.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored data violates a domain invariant: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_domain_errors() {
        let m = |c: &str| map_sqlstate(c, String::new());
        assert!(matches!(m("23505"), StoreError::Conflict(_)));
        assert!(matches!(m("40001"), StoreError::Conflict(_)));
        assert!(matches!(m("40P01"), StoreError::Conflict(_)));
        assert!(matches!(m("08006"), StoreError::Unavailable(_)));
        assert!(matches!(m("08P01"), StoreError::Unavailable(_)));
        assert!(matches!(m("57P01"), StoreError::Unavailable(_)));
        assert!(matches!(m("57P03"), StoreError::Unavailable(_)));
        assert!(matches!(m("53300"), StoreError::Unavailable(_)));
        assert!(matches!(m("57014"), StoreError::Unavailable(_)));
        assert!(matches!(m("42P01"), StoreError::Internal(_)));
        assert!(matches!(m("23514"), StoreError::Internal(_)));
    }

    #[test]
    fn a_chunk_dropped_under_a_statement_is_transient() {
        assert!(dropped_concurrently(
            "XX000",
            "could not open relation with OID 17419"
        ));
        assert!(!dropped_concurrently("XX000", "unexpected chunk"));
        assert!(!dropped_concurrently(
            "42P01",
            "could not open relation with OID 17419"
        ));
    }
}
