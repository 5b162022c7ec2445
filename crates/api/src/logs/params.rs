//! The parameters of `/logs`.

use serde::Deserialize;
use service_kit::Problem;
use utoipa::IntoParams;
use utoipa::openapi::{RefOr, Schema};

use crate::common::params::{DEFAULT_LIMIT, given, limit_schema, one_of, parse_limit, string_enum};

const LEVEL_VALUES: [&str; 5] = ["debug", "info", "warn", "warning", "error"];

fn level_schema() -> RefOr<Schema> {
    string_enum(&LEVEL_VALUES, "warn")
}

/// Parameters of `/logs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// Entries, 1–1000 (default 100), newest first.
    #[param(schema_with = limit_schema)]
    pub limit: Option<String>,
    /// Lowest level shown (`warn` shows warnings and errors).
    #[param(schema_with = level_schema)]
    pub level: Option<String>,
}

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Ignored messages.
    Debug,
    /// Signals and updates.
    Info,
    /// Rejected messages.
    Warn,
    /// Failures.
    Error,
}

impl Level {
    /// The name shown in log entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl LogParams {
    /// Validates: the number of entries and the lowest level.
    pub fn validate(&self) -> Result<(u32, Level), Problem> {
        let limit = parse_limit(self.limit.as_deref(), DEFAULT_LIMIT)?;
        let level = match given(&self.level).map(|l| one_of("level", l, &LEVEL_VALUES)) {
            None => Level::Debug,
            Some(l) => match l? {
                "debug" => Level::Debug,
                "info" => Level::Info,
                "error" => Level::Error,
                _ => Level::Warn,
            },
        };
        Ok((limit, level))
    }
}
