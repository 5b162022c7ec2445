//! The legacy routes' handlers.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use service_kit::extract::Json;
use service_kit::{Health, Problem};

use super::dto::{
    LegacyChannelItem, LegacyChannelListBody, LegacyDeleteAnswer, LegacyDeleteBody,
    LegacyHealthBody,
};
use crate::auth::Admin;
use crate::common::object_body;
use crate::state::ApiState;

/// Liveness in the legacy shape. Deprecated: use `/health/live`.
#[utoipa::path(
    get, path = "/healthz", tag = "health", operation_id = "legacy_healthz",
    responses((status = 200, description = "The process answers", body = LegacyHealthBody))
)]
pub async fn healthz(health: web::Data<Health>) -> HttpResponse {
    HttpResponse::Ok().json(LegacyHealthBody {
        status: "healthy",
        service: "tp-capital",
        uptime: health.uptime(),
    })
}

/// Every channel with the legacy field names (`id`, `label`, `channel_id` as strings,
/// `channel_type`, `status`, `signal_count`, `last_signal` …). Deprecated: use `/channels`.
#[utoipa::path(
    get, path = "/telegram-channels", tag = "channels", operation_id = "legacy_telegram_channels",
    responses((status = 200, description = "Every channel", body = LegacyChannelListBody))
)]
pub async fn telegram_channels(state: web::Data<ApiState>) -> Result<HttpResponse, Problem> {
    let list = state.ports.channels.list_channels().await?;
    Ok(HttpResponse::Ok().json(LegacyChannelListBody {
        data: list.into_iter().map(LegacyChannelItem::from).collect(),
    }))
}

/// Soft-delete the signal whose `ingested_at` is `ingestedAt` (unique per signal, to the
/// microsecond). Deprecated: use `DELETE /signals/{id}`.
#[utoipa::path(
    delete, path = "/signals", tag = "signals", operation_id = "legacy_delete_signal",
    request_body(content = LegacyDeleteBody, content_type = "application/json"),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Deleted", body = LegacyDeleteAnswer),
        (status = 404, description = "No live signal was received at that instant", body = Problem,
         content_type = "application/problem+json"),
    )
)]
pub async fn delete_signal(
    _admin: Admin,
    state: web::Data<ApiState>,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, Problem> {
    let body: LegacyDeleteBody = object_body(body.into_inner())?;
    let at = DateTime::parse_from_rfc3339(body.ingested_at.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Problem::validation(
                "ingestedAt",
                "must be an RFC 3339 date-time such as 2025-10-20T13:00:01.120345Z",
            )
        })?;
    let id = match state.ports.receptions.signal_received_at(at).await {
        Err(domain::ports::StoreError::NotFound) => {
            return Err(Problem::not_found(format!(
                "no signal was received at {}",
                body.ingested_at.trim()
            )));
        }
        other => other?,
    };
    crate::signals::handlers::soft_delete(&state, id.0).await?;
    tracing::info!(
        signal = id.0,
        "signal soft-deleted through the legacy DELETE /signals"
    );
    Ok(HttpResponse::Ok().json(LegacyDeleteAnswer {
        status: "ok",
        id: id.0,
    }))
}
