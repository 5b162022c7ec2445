//! `/messages` (and the legacy `/forwarded-messages`): the archive of every delivery with its
//! parse outcome; `POST /messages/reparse`: the current parser over a time range or the
//! rejected set.

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use domain::model::ChannelId;
use domain::ports::{MessageClass, MessagePage, ReparseSelection};
use domain::services::ReparseRequest;
use service_kit::Problem;
use service_kit::extract::{Json, Query};

use super::dto::{MessageItem, MessagePageBody, ReparseBody, ReparseReportBody};
use super::params::{MessageParams, ReparseParams};
use crate::auth::Admin;
use crate::common::instant::{parse_epoch_ms, parse_iso};
use crate::common::{json_bytes, object_body, to_json, trace_context};
use crate::cursor;
use crate::state::ApiState;

/// Default and largest number of deliveries one re-parse call examines.
const REPARSE_DEFAULT: u32 = 10_000;
const REPARSE_MAX: u32 = 50_000;

fn render(page: &MessagePage) -> Result<Vec<u8>, domain::services::QueryError> {
    to_json(&MessagePageBody {
        data: page.rows.iter().map(MessageItem::from_archived).collect(),
        next_cursor: page.next_cursor.as_ref().map(cursor::encode_message),
    })
}

async fn list_archive(state: &ApiState, params: &MessageParams) -> Result<HttpResponse, Problem> {
    let query = params.validate(state.desk_zone)?;
    let page = state.ports.archive.list_messages(&query).await?;
    Ok(json_bytes(render(&page)?, None))
}

/// The message archive, newest first: every delivery with its outcome and reason.
#[utoipa::path(
    get, path = "/messages", tag = "messages", operation_id = "list_messages",
    params(MessageParams),
    responses((status = 200, description = "A page of archived deliveries", body = MessagePageBody))
)]
pub async fn list(
    state: web::Data<ApiState>,
    params: Query<MessageParams>,
) -> Result<HttpResponse, Problem> {
    list_archive(&state, &params).await
}

/// The legacy dashboard's name for `/messages` (same parameters, same answer).
#[utoipa::path(
    get, path = "/forwarded-messages", tag = "messages", operation_id = "list_forwarded_messages",
    params(MessageParams),
    responses((status = 200, description = "A page of archived deliveries", body = MessagePageBody))
)]
pub async fn list_legacy(
    state: web::Data<ApiState>,
    params: Query<MessageParams>,
) -> Result<HttpResponse, Problem> {
    list_archive(&state, &params).await
}

/// Re-parse archived deliveries with the current parser.
///
/// Deliveries that were ignored or rejected and now read as a call or an update are applied
/// (new signals, status updates) exactly as at ingest — a signal is never created twice — and
/// every delivery's recorded outcome is updated. Without `from`/`to`, the rejected set is
/// re-parsed. `?dry_run=true` (or `dry_run` in the body) writes nothing and reports what a
/// new parser version would change: new signals, stored signals read with different fields,
/// outcomes that flip, with samples. The body may be omitted.
#[utoipa::path(
    post, path = "/messages/reparse", tag = "messages", operation_id = "reparse_messages",
    params(ReparseParams),
    request_body(content = Option<ReparseBody>, content_type = "application/json", description = "Optional: without a body (or with `dry_run=true` in the query) the defaults apply"),
    security(("api_key" = [])),
    responses((status = 200, description = "What changed", body = ReparseReportBody))
)]
pub async fn reparse(
    _admin: Admin,
    state: web::Data<ApiState>,
    params: Query<ReparseParams>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let no_body = req.headers().get(header::CONTENT_TYPE).is_none()
        && req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_none_or(|len| len.as_bytes() == b"0");
    let body = if no_body {
        serde_json::Value::Null
    } else {
        Json::<serde_json::Value>::from_request(&req, &mut payload.into_inner())
            .await?
            .into_inner()
    };
    // No body and a JSON `null` body both mean "the defaults" (the document says it is optional).
    let body = match body {
        serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
        other => other,
    };
    let mut body: ReparseBody = object_body(body)?;
    body.dry_run |= params.dry_run.unwrap_or(false);
    let instant = |field: &str, v: &Option<serde_json::Value>, end: bool| match v {
        None => Ok(None),
        Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => parse_iso(field, s, end, state.desk_zone).map(Some),
        Some(serde_json::Value::Number(n)) => {
            let ms = n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.0e15)
                    .map(|f| f as i64)
            });
            match ms {
                Some(ms) if ms >= 0 => parse_epoch_ms(field, &ms.to_string()).map(Some),
                _ => Err(Problem::validation(
                    field,
                    "epoch milliseconds must be a non-negative integer",
                )),
            }
        }
        Some(_) => Err(Problem::validation(
            field,
            "expected an ISO date, an ISO date-time or epoch milliseconds",
        )),
    };
    let from = instant("from", &body.from, false)?;
    let to = instant("to", &body.to, true)?;
    let outcomes = match (body.outcome, from, to) {
        (Some(o), _, _) => vec![MessageClass::from(o)],
        (None, None, None) => vec![MessageClass::Rejected],
        (None, _, _) => Vec::new(),
    };
    let limit = match body.limit {
        None => REPARSE_DEFAULT,
        Some(n) if (1..=i64::from(REPARSE_MAX)).contains(&n) => n as u32,
        Some(_) => {
            return Err(Problem::validation(
                "limit",
                format!("must be between 1 and {REPARSE_MAX}"),
            ));
        }
    };
    let after =
        match body.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => Some(cursor::decode_message(c).ok_or_else(|| {
                Problem::validation("cursor", "not a cursor issued by this service")
            })?),
            None => None,
        };
    let request = ReparseRequest {
        selection: ReparseSelection {
            from,
            to,
            outcomes,
            channel: body.channel_id.map(ChannelId),
        },
        after,
        limit,
        dry_run: body.dry_run,
    };
    let report = state
        .reparse
        .reparse(&request, trace_context().as_ref())
        .await?;
    tracing::info!(
        examined = report.examined,
        reclassified = report.reclassified,
        signals_created = report.signals_created,
        new_signals = report.new_signals,
        changed_signals = report.changed_signals,
        dry_run = report.dry_run,
        "re-parse finished"
    );
    Ok(json_bytes(to_json(&ReparseReportBody::from(report))?, None))
}
