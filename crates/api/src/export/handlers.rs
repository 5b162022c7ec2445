//! `/signals/export`: every signal matching the list's filters, streamed as CSV or one JSON
//! array. Pages of 1,000 rows are read by keyset and written as they come, so memory stays
//! constant whatever the size; the first page is read before answering, so a database outage is
//! a 503, not a truncated file.

use std::fmt::Write as _;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::ports::{SignalPage, SignalQueries, SignalQuery, SignalRow, StoreError};
use futures_util::stream;
use service_kit::Problem;
use service_kit::extract::Query;

use super::params::{ExportFormat, ExportFormatParam};
use crate::common::params::MAX_LIMIT;
use crate::common::slots::{ClientId, ClientSlots, Slot};
use crate::signals::dto::SignalItem;
use crate::signals::params::SignalParams;
use crate::state::ApiState;

/// The CSV header row.
pub const CSV_HEADER: &str = "id,ts,channel,signal_type,asset,buy_min,buy_max,target_1,target_2,\
target_final,stop,raw_message,source,ingested_at,created_at,updated_at,channel_id,message_id,kind,\
direction,targets,status,target_index,valid_until,revision\n";

/// Rows an export without a valid `X-API-Key` returns at most (a cost-based limit).
pub const ANONYMOUS_EXPORT_ROWS: u32 = 10_000;

