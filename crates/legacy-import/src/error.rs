//! Why an import or a rollback stopped, and the exit code each reason maps to.

use uuid::Uuid;

/// A failure of `import-legacy` or `rollback-import`.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// A database could not be reached or refused the login.
    #[error("cannot connect to {url}: {detail}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// The driver's message.
        detail: String,
    },
    /// The pre-flight checks found a blocking problem (the summary was printed).
    #[error("pre-flight: NO-GO ({0})")]
    NoGo(String),
    /// A query failed.
    #[error("{context}: {detail}")]
    Database {
        /// What was being done.
        context: String,
        /// The server's or driver's message.
        detail: String,
    },
    /// Writing or checking the backup failed.
    #[error("backup: {0}")]
    Backup(String),
    /// Writing the report failed.
    #[error("report: {0}")]
    Report(String),
    /// The copy finished but both sides do not agree; the import stays `failed`.
    #[error("validation failed: {0}")]
    ValidationFailed(String),
    /// Another import or rollback is running against this target.
    #[error("another import or rollback holds the import lock (backend pid {0}); wait for it")]
    Busy(i32),
    /// No such import in the target database.
    #[error("no import {0} in the target database")]
    UnknownImport(Uuid),
}

impl LegacyError {
    /// The process exit code: 3 when it stopped before writing anything (pre-flight NO-GO, an
    /// unreachable database, missing privileges), 4 for a failed validation, 1 otherwise (the
    /// run stopped after it started writing: run it again to resume).
    pub fn exit_code(&self) -> u8 {
        match self {
            LegacyError::NoGo(_) => 3,
            LegacyError::ValidationFailed(_) => 4,
            _ => 1,
        }
    }
}

/// Attaches what was being done to a driver error.
pub(crate) trait SqlContext<T> {
    /// Maps the error into [`LegacyError::Database`].
    fn ctx(self, context: &str) -> Result<T, LegacyError>;
}

impl<T> SqlContext<T> for Result<T, sea_orm::sqlx::Error> {
    fn ctx(self, context: &str) -> Result<T, LegacyError> {
        self.map_err(|e| LegacyError::Database {
            context: context.to_owned(),
            detail: match e {
                sea_orm::sqlx::Error::Database(db) => match db.code() {
                    Some(code) => format!("{} (SQLSTATE {code})", db.message()),
                    None => db.message().to_owned(),
                },
                other => other.to_string(),
            },
        })
    }
}
