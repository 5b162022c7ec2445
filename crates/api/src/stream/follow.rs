//! The fan-out's follower: one task per process reads the store's change feed from where it last
//! was and broadcasts every change in feed order. Redis events are only wake-ups (and say what
//! kind of change it was, and whose trace it continues); a poll every [`POLL`] covers events
//! lost while Redis is down, so a broker outage delays live clients, never skips a change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use domain::model::SignalId;
use domain::ports::{ChangePosition, SignalEvent, SignalEventKind, SignalEvents};
use domain::services::LiveFeed;
use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc};
use tracing::Instrument;

use super::fanout::LiveFanout;
use super::frames::{Frame, change_frame, kind_name};
use crate::state::Ports;

/// How often the feed is read without a wake-up.
pub const POLL: Duration = Duration::from_secs(1);
/// A change this recent found by a poll waits (at most this long) for its event, whose trace
/// its delivery continues.
const EVENT_GRACE: TimeDelta = TimeDelta::milliseconds(800);
/// Changes read at once.
const BATCH: u32 = 500;
/// Events remembered while their change is not readable yet.
const MAX_PENDING: usize = 10_000;

impl LiveFanout {
    /// Follows the change feed from its head now and fans changes out until the process ends.
    pub fn spawn(&self, ports: Ports) -> tokio::task::JoinHandle<()> {
        let feed = LiveFeed::new(ports.changes.clone(), ports.clock.clone());
        let (wake, woken) = mpsc::channel(4096);
        tokio::spawn(listen(ports.events.clone(), wake));
        tokio::spawn(follow(feed, woken, self.sender.clone()))
    }
}

/// Forwards every published event to the follower; resubscribes with backoff.
async fn listen(events: Arc<dyn SignalEvents>, wake: mpsc::Sender<SignalEvent>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match events.subscribe().await {
            Ok(mut stream) => {
                tracing::info!("signal stream subscribed");
                backoff = Duration::from_millis(200);
                while let Some(event) = stream.next().await {
                    if wake.is_closed() {
                        return;
                    }
                    // A full queue is fine: the follower is busy reading anyway.
                    let _ = wake.try_send(event);
                }
                tracing::warn!("signal stream subscription ended; resubscribing");
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to signal events"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// What the publisher said about a change not delivered yet.
struct Pending {
    kind: SignalEventKind,
}

async fn follow(
    feed: LiveFeed,
    mut woken: mpsc::Receiver<SignalEvent>,
    sender: broadcast::Sender<Frame>,
) {
    let mut position = loop {
        match feed.head().await {
            Ok(head) => break head,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the change feed's head; retrying");
                tokio::time::sleep(POLL).await;
            }
        }
    };
    let pending = Mutex::new(HashMap::<SignalId, Pending>::new());
    let mut ticker = tokio::time::interval(POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            event = woken.recv() => match event {
                Some(event) => Some(event),
                None => return,
            },
            _ = ticker.tick() => None,
        };
        let Some(event) = event else {
            position = deliver(&feed, &pending, &sender, position, false).await;
            continue;
        };
        remember(&pending, &event);
        while let Ok(more) = woken.try_recv() {
            remember(&pending, &more);
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
        position = deliver(&feed, &pending, &sender, position, true)
            .instrument(span)
            .await;
    }
}

fn remember(pending: &Mutex<HashMap<SignalId, Pending>>, event: &SignalEvent) {
    let mut pending = pending.lock().unwrap_or_else(|p| p.into_inner());
    if pending.len() >= MAX_PENDING {
        pending.clear();
    }
    pending.insert(event.signal_id, Pending { kind: event.kind });
}

/// Broadcasts every final change after `position`; returns the new position. A poll
/// (`woken` false) stops before a change so recent that its event is probably on its way.
async fn deliver(
    feed: &LiveFeed,
    pending: &Mutex<HashMap<SignalId, Pending>>,
    sender: &broadcast::Sender<Frame>,
    mut position: ChangePosition,
    woken: bool,
) -> ChangePosition {
    if sender.receiver_count() == 0 {
        // Nobody listens: follow the head without reading the rows (a client joining later
        // gets every change after this position, at most one wake-up older than its join).
        pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let head = feed.head().await;
        // A client that joined while the head was read may already be owed a change below it.
        if sender.receiver_count() == 0 {
            return match head {
                Ok(head) if head > position => head,
                _ => position,
            };
        }
    }
    loop {
        let batch = match feed.next(position, BATCH).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the change feed; retrying");
                return position;
            }
        };
        let full = batch.len() >= BATCH as usize;
        let fresh = Utc::now() - EVENT_GRACE;
        for change in &batch {
            let known = {
                let mut pending = pending.lock().unwrap_or_else(|p| p.into_inner());
                pending.remove(&change.row.signal.id)
            };
            if !woken && known.is_none() && change.row.signal.updated_at > fresh {
                return position;
            }
            if sender.receiver_count() > 0 {
                let _ = sender.send(change_frame(change, known.map(|k| k.kind)));
            }
            position = change.position;
        }
        if !full {
            return position;
        }
    }
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
