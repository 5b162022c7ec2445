//! The events port on Redis pub/sub: JSON [`SignalEvent`]s on `{namespace}:signals`, one per
//! message, or a batch's as one JSON array (one `PUBLISH` for a thousand events, where one each
//! cost Redis and both services a message apiece); subscribers read both forms.
//!
//! Publishing uses the master connection. Subscribing shares ONE subscriber connection per
//! [`crate::Redis`] handle, whatever the number of subscribers (one per SSE client in the api):
//! a task re-subscribes after every reconnection and fans messages out to every stream.
//! Events published while the subscriber is disconnected are lost; readers reconcile from the
//! store.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use domain::ports::{CacheError, EventStream, SignalEvent, SignalEvents};
use fred::clients::SubscriberClient;
use fred::prelude::{ClientLike, EventInterface, PubsubInterface};
use fred::types::Message;
use futures_util::StreamExt;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::BroadcastStream;

use crate::connection::{Shared, builder, unavailable};

/// How many events a slow subscriber may fall behind before it skips some.
const FAN_OUT_CAPACITY: usize = 4096;

/// Most events in one message (~250 bytes each as JSON).
const EVENTS_PER_MESSAGE: usize = 1000;

/// [`SignalEvents`] over Redis pub/sub. Cheap to clone; made by [`crate::Redis::events`].
#[derive(Debug, Clone)]
pub struct RedisEvents {
    shared: Arc<Shared>,
}

impl RedisEvents {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The pub/sub channel, `{namespace}:signals`.
    pub fn channel(&self) -> &str {
        &self.shared.keys.channel
    }
}

impl RedisEvents {
    /// Publishes `events` as JSON arrays of up to [`EVENTS_PER_MESSAGE`], in order, pipelined
    /// over the master connection; returns how many events were in messages that failed.
    async fn publish_batches(&self, events: &[SignalEvent]) -> usize {
        let shared = &*self.shared;
        let master = shared.master.with_options(&shared.fail_fast);
        let sends = events.chunks(EVENTS_PER_MESSAGE).map(|chunk| {
            let master = &master;
            async move {
                let payload = serde_json::to_string(chunk)
                    .map_err(|error| CacheError::Unavailable(format!("encode events: {error}")))?;
                master
                    .publish::<i64, _, _>(shared.keys.channel.clone(), payload)
                    .await
                    .map_err(|error| shared.master_error(error))
            }
        });
        let sent = futures_util::future::join_all(sends).await;
        events
            .chunks(EVENTS_PER_MESSAGE)
            .zip(sent)
            .filter(|(_, sent)| sent.is_err())
            .map(|(chunk, _)| chunk.len())
            .sum()
    }
}

#[async_trait]
impl SignalEvents for RedisEvents {
    async fn publish(&self, event: &SignalEvent) -> Result<(), CacheError> {
        let payload = serde_json::to_string(event)
            .map_err(|error| CacheError::Unavailable(format!("encode event: {error}")))?;
        let shared = &*self.shared;
        let _receivers: i64 = shared
            .master
            .with_options(&shared.fail_fast)
            .publish(shared.keys.channel.clone(), payload)
            .await
            .map_err(|error| shared.master_error(error))?;
        Ok(())
    }

    /// Sends the events as JSON arrays (one message per thousand), without waiting for the
    /// previous reply (fred pipelines commands issued together on one connection).
    async fn publish_all(&self, events: &[SignalEvent]) -> usize {
        use tracing::Instrument;
        let span = tracing::info_span!("redis publish", events = events.len());
        self.publish_batches(events).instrument(span).await
    }
    /// Returns once the shared subscription is established, or after `connect_timeout` when
    /// Redis is down: the stream then starts delivering when the subscription heals.
    async fn subscribe(&self) -> Result<EventStream, CacheError> {
        let shared = &*self.shared;
        let hub = shared
            .hub
            .get_or_try_init(|| async { EventHub::start(shared) })
            .await?;
        let receiver = hub.receiver()?;
        hub.wait_active(shared.config.connect_timeout).await;
        let stream = BroadcastStream::new(receiver).filter_map(|item| async move {
            match item {
                Ok(event) => Some(event),
                Err(lagged) => {
                    tracing::warn!(%lagged, "signal event subscriber too slow; events skipped");
                    None
                }
            }
        });
        Ok(Box::pin(stream))
    }
}

