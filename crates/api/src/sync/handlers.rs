//! The `/sync-messages` handler.

use actix_web::{HttpResponse, web};
use service_kit::Problem;

use super::dto::SyncMessagesBody;
use crate::auth::Admin;
use crate::state::ApiState;

/// Ask the Telegram gateway for recent messages and store what is new (the dashboard's
/// "Checar Mensagens"). No body. The api forwards the request to the ingest service (which holds
/// the gateway's credentials and runs the pull consumer); it answers once every configured
/// channel is drained. A sync that outlives the request keeps running (504).
#[utoipa::path(
    post, path = "/sync-messages", tag = "messages", operation_id = "sync_messages",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Synced: `data.messagesSynced` new messages stored", body = SyncMessagesBody),
        (status = 502, description = "The gateway or the ingest service refused the sync; `message` says why",
         body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No gateway sync configured (`TP_CAPITAL_API_INGEST_URL`, or the ingest's \
`TP_CAPITAL_GATEWAY_URL`), or the gateway or ingest is unavailable; `message` says which",
         body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The sync is still running; new messages appear as they are stored",
         body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sync_messages(
    _admin: Admin,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, Problem> {
    let Some(sync) = &state.sync else {
        return Err(Problem::unavailable(
            "message sync is not configured: set TP_CAPITAL_API_INGEST_URL (and TP_CAPITAL_SYNC_TOKEN) on the api, and the gateway on the ingest service",
            60,
        ));
    };
    let body = sync.sync().await?;
    tracing::info!(
        stored = body.data.messages_synced,
        "messages synced at an operator's request"
    );
    Ok(HttpResponse::Ok().json(body))
}
