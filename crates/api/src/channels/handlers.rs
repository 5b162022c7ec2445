//! `/channels`: each channel's settings and activity (cached); `PUT /channels/{channel_id}`:
//! its label and default kind.

use actix_web::{HttpResponse, web};
use domain::model::ChannelId;
use domain::ports::{CacheScope, ChannelUpdate};
use service_kit::Problem;
use service_kit::compress::Accepted;
use service_kit::extract::Json;

use super::dto::{ChannelItem, ChannelListBody, ChannelUpdateBody};
use crate::auth::Admin;
use crate::cache::CHANNELS_KEY;
use crate::common::params::parse_kind;
use crate::common::{json_bytes, object_body, to_json};
use crate::state::ApiState;

/// Longest channel label.
const MAX_LABEL: usize = 100;

/// Every channel with its label, default kind, signal count, last signal and message counts
/// per outcome. Cached; at most 500 ms behind an ingest, at once after a settings change.
#[utoipa::path(
    get, path = "/channels", tag = "channels", operation_id = "list_channels",
    responses(
        (status = 200, description = "Every channel", body = ChannelListBody,
         headers(("X-Cache" = String, description = "hit, miss or error"))),
    )
)]
pub async fn list(state: web::Data<ApiState>, accepted: Accepted) -> Result<HttpResponse, Problem> {
    let channels = state.ports.channels.clone();
    let served = state
        .flights
        .read(
            &state.reads,
            CHANNELS_KEY,
            CacheScope::Wide,
            accepted.0,
            move || async move {
                let list = channels.list_channels().await?;
                to_json(&ChannelListBody {
                    data: list.into_iter().map(ChannelItem::from).collect(),
                })
            },
        )
        .await?;
    Ok(served.respond("channels"))
}

/// Set a channel's label and default kind (fields omitted keep their value; `null` clears).
/// The default kind applies at once to the channel's signals whose message names none.
#[utoipa::path(
    put, path = "/channels/{channel_id}", tag = "channels", operation_id = "update_channel",
    params(("channel_id" = i64, Path, description = "Telegram chat id", example = -1001649127710_i64)),
    request_body(content = ChannelUpdateBody, content_type = "application/json"),
    security(("api_key" = [])),
    responses((status = 200, description = "The channel after the change", body = ChannelItem))
)]
pub async fn update(
    _admin: Admin,
    state: web::Data<ApiState>,
    channel_id: web::Path<i64>,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, Problem> {
    let channel_id = ChannelId(channel_id.into_inner());
    let body: ChannelUpdateBody = object_body(body.into_inner())?;
    let label = match body.label {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => {
            let blank = |c: char| matches!(c, '\0' | ' ' | '\t' | '\n' | '\r');
            let length = raw.chars().count();
            if !(1..=MAX_LABEL).contains(&length) || raw.contains('\0') || raw.chars().all(blank) {
                return Err(Problem::validation(
                    "label",
                    format!(
                        "must be 1 to {MAX_LABEL} characters, not blank, without NUL (null clears it)"
                    ),
                ));
            }
            Some(Some(raw.trim().to_owned()))
        }
    };
    let default_kind = match body.default_kind {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => Some(Some(parse_kind(&raw).map_err(|_| {
            Problem::validation(
                "default_kind",
                "use swing_trade, day_trade, scalping or position (or the legacy labels)",
            )
        })?)),
    };
    let update = ChannelUpdate {
        label,
        default_kind,
    };
    let now = state.ports.clock.now();
    let summary = state
        .ports
        .channels
        .update_channel(channel_id, &update, now)
        .await?;
    tracing::info!(channel = channel_id.0, "channel settings changed");
    let _ = state.ports.cache.invalidate_all().await;
    Ok(json_bytes(to_json(&ChannelItem::from(summary))?, None))
}
