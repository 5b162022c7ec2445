//! `/signals/stream`: Server-Sent Events of new and changed signals.
//!
//! One [`EventHub`] per process subscribes to the domain's event port (Redis pub/sub), turns each
//! event into one rendered SSE frame (the signal as `/signals` shows it, read once from the
//! database) and fans it out to every connected client over a broadcast channel. Each event's id
//! is its change cursor `(updated_at, signal id)`; a client reconnecting with `Last-Event-ID`
//! first receives the signals changed since then, read from the database (at-least-once: a few
//! seconds overlap, so late commits are not missed). Comments keep idle connections alive.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::web::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use domain::model::SignalId;
use domain::ports::{ChangeCursor, SignalEvent, SignalEventKind, SignalRow, StoreError};
use futures_util::{Stream, StreamExt};
use service_kit::Problem;
use tokio::sync::broadcast;
use tracing::Instrument;

use super::dto::StreamEventBody;
use crate::signals::dto::SignalItem;
use crate::state::Ports;

/// Interval of the keep-alive comments.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Age (since its Telegram date) of the signal of each change pushed to live clients.
pub const EVENT_AGE_SECONDS: &str = "tpcapital_stream_event_age_seconds";
/// How far before `Last-Event-ID` the catch-up starts (commits are not ordered by their time).
const REPLAY_OVERLAP: TimeDelta = TimeDelta::seconds(5);
/// Most signals replayed on reconnection; beyond, the client is told to reload.
pub const REPLAY_LIMIT: u32 = 1000;
/// Frames buffered per client before it counts as lagging.
const CHANNEL_CAPACITY: usize = 1024;

/// The live fan-out of signal events to SSE clients.
#[derive(Clone)]
pub struct EventHub {
    sender: broadcast::Sender<Bytes>,
    clients: Arc<AtomicUsize>,
    max_clients: usize,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("clients", &self.clients.load(Ordering::Relaxed))
            .field("max_clients", &self.max_clients)
            .finish()
    }
}

/// Counts a connected client for as long as it lives.
#[derive(Debug)]
pub struct ClientGuard(Arc<AtomicUsize>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let now = self.0.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        metrics::gauge!("tpcapital_sse_clients").set(now as f64);
    }
}

impl EventHub {
    /// A hub accepting at most `max_clients` subscribers.
    pub fn new(max_clients: usize) -> Self {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self {
            sender,
            clients: Arc::new(AtomicUsize::new(0)),
            max_clients: max_clients.max(1),
        }
    }

