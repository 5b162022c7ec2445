//! `/signals/stats`: counts per hour, asset and channel from the hourly aggregate (cached).

use actix_web::{HttpResponse, web};
use service_kit::Problem;
use service_kit::compress::Accepted;
use service_kit::extract::Query;

use super::dto::StatsBody;
use super::params::StatsParams;
use crate::cache;
use crate::common::{json_bytes, to_json};
use crate::state::ApiState;

/// Signal counts per hour, asset and channel (from the hourly aggregate), cached.
///
/// Without `from`, the window is the 7 days before `to` (default now).
#[utoipa::path(
    get, path = "/signals/stats", tag = "signals", operation_id = "signal_stats",
    params(StatsParams),
    responses(
        (status = 200, description = "Statistics of the window", body = StatsBody,
         headers(("X-Cache" = String, description = "hit, miss or error"))),
    )
)]
pub async fn stats(
    state: web::Data<ApiState>,
    params: Query<StatsParams>,
    accepted: Accepted,
) -> Result<HttpResponse, Problem> {
    let (query, key) = params.validate(state.ports.clock.now(), state.desk_zone)?;
    let Some(query) = query else {
        let none = domain::ports::SignalStats {
            total: 0,
            by_hour: Vec::new(),
            by_asset: Vec::new(),
            by_channel: Vec::new(),
        };
        return Ok(json_bytes(
            to_json(&StatsBody::new(none, None, None))?,
            None,
        ));
    };
    let scope = cache::stats_scope(query.channel);
    let stats = state.ports.stats.clone();
    let served = state
        .flights
        .read(&state.reads, &key, scope, accepted.0, move || async move {
            let (from, to) = (query.from, query.to);
            let s = stats.signal_stats(&query).await?;
            to_json(&StatsBody::new(s, from, to))
        })
        .await?;
    Ok(served.respond("stats"))
}
