//! `/signals/stream`: the SSE endpoint over [`crate::stream`].

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use service_kit::Problem;

use super::hub::{self, KEEP_ALIVE, parse_event_id};
use crate::state::ApiState;

/// Live signal changes as Server-Sent Events.
///
/// Each `signal` event has an `id`; after a disconnection, send the last one as `Last-Event-ID`
/// (browsers do) to receive the signals changed since then first. A `reset` event means events
/// were missed: reload the list. A comment is sent every 15 s to keep the connection alive.
#[utoipa::path(
    get, path = "/signals/stream", tag = "signals", operation_id = "stream_signals",
    params(("Last-Event-ID" = Option<String>, Header,
            description = "The id of the last event received, to catch up after a reconnection",
            example = "1760965200123456-1234")),
    responses(
        (status = 200, description = "An endless event stream",
         content_type = "text/event-stream", body = String,
         example = json!("id: 1760965200123456-1234\nevent: signal\ndata: {\"kind\":\"created\",\"signal_id\":1234,…}\n\n")),
    )
)]
pub async fn stream(req: HttpRequest, state: web::Data<ApiState>) -> Result<HttpResponse, Problem> {
    let (receiver, guard) = state.hub.join()?;
    let last = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_event_id);
    let catch_up = match last {
        Some(cursor) => hub::catch_up(&state.ports, cursor).await,
        None => Vec::new(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(hub::body(catch_up, receiver, guard, KEEP_ALIVE)))
}
