//! `/signals/stream`: the SSE endpoint over [`crate::stream`], and its replay rules: replay only
//! from a position this feed issued, recent and with few changes since (more with an API key);
//! otherwise one `reset`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::TimeDelta;
use domain::ports::ChangePosition;
use domain::services::{LiveFeed, Replay, ReplayRules, ResetReason};
use service_kit::Problem;

use super::fanout::{JoinRefused, KEEP_ALIVE};
use super::frames::{self, Frame, change_frame, reset_frame};
use crate::common::slots::ClientId;
use crate::state::ApiState;

/// Replay without an API key: a few changes of the last minutes.
pub const ANONYMOUS_REPLAY: ReplayRules = ReplayRules {
    max_changes: 100,
    max_age: TimeDelta::minutes(5),
};
/// Replay with a valid API key.
pub const KEYED_REPLAY: ReplayRules = ReplayRules {
    max_changes: 1000,
    max_age: TimeDelta::minutes(30),
};

/// Live signal changes as Server-Sent Events.
///
/// Each `signal` event has an `id` (its position in the change feed); after a disconnection,
/// send the last one as `Last-Event-ID` (browsers do) to receive the changes missed since then
/// first, each once and in order. Replay is bounded (100 changes of the last 5 minutes; 1,000
/// of the last 30 with an `X-API-Key`): beyond, or from an id this feed did not issue, one
/// `reset` event says to reload the list. A comment is sent every 15 s to keep the connection
/// alive. A client (API key, else address) holds at most 8 streams at once (429 beyond).
#[utoipa::path(
    get, path = "/signals/stream", tag = "signals", operation_id = "stream_signals",
    params(("Last-Event-ID" = Option<String>, Header,
            description = "The id of the last event received, to catch up after a reconnection",
            example = "812345-1234")),
    responses(
        (status = 200, description = "An endless event stream",
         content_type = "text/event-stream", body = String,
         example = json!("id: 812345-1234\nevent: signal\ndata: {\"kind\":\"created\",\"signal_id\":1234,…}\n\n")),
    )
)]
pub async fn stream(req: HttpRequest, state: web::Data<ApiState>) -> Result<HttpResponse, Problem> {
    let client = ClientId::of(&req);
    let rules = if client.has_key() {
        KEYED_REPLAY
    } else {
        ANONYMOUS_REPLAY
    };
    let (receiver, guard) = state.fanout.join(Some(client))?;
    let last_event_id = req
        .headers()
        .get("last-event-id")
        .map(|v| v.to_str().ok().and_then(ChangePosition::parse));
    let (replay, last) = match last_event_id {
        None => (Vec::new(), None),
        Some(None) => (
            vec![reset_frame(ResetReason::UnknownPosition.message())],
            None,
        ),
        Some(Some(from)) => {
            let feed = LiveFeed::new(state.ports.changes.clone(), state.ports.clock.clone());
            (replay_frames(&feed, from, rules).await, Some(from))
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(frames::body(replay, last, receiver, guard, KEEP_ALIVE)))
}

/// The frames a client that last saw `from` missed, or one `reset`.
pub async fn replay_frames(
    feed: &LiveFeed,
    from: ChangePosition,
    rules: ReplayRules,
) -> Vec<Frame> {
    match feed.replay(from, rules).await {
        Replay::Changes(changes) => changes.iter().map(|c| change_frame(c, None)).collect(),
        Replay::Reset(reason) => {
            metrics::counter!("tpcapital_sse_resets_total").increment(1);
            vec![reset_frame(reason.message())]
        }
    }
}

/// 429 when this client holds its share of live streams, 503 when the fan-out is full.
impl From<JoinRefused> for Problem {
    fn from(why: JoinRefused) -> Self {
        match why {
            JoinRefused::ClientShare => Problem::too_many_requests(5)
                .with_detail("this client holds as many live streams as it may"),
            JoinRefused::Full => Problem::unavailable("too many live subscribers; retry later", 5),
        }
    }
}
