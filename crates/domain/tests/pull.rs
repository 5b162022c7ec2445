//! The pull consumer's policy over in-memory adapters: acknowledge after commit and whatever the
//! outcome, never when the store is down, owed acknowledgements sent first, the ledger, and the
//! reconciliation of rows swallowed by another channel's acknowledgement.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use domain::memory::{FixedClock, MemoryCache, MemoryEvents, MemoryStore};
use domain::ports::{FeedError, FeedItem, FeedStatus, GatewayFeed, SyncReport};
use domain::services::{IngestService, PullConsumer, PullError};
use domain::{ChannelId, Message, MessageId};
use futures_executor::block_on;

const A: ChannelId = ChannelId(-1001);
const B: ChannelId = ChannelId(-1002);

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 13, 0, 0)
        .single()
        .expect("date")
}

#[derive(Debug, Clone)]
struct Row {
    channel: ChannelId,
    id: i64,
    text: Option<String>,
    published_by: Option<String>,
}

/// A gateway holding rows, acknowledging by message id in every channel as the real one does.
#[derive(Debug, Default)]
struct Feed {
    rows: Mutex<Vec<Row>>,
    fail_acks: Mutex<bool>,
    acks: Mutex<Vec<Vec<String>>>,
}

impl Feed {
    fn add(&self, channel: ChannelId, id: i64, text: Option<&str>) {
        self.rows.lock().expect("rows").push(Row {
            channel,
            id,
            text: text.map(str::to_owned),
            published_by: None,
        });
    }
}

#[async_trait]
impl GatewayFeed for Feed {
    async fn list(
        &self,
        channel: ChannelId,
        status: FeedStatus,
        limit: usize,
    ) -> Result<Vec<FeedItem>, FeedError> {
        let name = channel.to_string();
        Ok(self
            .rows
            .lock()
            .expect("rows")
            .iter()
            .filter(|r| r.channel == channel)
            .filter(|r| match status {
                FeedStatus::Pending => r.published_by.is_none(),
                FeedStatus::PublishedElsewhere => {
                    r.published_by.as_ref().is_some_and(|by| *by != name)
                }
            })
            .take(limit)
            .map(|r| FeedItem {
                ack_id: r.id.to_string(),
                received_at: Some(at()),
                processed_by: r.published_by.clone(),
                message: match &r.text {
                    Some(text) => Ok(Message {
                        channel_id: r.channel,
                        message_id: MessageId(r.id),
                        text: text.clone(),
                        date: at(),
                        edit_date: None,
                        media_type: None,
                        source: None,
                        metadata: serde_json::json!({}),
                    }),
                    None => Err("messageId: must be a positive integer".to_owned()),
                },
            })
            .collect())
    }

    async fn acknowledge(&self, channel: ChannelId, ack_ids: &[String]) -> Result<u64, FeedError> {
        if *self.fail_acks.lock().expect("flag") {
            return Err(FeedError::Unavailable("connection refused".into()));
        }
        self.acks.lock().expect("acks").push(ack_ids.to_vec());
        let mut n = 0;
        for row in self.rows.lock().expect("rows").iter_mut() {
            if ack_ids.contains(&row.id.to_string()) {
                row.published_by = Some(channel.to_string());
                n += 1;
            }
        }
        Ok(n)
    }

    async fn request_sync(&self, _limit: usize) -> Result<SyncReport, FeedError> {
        Ok(SyncReport::default())
    }
}

fn consumer(feed: Arc<Feed>, store: &MemoryStore, page: usize) -> PullConsumer {
    let service = IngestService::new(
        Arc::new(store.clone()),
        Arc::new(MemoryEvents::new()),
        Arc::new(MemoryCache::new()),
        Arc::new(FixedClock::new(at())),
    );
    PullConsumer::new(
        feed,
        Arc::new(service),
        Arc::new(FixedClock::new(at() + chrono::Duration::seconds(30))),
        page,
    )
}

const CALL: &str = "Ativo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nStop: 0,70";