    /// Subscribes to the event port and fans events out until the process ends; reconnects
    /// with backoff when the subscription fails or ends.
    pub fn spawn(&self, ports: Ports) -> tokio::task::JoinHandle<()> {
        let sender = self.sender.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                match ports.events.subscribe().await {
                    Ok(mut events) => {
                        tracing::info!("signal stream subscribed");
                        backoff = Duration::from_millis(200);
                        while let Some(event) = events.next().await {
                            if sender.receiver_count() == 0 {
                                continue;
                            }
                            // The trace of the ingest that caused the change continues here.
                            let span = tracing::info_span!(
                                "signal event",
                                signal = event.signal_id.0,
                                channel = event.channel_id.0,
                                kind = kind_name(event.kind),
                                subscribers = sender.receiver_count()
                            );
                            if let Some(parent) = &event.traceparent {
                                service_kit::telemetry::continue_trace(&span, parent);
                            }
                            let frame = render_event(&ports, &event).instrument(span).await;
                            let _ = sender.send(frame);
                        }
                        tracing::warn!("signal stream subscription ended; resubscribing");
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot subscribe to signal events"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        })
    }

    /// Registers a client: its receiver (subscribed now, before any catch-up read) and the
    /// guard counting it. A 503 problem when the hub is full.
    pub fn join(&self) -> Result<(broadcast::Receiver<Bytes>, ClientGuard), Problem> {
        let now = self.clients.fetch_add(1, Ordering::Relaxed) + 1;
        let guard = ClientGuard(self.clients.clone());
        if now > self.max_clients {
            return Err(Problem::unavailable(
                "too many live subscribers; retry later",
                5,
            ));
        }
        metrics::gauge!("tpcapital_sse_clients").set(now as f64);
        Ok((self.sender.subscribe(), guard))
    }

    /// Connected clients.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }
}

/// The SSE id of a change: `{updated_at in µs}-{signal id}`.
pub fn event_id(at: DateTime<Utc>, id: SignalId) -> String {
    format!("{}-{}", at.timestamp_micros(), id.0)
}

/// Parses a `Last-Event-ID`; `None` for anything this service did not issue.
pub fn parse_event_id(raw: &str) -> Option<ChangeCursor> {
    let (micros, id) = raw.trim().split_once('-')?;
    Some(ChangeCursor {
        at: DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?,
        id: SignalId(id.parse().ok()?),
    })
}

fn frame(id: Option<&str>, event: &str, data: &[u8]) -> Bytes {
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
pub fn reset_frame(why: &str) -> Bytes {
    let data = serde_json::json!({ "reason": why }).to_string();
    frame(None, "reset", data.as_bytes())
}

fn kind_name(kind: SignalEventKind) -> &'static str {
    match kind {
        SignalEventKind::Created => "created",
        SignalEventKind::Revised => "revised",
        SignalEventKind::StatusChanged => "status_changed",
        SignalEventKind::Deleted => "deleted",
    }
}

async fn render_event(ports: &Ports, event: &SignalEvent) -> Bytes {
    let detail = if event.kind == SignalEventKind::Deleted {
        None
    } else {
        match ports.queries.signal_detail(event.signal_id).await {
            Ok(detail) => Some(detail),
            Err(StoreError::NotFound) => None,
            Err(e) => {
                tracing::warn!(error = %e, signal = event.signal_id.0, "cannot read a changed signal");
                None
            }
        }
    };
    let body = StreamEventBody {
        kind: kind_name(event.kind),
        signal_id: event.signal_id.0,
        channel_id: event.channel_id.0,
        asset: event.asset.as_str(),
        status: event.status.into(),
        at: event.at,
        signal: detail.as_ref().map(|d| SignalItem::from_row(&d.row)),
    };
    if let Some(d) = &detail {
        let age = (Utc::now() - d.row.signal.message_date).as_seconds_f64();
        metrics::histogram!(EVENT_AGE_SECONDS).record(age.max(0.0));
    }
    let data = serde_json::to_vec(&body).unwrap_or_default();
    frame(Some(&event_id(event.at, event.signal_id)), "signal", &data)
}

fn render_replayed(row: &SignalRow) -> Bytes {
    let s = &row.signal;
    let kind = if s.deleted {
        "deleted"
    } else if s.created_at == s.updated_at {
        "created"
    } else {
        "changed"
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
    let data = serde_json::to_vec(&body).unwrap_or_default();
    frame(Some(&event_id(s.updated_at, s.id)), "signal", &data)
}

/// The frames a reconnecting client missed since `last`, from the database.
pub async fn catch_up(ports: &Ports, last: ChangeCursor) -> Vec<Bytes> {
    let from = ChangeCursor {
        at: last
            .at
            .checked_sub_signed(REPLAY_OVERLAP)
            .unwrap_or(last.at),
        id: SignalId(i64::MIN),
    };
    match ports.changes.changed_since(from, REPLAY_LIMIT).await {
        Ok(rows) => {
            let mut frames: Vec<Bytes> = rows.iter().map(render_replayed).collect();
            if rows.len() >= REPLAY_LIMIT as usize {
                frames.push(reset_frame("too many changes since Last-Event-ID"));
            }
            frames
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot replay signal changes");
            vec![reset_frame("changes since Last-Event-ID are unavailable")]
        }
    }
}

/// The body of one SSE response: the preamble, the catch-up, then live frames and keep-alives
/// until the client goes away.
pub fn body(
    catch_up: Vec<Bytes>,
    receiver: broadcast::Receiver<Bytes>,
    guard: ClientGuard,
    keep_alive: Duration,
) -> impl Stream<Item = Result<Bytes, Infallible>> + 'static {
    let preamble = Bytes::from_static(b"retry: 3000\n: connected\n\n");
    let live = Live {
        receiver,
        ticker: tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive),
        _guard: guard,
    };
    let live = futures_util::stream::unfold(live, |mut s| async move {
        let frame = tokio::select! {
            received = s.receiver.recv() => match received {
                Ok(frame) => frame,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "an SSE client lagged behind");
                    reset_frame("the connection fell behind; reload")
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            },
            _ = s.ticker.tick() => Bytes::from_static(b": keep-alive\n\n"),
        };
        Some((Ok(frame), s))
    });
    futures_util::stream::iter(
        std::iter::once(preamble)
            .chain(catch_up)
            .map(Ok::<_, Infallible>),
    )
    .chain(live)
}

struct Live {
    receiver: broadcast::Receiver<Bytes>,
    ticker: tokio::time::Interval,
    _guard: ClientGuard,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip() {
        let at = DateTime::<Utc>::from_timestamp_micros(1_760_965_200_123_456).expect("time");
        let id = event_id(at, SignalId(42));
        assert_eq!(
            parse_event_id(&id),
            Some(ChangeCursor {
                at,
                id: SignalId(42)
            })
        );
        assert_eq!(parse_event_id("garbage"), None);
        assert_eq!(parse_event_id("1-x"), None);
    }
}
