//! `/signals`: the dashboard's list (cached), one signal with its history, its soft delete.

use actix_web::{HttpResponse, web};
use domain::model::SignalId;
use domain::ports::{Invalidation, SignalEvent, SignalEventKind, SignalPage};
use domain::services::QueryError;
use service_kit::Problem;
use service_kit::compress::Accepted;
use service_kit::extract::Query;

use super::dto::{SignalDetailBody, SignalItem, SignalPageBody};
use super::params::SignalParams;
use crate::auth::Admin;
use crate::cache::{signal_cache_key, signal_scope};
use crate::common::{json_bytes, to_json, to_json_sized, trace_context};
use crate::cursor;
use crate::state::ApiState;

/// The JSON of a page of signals (about 640 bytes a row).
pub fn render_page(page: &SignalPage) -> Result<Vec<u8>, QueryError> {
    to_json_sized(
        &SignalPageBody {
            data: page.rows.iter().map(SignalItem::from_row).collect(),
            next_cursor: page.next_cursor.as_ref().map(cursor::encode_signal),
        },
        64 + 768 * page.rows.len(),
    )
}

/// List signals, newest first.
///
/// Every filter is applied in the database before the limit. Answers are cached (Redis) and
/// invalidated by the changes they can show: a page of one channel (`channel` = its id) by that
/// channel's commits, at once; every other page at most 500 ms after a commit. A page is cached
/// from its second miss (a query asked once costs no cache write). `X-Cache` says `hit`, `miss`
/// or `error` (cache down, read from the database).
#[utoipa::path(
    get, path = "/signals", tag = "signals", operation_id = "list_signals",
    params(SignalParams),
    responses(
        (status = 200, description = "A page of signals, newest first", body = SignalPageBody,
         headers(("X-Cache" = String, description = "hit, miss or error"))),
    )
)]
pub async fn list(
    state: web::Data<ApiState>,
    params: Query<SignalParams>,
    accepted: Accepted,
) -> Result<HttpResponse, Problem> {
    let filter = params.validate(state.desk_zone)?;
    if filter.matches_nothing {
        let empty = SignalPage {
            rows: Vec::new(),
            next_cursor: None,
        };
        return Ok(json_bytes(render_page(&empty)?, None));
    }
    let key = signal_cache_key("signals2", &filter.query);
    let scope = signal_scope(&filter.query);
    let queries = state.ports.queries.clone();
    let query = filter.query;
    let served = state
        .flights
        .read(&state.reads, &key, scope, accepted.0, move || async move {
            let page = queries.list_signals(&query).await?;
            render_page(&page)
        })
        .await?;
    Ok(served.respond("signals"))
}

/// One signal with its earlier revisions and its status history.
#[utoipa::path(
    get, path = "/signals/{id}", tag = "signals", operation_id = "get_signal",
    params(("id" = i64, Path, description = "Signal id", minimum = 1, example = 1234)),
    responses(
        (status = 200, description = "The signal", body = SignalDetailBody),
        (status = 404, description = "No such signal (or it was deleted)", body = Problem,
         content_type = "application/problem+json"),
    )
)]
pub async fn detail(
    state: web::Data<ApiState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let detail = state
        .ports
        .queries
        .signal_detail(SignalId(id))
        .await
        .map_err(|e| not_found_as(e, id))?;
    Ok(json_bytes(
        to_json(&SignalDetailBody::from_detail(&detail))?,
        None,
    ))
}

fn not_found_as(e: domain::ports::StoreError, id: i64) -> Problem {
    match e {
        domain::ports::StoreError::NotFound => Problem::not_found(format!("no signal {id}")),
        other => other.into(),
    }
}

/// Soft-delete a signal: it is kept, with its history, and disappears from every list.
#[utoipa::path(
    delete, path = "/signals/{id}", tag = "signals", operation_id = "delete_signal",
    params(("id" = i64, Path, description = "Signal id", minimum = 1, example = 1234)),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such signal, or already deleted", body = Problem,
         content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    _admin: Admin,
    state: web::Data<ApiState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    soft_delete(&state, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Soft-deletes signal `id`, invalidates the cache and tells the live clients.
pub async fn soft_delete(state: &ApiState, id: i64) -> Result<(), Problem> {
    let ports = &state.ports;
    let detail = ports
        .queries
        .signal_detail(SignalId(id))
        .await
        .map_err(|e| not_found_as(e, id))?;
    let now = ports.clock.now();
    ports
        .queries
        .soft_delete(SignalId(id), now)
        .await
        .map_err(|e| not_found_as(e, id))?;
    tracing::info!(signal = id, "signal soft-deleted by an operator");
    let signal = &detail.row.signal;
    let _ = ports
        .cache
        .invalidate(&Invalidation::Channels(vec![signal.channel_id]))
        .await;
    let event = SignalEvent {
        kind: SignalEventKind::Deleted,
        signal_id: signal.id,
        channel_id: signal.channel_id,
        asset: signal.call.asset.clone(),
        status: signal.status,
        at: now,
        traceparent: trace_context(),
    };
    if let Err(e) = ports.events.publish(&event).await {
        tracing::warn!(error = %e, "cannot publish the deletion");
    }
    Ok(())
}
