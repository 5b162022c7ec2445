//! `/logs`: the dashboard's ingestion log, derived from the message archive (so it survives
//! restarts): one entry per archived delivery, newest first.

use actix_web::{HttpResponse, web};
use domain::ports::{MessageClass, MessageQuery};
use service_kit::Problem;
use service_kit::extract::Query;

use super::dto::{LogItem, LogListBody, level_of};
use super::params::{Level, LogParams};
use crate::common::{json_bytes, to_json};
use crate::state::ApiState;

/// The ingestion log: `debug` for ignored messages, `info` for signals and updates, `warn` for
/// rejected messages; `level` is the lowest level shown.
#[utoipa::path(
    get, path = "/logs", tag = "messages", operation_id = "list_logs",
    params(LogParams),
    responses((status = 200, description = "Log entries, newest first", body = LogListBody))
)]
pub async fn list(
    state: web::Data<ApiState>,
    params: Query<LogParams>,
) -> Result<HttpResponse, Problem> {
    let (limit, level) = params.validate()?;
    let outcomes: Vec<MessageClass> = MessageClass::ALL
        .into_iter()
        .filter(|o| level_of(*o) >= level)
        .collect();
    if outcomes.is_empty() || level > Level::Warn {
        return Ok(json_bytes(
            to_json(&LogListBody { data: Vec::new() })?,
            None,
        ));
    }
    let query = MessageQuery {
        limit,
        outcomes: if outcomes.len() == MessageClass::ALL.len() {
            Vec::new()
        } else {
            outcomes
        },
        ..MessageQuery::default()
    };
    let page = state.ports.archive.list_messages(&query).await?;
    let body = LogListBody {
        data: page.rows.iter().map(LogItem::from_archived).collect(),
    };
    Ok(json_bytes(to_json(&body)?, None))
}
