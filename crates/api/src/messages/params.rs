//! The filters of `/messages` and `/forwarded-messages`.

use chrono_tz::Tz;
use domain::ports::{MessageClass, MessageQuery};
use serde::Deserialize;
use service_kit::Problem;
use utoipa::IntoParams;
use utoipa::openapi::{RefOr, Schema};

use crate::common::instant::{instant_schema, parse_range};
use crate::common::params::{
    DEFAULT_LIMIT, channel_id_schema, cursor_schema, given, limit_schema, one_of, parse_channel_id,
    parse_cursor, parse_limit, string_enum,
};
use crate::cursor;

const OUTCOME_VALUES: [&str; 4] = ["signal", "update", "ignored", "rejected"];

fn outcome_schema() -> RefOr<Schema> {
    string_enum(&OUTCOME_VALUES, "rejected")
}

/// Filters of `/messages` and `/forwarded-messages`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageParams {
    /// Page size, 1–1000 (default 100).
    #[param(schema_with = limit_schema)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = cursor_schema)]
    pub cursor: Option<String>,
    /// Parse outcome.
    #[param(schema_with = outcome_schema)]
    pub outcome: Option<String>,
    /// Channel id.
    #[param(schema_with = channel_id_schema)]
    pub channel: Option<String>,
    /// Channel id (the legacy dashboard's name for `channel`).
    #[serde(rename = "channelId")]
    #[param(rename = "channelId", schema_with = channel_id_schema)]
    pub channel_id: Option<String>,
    /// Message time at or after: ISO date (a day of the desk's time zone, America/Sao_Paulo by
    /// default), ISO date-time with offset, or epoch milliseconds.
    #[param(schema_with = instant_schema)]
    pub from: Option<String>,
    /// Message time at or before: ISO date (the whole day in the desk's time zone), ISO
    /// date-time with offset, or epoch milliseconds.
    #[param(schema_with = instant_schema)]
    pub to: Option<String>,
}

impl MessageParams {
    /// Validates into a domain query, dates as days of `zone`.
    pub fn validate(&self, zone: Tz) -> Result<MessageQuery, Problem> {
        let limit = parse_limit(self.limit.as_deref(), DEFAULT_LIMIT)?;
        let cursor = parse_cursor(&self.cursor, cursor::decode_message)?;
        let outcomes = match given(&self.outcome) {
            Some(raw) => vec![parse_outcome("outcome", raw)?],
            None => Vec::new(),
        };
        let channel = parse_channel_id("channel", &self.channel)?;
        let legacy = parse_channel_id("channelId", &self.channel_id)?;
        let channel = channel.or(legacy);
        let (from, to) = parse_range(self.from.as_deref(), self.to.as_deref(), zone)?;
        Ok(MessageQuery {
            limit,
            cursor,
            outcomes,
            channel,
            from,
            to,
        })
    }
}

/// Parses an outcome name.
pub fn parse_outcome(field: &str, raw: &str) -> Result<MessageClass, Problem> {
    one_of(field, raw, &OUTCOME_VALUES).and_then(|name| {
        MessageClass::from_name(name).ok_or_else(|| Problem::validation(field, "unknown outcome"))
    })
}

/// The query of `POST /messages/reparse`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReparseParams {
    /// Only report what would change (new signals, changed fields, outcome flips); the same as
    /// `dry_run` in the body. Either one makes the run a dry run.
    pub dry_run: Option<bool>,
}
