//! `format` of `/signals/export` (the other filters are the list's).

use serde::Deserialize;
use service_kit::Problem;
use utoipa::IntoParams;
use utoipa::openapi::{RefOr, Schema};

use crate::common::params::{given, one_of, string_enum};

const FORMAT_VALUES: [&str; 2] = ["csv", "json"];

fn format_schema() -> RefOr<Schema> {
    string_enum(&FORMAT_VALUES, "csv")
}

/// `format` of `/signals/export`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportFormatParam {
    /// `csv` (default) or `json` (one JSON array).
    #[param(schema_with = format_schema)]
    pub format: Option<String>,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// A JSON array of signal rows.
    Json,
}

impl ExportFormatParam {
    /// Validates the format.
    pub fn validate(&self) -> Result<ExportFormat, Problem> {
        match given(&self.format)
            .map(|f| one_of("format", f, &FORMAT_VALUES))
            .transpose()?
        {
            Some("json") => Ok(ExportFormat::Json),
            _ => Ok(ExportFormat::Csv),
        }
    }
}
