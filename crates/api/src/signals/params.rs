//! The filters of `/signals` (and `/signals/export`), validated into a domain query.

use chrono_tz::Tz;
use domain::model::SignalStatus;
use domain::ports::SignalQuery;
use serde::Deserialize;
use service_kit::Problem;
use utoipa::IntoParams;
use utoipa::openapi::{RefOr, Schema};

use crate::common::instant::{instant_schema, parse_range};
use crate::common::params::{
    DEFAULT_LIMIT, asset_schema, channel_filter_schema, cursor_schema, given, kind_schema,
    limit_schema, one_of, parse_asset, parse_cursor, parse_kind, parse_limit, search,
    search_schema, string_enum, text,
};
use crate::cursor;

fn status_schema() -> RefOr<Schema> {
    string_enum(&SignalStatus::NAMES, "open")
}

/// Filters of `/signals` and `/signals/export`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignalParams {
    /// Page size, 1–1000 (default 100). For the export: the most rows to write (default: all).
    #[param(schema_with = limit_schema)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = cursor_schema)]
    pub cursor: Option<String>,
    /// Channel id (`-1001649127710`) or channel label (case-insensitive).
    #[param(schema_with = channel_filter_schema)]
    pub channel: Option<String>,
    /// Exact B3 ticker, any case (a word that is no ticker matches nothing).
    #[param(schema_with = asset_schema)]
    pub asset: Option<String>,
    /// Signal type: the legacy label (`Swing Trade`) or the machine name (`swing_trade`).
    #[serde(rename = "type")]
    #[param(rename = "type", schema_with = kind_schema)]
    pub kind: Option<String>,
    /// Status.
    #[param(schema_with = status_schema)]
    pub status: Option<String>,
    /// Case-insensitive substring of the asset or of the message text, at least 3 characters.
    #[param(schema_with = search_schema)]
    pub search: Option<String>,
    /// Message time at or after: ISO date (the start of that day in the desk's time zone,
    /// America/Sao_Paulo by default), ISO date-time with its offset (as given), or epoch
    /// milliseconds.
    #[param(schema_with = instant_schema)]
    pub from: Option<String>,
    /// Message time at or before: ISO date (the whole day in the desk's time zone,
    /// America/Sao_Paulo by default, inclusive), ISO date-time with its offset (as given), or
    /// epoch milliseconds. Before `from`, nothing matches.
    #[param(schema_with = instant_schema)]
    pub to: Option<String>,
}

/// `/signals` filters, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalFilter {
    /// The domain query.
    pub query: SignalQuery,
    /// Nothing can match (an asset word that is no ticker, an empty window): answer at once.
    pub matches_nothing: bool,
    /// Whether `limit` was given (the export writes everything otherwise).
    pub limit_given: bool,
}

impl SignalParams {
    /// Validates into a domain query, dates as days of `zone`.
    pub fn validate(&self, zone: Tz) -> Result<SignalFilter, Problem> {
        let limit_given = given(&self.limit).is_some();
        let limit = parse_limit(self.limit.as_deref(), DEFAULT_LIMIT)?;
        let cursor = parse_cursor(&self.cursor, cursor::decode_signal)?;
        let channel = text("channel", &self.channel)?;
        let (asset, no_asset) = parse_asset(&self.asset)?;
        let kind = given(&self.kind).map(parse_kind).transpose()?;
        let status = given(&self.status)
            .map(|raw| one_of("status", raw, &SignalStatus::NAMES).map(str::to_owned))
            .transpose()?;
        let search = search("search", &self.search)?;
        let (from, to) = parse_range(self.from.as_deref(), self.to.as_deref(), zone)?;
        let empty_window = matches!((from, to), (Some(f), Some(t)) if t < f);
        Ok(SignalFilter {
            query: SignalQuery {
                limit,
                cursor,
                channel,
                asset,
                kind,
                status,
                search,
                from,
                to,
            },
            matches_nothing: no_asset || empty_window,
            limit_given,
        })
    }
}
