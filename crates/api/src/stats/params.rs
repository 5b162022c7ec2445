//! The filters of `/signals/stats`.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use domain::ports::StatsQuery;
use serde::Deserialize;
use service_kit::Problem;
use utoipa::IntoParams;
use utoipa::openapi::{RefOr, Schema};

use crate::cache;
use crate::common::instant::{instant_schema, parse_range};
use crate::common::params::{
    asset_schema, channel_id_schema, integer, or_empty, parse_asset, parse_bounded,
    parse_channel_id,
};

fn top_schema() -> RefOr<Schema> {
    or_empty(integer(1, 500, 20))
}

/// Filters of `/signals/stats`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Hours at or after (default: 7 days before `to`). ISO date (a day of the desk's time
    /// zone, America/Sao_Paulo by default), ISO date-time with offset, or epoch ms.
    #[param(schema_with = instant_schema)]
    pub from: Option<String>,
    /// Hours at or before (default: now). ISO date (the whole day in the desk's time zone),
    /// ISO date-time with offset, or epoch ms.
    #[param(schema_with = instant_schema)]
    pub to: Option<String>,
    /// Only this channel id.
    #[param(schema_with = channel_id_schema)]
    pub channel: Option<String>,
    /// Only this asset (a word that is no ticker matches nothing).
    #[param(schema_with = asset_schema)]
    pub asset: Option<String>,
    /// Most assets listed in `by_asset` (1–500, default 50).
    #[param(schema_with = top_schema)]
    pub top: Option<String>,
}

/// Default window of `/signals/stats` when `from` is absent.
pub const DEFAULT_STATS_WINDOW: TimeDelta = TimeDelta::days(7);

impl StatsParams {
    /// Validates into a domain query. `now` resolves the default window; the cache key is
    /// built from the parameters as given, so a default window stays one cache entry.
    /// `None` as the query means nothing can match (an asset word that is no ticker).
    pub fn validate(
        &self,
        now: DateTime<Utc>,
        zone: Tz,
    ) -> Result<(Option<StatsQuery>, String), Problem> {
        let (from, to) = parse_range(self.from.as_deref(), self.to.as_deref(), zone)?;
        let channel = parse_channel_id("channel", &self.channel)?;
        let (asset, no_asset) = parse_asset(&self.asset)?;
        let top = parse_bounded("top", self.top.as_deref(), 50, 500)?;
        let key = cache::stats_cache_key(from, to, channel, asset.as_ref(), top);
        let to_resolved = to.unwrap_or(now);
        let from = from.or_else(|| to_resolved.checked_sub_signed(DEFAULT_STATS_WINDOW));
        let query = StatsQuery {
            from,
            to,
            channel,
            asset,
            top_assets: top,
        };
        Ok(((!no_asset).then_some(query), key))
    }
}