#[test]
fn every_outcome_is_stored_then_acknowledged_and_the_ledger_counts_it() {
    let feed = Arc::new(Feed::default());
    for id in 1..=5 {
        feed.add(A, id, Some("")); // photo-only
    }
    feed.add(A, 6, Some(CALL));
    feed.add(A, 6, Some(CALL)); // the gateway's duplicate row
    feed.add(A, 7, Some("bom dia"));
    feed.add(A, 8, None); // unreadable
    let store = MemoryStore::new();
    let c = consumer(feed.clone(), &store, 4);
    let report = block_on(c.drain(A, 10)).expect("drain");
    assert_eq!((report.pages, report.seen), (3, 9));
    assert_eq!(
        (report.stored, report.duplicates, report.invalid),
        (7, 1, 1)
    );
    assert_eq!(report.lag_seconds, 30.0);
    assert!(
        feed.rows
            .lock()
            .expect("rows")
            .iter()
            .all(|r| r.published_by.is_some())
    );
    assert_eq!(store.snapshot().archive.len(), 7);
    let ledger = c.ledger()[&A].clone();
    assert_eq!(
        (ledger.stored, ledger.invalid, ledger.acknowledged),
        (7, 1, 8)
    );
    assert!(ledger.unacknowledged.is_empty());
}

#[test]
fn nothing_is_acknowledged_while_the_store_is_down() {
    let feed = Arc::new(Feed::default());
    feed.add(A, 1, Some(CALL));
    let store = MemoryStore::new();
    store.set_unavailable(true);
    let c = consumer(feed.clone(), &store, 10);
    let err = block_on(c.drain(A, 10)).expect_err("store down");
    assert!(matches!(err, PullError::Store(_)), "{err:?}");
    assert!(feed.acks.lock().expect("acks").is_empty());
    assert!(c.ledger()[&A].last_error.is_some());
    store.set_unavailable(false);
    let report = block_on(c.drain(A, 10)).expect("drain");
    assert_eq!((report.stored, report.acknowledged), (1, 1));
}

#[test]
fn an_acknowledgement_that_failed_is_owed_and_sent_first() {
    let feed = Arc::new(Feed::default());
    feed.add(A, 1, Some(CALL));
    let store = MemoryStore::new();
    let c = consumer(feed.clone(), &store, 10);
    *feed.fail_acks.lock().expect("flag") = true;
    assert!(matches!(block_on(c.drain(A, 10)), Err(PullError::Feed(_))));
    assert_eq!(c.ledger()[&A].unacknowledged, vec!["1".to_owned()]);
    assert_eq!(
        store.snapshot().archive.len(),
        1,
        "stored before the acknowledgement"
    );
    *feed.fail_acks.lock().expect("flag") = false;
    let report = block_on(c.drain(A, 10)).expect("drain");
    assert_eq!(feed.acks.lock().expect("acks")[0], vec!["1".to_owned()]);
    assert_eq!(report.acknowledged, 1);
    assert!(c.ledger()[&A].unacknowledged.is_empty());
}

#[test]
fn the_reconciliation_stores_a_row_swallowed_by_another_channels_acknowledgement() {
    let feed = Arc::new(Feed::default());
    feed.add(A, 42, Some(CALL));
    feed.add(B, 42, Some("bom dia"));
    let store = MemoryStore::new();
    let c = consumer(feed.clone(), &store, 10);
    block_on(c.drain(A, 10)).expect("drain a");
    let b = block_on(c.drain(B, 10)).expect("drain b");
    assert_eq!(b.seen, 0, "b's 42 was acknowledged with a's");
    let healed = block_on(c.reconcile(B)).expect("reconcile");
    assert_eq!(healed.healed, 1);
    assert_eq!(store.snapshot().archive.len(), 2);
    assert_eq!(
        block_on(c.reconcile(B)).expect("again").healed,
        0,
        "stored once"
    );
    assert_eq!(c.ledger()[&B].healed, 1);
}