/// The shared subscription: one connection, one re-subscribing task, one fan-out task.
#[derive(Debug)]
pub(crate) struct EventHub {
    client: SubscriberClient,
    sender: Mutex<Option<broadcast::Sender<SignalEvent>>>,
    active: watch::Receiver<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl EventHub {
    fn start(shared: &Shared) -> Result<Self, CacheError> {
        let config = &shared.config;
        let mut settings = config
            .client_settings(&config.master_url, "master")
            .map_err(|error| CacheError::Unavailable(error.to_string()))?;
        // fred's own queue of received messages, before our fan-out.
        settings.performance.broadcast_channel_capacity = FAN_OUT_CAPACITY;
        let client = builder(&settings)
            .build_subscriber_client()
            .map_err(unavailable)?;
        let reconnects = client.reconnect_rx();
        let messages = client.message_rx();
        drop(client.connect());

        let (sender, _) = broadcast::channel(FAN_OUT_CAPACITY);
        let (activity, active) = watch::channel(false);
        let channel = shared.keys.channel.clone();
        let tasks = vec![
            tokio::spawn(fan_out(messages, channel.clone(), sender.clone())),
            tokio::spawn(keep_subscribed(
                client.clone(),
                reconnects,
                channel,
                activity,
                config.reconnect_min_delay,
            )),
        ];
        Ok(Self {
            client,
            sender: Mutex::new(Some(sender)),
            active,
            tasks: Mutex::new(tasks),
        })
    }

    fn receiver(&self) -> Result<broadcast::Receiver<SignalEvent>, CacheError> {
        let guard = self
            .sender
            .lock()
            .map_err(|_| CacheError::Unavailable("event hub poisoned".into()))?;
        guard
            .as_ref()
            .map(broadcast::Sender::subscribe)
            .ok_or_else(|| CacheError::Unavailable("redis events shut down".into()))
    }

    async fn wait_active(&self, timeout: Duration) {
        let mut active = self.active.clone();
        let _ = tokio::time::timeout(timeout, active.wait_for(|up| *up)).await;
    }

    pub(crate) fn is_active(&self) -> bool {
        *self.active.borrow() && self.client.is_connected()
    }

    pub(crate) fn client(&self) -> SubscriberClient {
        self.client.clone()
    }

    /// Ends every stream and closes the subscriber connection.
    pub(crate) async fn shutdown(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let tasks = match self.tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for task in tasks {
            task.abort();
        }
        let _ = self.client.quit().await;
    }
}

/// Decodes every message of our channel and hands it to every subscriber stream.
async fn fan_out(
    mut messages: broadcast::Receiver<Message>,
    channel: String,
    sender: broadcast::Sender<SignalEvent>,
) {
    loop {
        match messages.recv().await {
            Ok(message) if *message.channel == *channel => match message.value.as_bytes() {
                Some(payload) => match decode(payload) {
                    Ok(events) => {
                        for event in events {
                            // No receiver is fine: nobody is listening right now.
                            let _ = sender.send(event);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "undecodable signal event skipped"),
                },
                None => tracing::warn!("non-text signal event skipped"),
            },
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                tracing::warn!(skipped, "redis subscriber lagged; signal events skipped");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The events of one message: a JSON array of events, or one event.
pub(crate) fn decode(payload: &[u8]) -> Result<Vec<SignalEvent>, serde_json::Error> {
    if payload.trim_ascii_start().first() == Some(&b'[') {
        serde_json::from_slice(payload)
    } else {
        serde_json::from_slice(payload).map(|event| vec![event])
    }
}

/// (Re)subscribes after every connection, retrying until the server accepts.
async fn keep_subscribed(
    client: SubscriberClient,
    mut reconnects: broadcast::Receiver<fred::types::config::Server>,
    channel: String,
    activity: watch::Sender<bool>,
    retry_delay: Duration,
) {
    loop {
        match reconnects.recv().await {
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
        activity.send_replace(false);
        loop {
            match client.subscribe(channel.as_str()).await {
                Ok(()) => {
                    activity.send_replace(true);
                    tracing::info!(channel, "subscribed to signal events");
                    break;
                }
                Err(error) => {
                    tracing::debug!(%error, "redis subscribe failed; retrying");
                    tokio::time::sleep(retry_delay).await;
                    if !client.is_connected() {
                        // The next connection brings its own reconnect event.
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use domain::model::{ChannelId, SignalId, SignalStatus, Ticker};
    use domain::ports::{SignalEvent, SignalEventKind};

    use super::decode;

    fn event(id: i64) -> SignalEvent {
        SignalEvent {
            kind: SignalEventKind::Created,
            signal_id: SignalId(id),
            channel_id: ChannelId(-100),
            asset: Ticker::parse("PETR4").expect("ticker"),
            status: SignalStatus::Open,
            at: Utc.timestamp_opt(1_760_000_000, 0).single().expect("time"),
            traceparent: None,
        }
    }

    #[test]
    fn a_message_holds_one_event_or_an_array_of_them() {
        let one = serde_json::to_vec(&event(1)).expect("encode");
        assert_eq!(decode(&one).expect("one"), [event(1)]);
        let batch = serde_json::to_vec(&[event(2), event(3)]).expect("encode");
        assert_eq!(decode(&batch).expect("batch"), [event(2), event(3)]);
        assert_eq!(decode(b"  []").expect("empty"), []);
        assert!(decode(b"[{\"kind\":1}]").is_err());
        assert!(decode(b"not json").is_err());
    }
}
