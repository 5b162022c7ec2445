//! The bytes of `/signals/stream`: one rendered SSE frame per change (its id is the change's
//! feed position), `reset` frames, and the body of one client — its replay, then the live frames
//! it has not seen yet, then keep-alives — so each client gets every change once, in order.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::web::Bytes;
use chrono::Utc;
use domain::ports::{ChangePosition, SignalChange, SignalEventKind};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast;

use super::dto::StreamEventBody;
use super::fanout::ClientGuard;
use crate::signals::dto::SignalItem;

/// Age (since its Telegram date) of the signal of each change pushed to live clients.
pub const EVENT_AGE_SECONDS: &str = "tpcapital_stream_event_age_seconds";

/// One frame for every client: a change (with its position) or a `reset`.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The change's position; `None` for frames that are not changes.
    pub position: Option<ChangePosition>,
    /// The SSE bytes.
    pub bytes: Bytes,
}

fn sse(id: Option<&str>, event: &str, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 64);
    if let Some(id) = id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// Tells a client it missed events and should reload its list.
pub fn reset_frame(why: &str) -> Frame {
    let data = serde_json::json!({ "reason": why }).to_string();
    Frame {
        position: None,
        bytes: sse(None, "reset", data.as_bytes()),
    }
}

/// The wire name of an event kind.
pub fn kind_name(kind: SignalEventKind) -> &'static str {
    match kind {
        SignalEventKind::Created => "created",
        SignalEventKind::Revised => "revised",
        SignalEventKind::StatusChanged => "status_changed",
        SignalEventKind::Deleted => "deleted",
    }
}

/// The `signal` frame of `change`; `kind` when the publisher said what happened, else what the
/// row shows (`created`, `deleted` or `changed`).
pub fn change_frame(change: &SignalChange, kind: Option<SignalEventKind>) -> Frame {
    let row = &change.row;
    let s = &row.signal;
    let kind = match kind {
        Some(kind) => kind_name(kind),
        None if s.deleted => "deleted",
        None if s.created_at == s.updated_at => "created",
        None => "changed",
    };
    let body = StreamEventBody {
        kind,
        signal_id: s.id.0,
        channel_id: s.channel_id.0,
        asset: s.call.asset.as_str(),
        status: s.status.into(),
        at: s.updated_at,
        signal: (!s.deleted).then(|| SignalItem::from_row(row)),
    };
    if !s.deleted {
        let age = (Utc::now() - s.message_date).as_seconds_f64();
        metrics::histogram!(EVENT_AGE_SECONDS).record(age.max(0.0));
    }
    let data = serde_json::to_vec(&body).unwrap_or_default();
    Frame {
        position: Some(change.position),
        bytes: sse(Some(&change.position.to_string()), "signal", &data),
    }
}

struct Live {
    receiver: broadcast::Receiver<Frame>,
    last: Option<ChangePosition>,
    ticker: tokio::time::Interval,
    _guard: ClientGuard,
}

/// The body of one SSE response: the preamble, the replay, then every live frame after `last`
/// (the client's position: its `Last-Event-ID` or its last replayed change) and keep-alives,
/// until the client goes away.
pub fn body(
    replay: Vec<Frame>,
    last: Option<ChangePosition>,
    receiver: broadcast::Receiver<Frame>,
    guard: ClientGuard,
    keep_alive: Duration,
) -> impl Stream<Item = Result<Bytes, Infallible>> + 'static {
    let preamble = Bytes::from_static(b"retry: 3000\n: connected\n\n");
    let last = replay.iter().rev().find_map(|f| f.position).or(last);
    let live = Live {
        receiver,
        last,
        ticker: tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive),
        _guard: guard,
    };
    let live = futures_util::stream::unfold(live, |mut s| async move {
        let bytes = loop {
            tokio::select! {
                received = s.receiver.recv() => match received {
                    Ok(frame) => match (frame.position, s.last) {
                        // Already replayed (the replay and the live feed overlap).
                        (Some(p), Some(last)) if p <= last => continue,
                        (Some(p), _) => {
                            s.last = Some(p);
                            break frame.bytes;
                        }
                        (None, _) => break frame.bytes,
                    },
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "an SSE client lagged behind");
                        break reset_frame("the connection fell behind; reload").bytes;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = s.ticker.tick() => break Bytes::from_static(b": keep-alive\n\n"),
            }
        };
        Some((Ok(bytes), s))
    });
    futures_util::stream::iter(
        std::iter::once(preamble)
            .chain(replay.into_iter().map(|f| f.bytes))
            .map(Ok::<_, Infallible>),
    )
    .chain(live)
}
