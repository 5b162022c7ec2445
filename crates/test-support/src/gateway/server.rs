//! The fake gateway's HTTP routes: `GET /api/messages/unprocessed`,
//! `POST /api/messages/mark-processed`, `POST /api/telegram-gateway/sync-messages`, `GET /health`.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::Utc;
use serde_json::{Value, json};

use super::store::{self, Listing};
use super::{Fault, State, lock};

type Shared = web::Data<Arc<Mutex<State>>>;

/// Serves `state` on `listener`; the returned handle stops it.
pub(crate) fn serve(listener: TcpListener, state: Arc<Mutex<State>>) -> ServerHandle {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/api/messages/unprocessed", web::get().to(unprocessed))
            .route(
                "/api/messages/mark-processed",
                web::post().to(mark_processed),
            )
            .route(
                "/api/telegram-gateway/sync-messages",
                web::post().to(sync_messages),
            )
            .route("/health", web::get().to(health))
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    handle
}

fn failure(status: u16, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .json(json!({"success": false, "message": message}))
}

/// Records the request and serves the next injected fault, if any.
async fn before(state: &Shared, req: &HttpRequest) -> Option<HttpResponse> {
    let (fault, slow) = {
        let mut s = lock(state);
        s.requests.push(format!("{} {}", req.method(), req.uri()));
        (s.faults.pop_front(), s.slow)
    };
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    match fault? {
        Fault::ServerError => Some(failure(500, "Internal server error")),
        Fault::RateLimited { retry_after_secs } => Some(
            HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", retry_after_secs.to_string()))
                .insert_header(("RateLimit-Limit", "300"))
                .insert_header(("RateLimit-Remaining", "0"))
                .insert_header(("RateLimit-Reset", retry_after_secs.to_string()))
                .json(json!({"success": false, "message": "Too many requests, please try again later."})),
        ),
        Fault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            None
        }
    }
}

async fn unprocessed(
    state: Shared,
    req: HttpRequest,
    query: web::Query<Vec<(String, String)>>,
) -> HttpResponse {
    if let Some(fault) = before(&state, &req).await {
        return fault;
    }
    let get = |k: &str| {
        query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let Some(channel) = get("channel").and_then(|c| c.parse::<i64>().ok()) else {
        return failure(400, "channel is required");
    };
    let statuses = get("status")
        .unwrap_or_else(|| "received".to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    let s = lock(&state);
    let limit = get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(1000)
        .min(s.max_page);
    let listing = Listing {
        channel,
        statuses,
        exclude_processed_by: get("excludeProcessedBy"),
        limit,
    };
    let data: Vec<Value> = store::list(&s.rows, &listing)
        .into_iter()
        .map(store::Row::to_wire)
        .collect();
    HttpResponse::Ok().json(json!({"success": true, "data": data}))
}

async fn mark_processed(state: Shared, req: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    if let Some(fault) = before(&state, &req).await {
        return fault;
    }
    let ids: Vec<String> = body
        .get("messageIds")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let Some(by) = body.get("processedBy").and_then(Value::as_str) else {
        return failure(400, "processedBy is required");
    };
    if ids.is_empty() {
        return failure(400, "messageIds must be a non-empty array");
    }
    let numeric: Vec<i64> = ids.iter().filter_map(|i| i.parse().ok()).collect();
    let mut s = lock(&state);
    let updated = store::acknowledge(&mut s.rows, &numeric, by, Utc::now());
    s.acknowledgements.push((ids.clone(), by.to_owned()));
    HttpResponse::Ok().json(json!({
        "success": true,
        "message": format!("{updated} messages marked as processed"),
        "data": {"requested": ids.len(), "updated": updated, "processedBy": by},
    }))
}

async fn sync_messages(
    state: Shared,
    req: HttpRequest,
    body: Option<web::Json<Value>>,
) -> HttpResponse {
    if let Some(fault) = before(&state, &req).await {
        return fault;
    }
    let limit = body
        .as_ref()
        .and_then(|b| b.get("limit"))
        .and_then(Value::as_u64)
        .unwrap_or(500) as usize;
    let history: Vec<_> = {
        let mut s = lock(&state);
        s.sync_calls += 1;
        let take = limit.min(s.history.len());
        s.history.drain(..take).collect()
    };
    let count = history.len();
    let mut s = lock(&state);
    for message in history {
        let id = s.next_id;
        s.next_id += 1;
        s.rows.push(store::Row {
            id,
            message,
            status: "received".to_owned(),
            processed_by: None,
            received_at: Utc::now(),
            published_at: None,
        });
    }
    HttpResponse::Ok().json(json!({
        "success": true,
        "message": format!("{count} mensagens sincronizadas"),
        "data": {"messagesSynced": count},
    }))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "healthy"}))
}