/// Export the signals matching the filters (all of them unless `limit` is given), newest first.
///
/// Without a valid `X-API-Key`, at most 10,000 rows. A client (API key, else address) runs at
/// most 2 exports at once (429 beyond).
#[utoipa::path(
    get, path = "/signals/export", tag = "signals", operation_id = "export_signals",
    params(ExportFormatParam, SignalParams),
    responses(
        (status = 200, description = "The signals, streamed",
         content(
            (String = "text/csv", example = json!("id,ts,channel,signal_type,asset,buy_min,buy_max,...\n1234,1760965200000,TP Capital,Swing Trade,BOVAW32,1.04,1.06,...\n")),
            (Vec<SignalItem> = "application/json"),
         ),
         headers(("Content-Disposition" = String, description = "attachment; filename=…"))),
    )
)]
pub async fn export(
    req: HttpRequest,
    state: web::Data<ApiState>,
    format: Query<ExportFormatParam>,
    params: Query<SignalParams>,
) -> Result<HttpResponse, Problem> {
    let format = format.validate()?;
    let filter = params.validate(state.desk_zone)?;
    let client = ClientId::of(&req);
    let keyed = client.has_key();
    let slot = state.export_slots.acquire(client).ok_or_else(|| {
        Problem::too_many_requests(5).with_detail("this client runs as many exports as it may")
    })?;
    let mut remaining = filter.limit_given.then_some(filter.query.limit);
    if !keyed {
        remaining = Some(remaining.map_or(ANONYMOUS_EXPORT_ROWS, |r| r.min(ANONYMOUS_EXPORT_ROWS)));
    }
    if filter.matches_nothing {
        remaining = Some(0);
    }
    let mut query = filter.query;
    query.limit = page_size(remaining);
    let queries = state.ports.queries.clone();
    let first = if remaining == Some(0) {
        SignalPage {
            rows: Vec::new(),
            next_cursor: None,
        }
    } else {
        queries.list_signals(&query).await?
    };
    let stamp = state.ports.clock.now().format("%Y%m%dT%H%M%SZ");
    let (content_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Json => ("application/json", "json"),
    };
    let exporter = Exporter {
        queries,
        query,
        remaining,
        format,
        pending: Some(first),
        started: false,
        wrote_rows: false,
        finished: false,
        _slot: slot,
    };
    let body = stream::unfold(exporter, |mut e| async move {
        e.next_chunk().await.map(|chunk| (chunk, e))
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"signals-{stamp}.{extension}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

fn page_size(remaining: Option<u32>) -> u32 {
    remaining.map_or(MAX_LIMIT, |r| r.clamp(1, MAX_LIMIT))
}

/// The state of one export: the next page to read and how much may still be written.
struct Exporter {
    queries: Arc<dyn SignalQueries>,
    query: SignalQuery,
    remaining: Option<u32>,
    format: ExportFormat,
    pending: Option<SignalPage>,
    started: bool,
    wrote_rows: bool,
    finished: bool,
    /// This client's export slot, held until the body ends.
    _slot: Slot,
}

impl Exporter {
    /// The next chunk of the body: the header, then one chunk per page, then the trailer.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, StoreError>> {
        if self.finished {
            return None;
        }
        let mut out = String::new();
        if !self.started {
            self.started = true;
            out.push_str(match self.format {
                ExportFormat::Csv => CSV_HEADER,
                ExportFormat::Json => "[",
            });
        }
        let page = match self.pending.take() {
            Some(page) => page,
            None => match self.query.cursor {
                Some(_) if self.remaining != Some(0) => {
                    self.query.limit = page_size(self.remaining);
                    match self.queries.list_signals(&self.query).await {
                        Ok(page) => page,
                        Err(e) => {
                            tracing::error!(error = %e, "export aborted");
                            self.finished = true;
                            return Some(Err(e));
                        }
                    }
                }
                _ => SignalPage {
                    rows: Vec::new(),
                    next_cursor: None,
                },
            },
        };
        let mut rows: &[SignalRow] = &page.rows;
        if let Some(left) = self.remaining {
            rows = &rows[..rows.len().min(left as usize)];
            self.remaining = Some(left - rows.len() as u32);
        }
        for row in rows {
            match self.format {
                ExportFormat::Csv => write_csv_row(&mut out, row),
                ExportFormat::Json => {
                    if self.wrote_rows {
                        out.push(',');
                    }
                    let item = SignalItem::from_row(row);
                    out.push_str(&serde_json::to_string(&item).unwrap_or_else(|_| "null".into()));
                }
            }
            self.wrote_rows = true;
        }
        self.query.cursor = page.next_cursor;
        let done = self.query.cursor.is_none() || self.remaining == Some(0);
        if done {
            if self.format == ExportFormat::Json {
                out.push_str("]\n");
            }
            self.finished = true;
        }
        Some(Ok(Bytes::from(out)))
    }
}

/// One CSV row (RFC 4180 quoting; text cells starting with `= + - @` are prefixed with `'` so
/// spreadsheets never evaluate them).
pub fn write_csv_row(out: &mut String, row: &SignalRow) {
    let item = SignalItem::from_row(row);
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let iso = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let targets: Vec<String> = item.targets.iter().map(|t| t.to_string()).collect();
    let cells: [String; 25] = [
        item.id.to_string(),
        item.ts.to_string(),
        text_cell(&item.channel),
        row.kind.legacy_label().to_owned(),
        item.asset.to_owned(),
        num(item.buy_min),
        num(item.buy_max),
        num(item.target_1),
        num(item.target_2),
        num(item.target_final),
        num(item.stop),
        text_cell(item.raw_message),
        text_cell(item.source),
        item.ingested_at
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string(),
        iso(item.created_at),
        iso(item.updated_at),
        item.channel_id.to_string(),
        item.message_id.to_string(),
        row.kind.as_str().to_owned(),
        match row.signal.call.direction {
            domain::model::Direction::Long => "long".to_owned(),
            domain::model::Direction::Short => "short".to_owned(),
        },
        targets.join(";"),
        row.signal.status.as_str().to_owned(),
        item.target_index.map(|i| i.to_string()).unwrap_or_default(),
        item.valid_until.map(|d| d.to_string()).unwrap_or_default(),
        item.revision.to_string(),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            let _ = write!(out, "{cell}");
        }
    }
    out.push('\n');
}

/// A text cell no spreadsheet runs as a formula (OWASP's CSV injection advice): a value starting
/// with a tab or CR, or whose first non-blank character is `=`, `+`, `-` or `@`, gets a leading
/// `'`; a plain number such as `-1.5` stays a number.
fn text_cell(s: &str) -> String {
    let first = s.trim_start_matches([' ', '\t', '\r', '\n']);
    let risky = s.starts_with(['\t', '\r']) || first.starts_with(['=', '+', '-', '@']);
    if risky && s.trim().parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// Concurrent exports one client may run by default.
pub const EXPORTS_PER_CLIENT: usize = 2;

/// The per-client export caps of a new api.
pub fn export_slots() -> ClientSlots {
    ClientSlots::new(EXPORTS_PER_CLIENT)
}

#[cfg(test)]
#[path = "csv_tests.rs"]
mod csv_tests;
