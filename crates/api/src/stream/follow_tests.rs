//! The follower's race with a joining client.

use std::sync::Arc;
use std::sync::Mutex as StdMutex;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use domain::memory::{MemoryCache, MemoryEvents, MemoryStore};
use domain::model::{ChannelId, Message, MessageId};
use domain::ports::{SignalChange, SignalChanges, StoreError, SystemClock};
use domain::services::IngestService;

use super::*;

/// A feed whose head is read while a client joins (the join runs inside `head`).
struct JoinDuringHead {
    store: MemoryStore,
    join: StdMutex<Option<Box<dyn FnOnce() + Send>>>,
}

#[async_trait]
impl SignalChanges for JoinDuringHead {
    async fn head(&self) -> Result<ChangePosition, StoreError> {
        if let Some(join) = self.join.lock().expect("lock").take() {
            join();
        }
        self.store.head().await
    }

    async fn changes_after(
        &self,
        after: ChangePosition,
        limit: u32,
    ) -> Result<Vec<SignalChange>, StoreError> {
        self.store.changes_after(after, limit).await
    }
}

#[tokio::test]
async fn a_client_joining_while_the_head_is_read_gets_the_change_below_it() {
    let store = MemoryStore::new();
    let start = store.head().await.expect("head");
    IngestService::new(
        Arc::new(store.clone()),
        Arc::new(MemoryEvents::new()),
        Arc::new(MemoryCache::new()),
        Arc::new(SystemClock),
    )
    .ingest(
        &[Message {
            channel_id: ChannelId(-1001),
            message_id: MessageId(1),
            text: "Ativo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nStop: 0,70".into(),
            date: Utc.with_ymd_and_hms(2025, 10, 20, 13, 0, 0).unwrap(),
            edit_date: None,
            media_type: None,
            source: None,
            metadata: serde_json::json!({}),
        }],
        None,
    )
    .await
    .expect("ingest");

    let (sender, _) = broadcast::channel(8);
    let joined = Arc::new(StdMutex::new(None));
    let (join_sender, join_slot) = (sender.clone(), joined.clone());
    let changes = JoinDuringHead {
        store,
        join: StdMutex::new(Some(Box::new(move || {
            *join_slot.lock().expect("lock") = Some(join_sender.subscribe());
        }))),
    };
    let feed = LiveFeed::new(Arc::new(changes), Arc::new(SystemClock));
    let pending = Mutex::new(HashMap::new());

    let position = deliver(&feed, &pending, &sender, start, true).await;

    let mut receiver = joined
        .lock()
        .expect("lock")
        .take()
        .expect("the client joined");
    assert!(receiver.try_recv().is_ok(), "the change reached the client");
    assert!(position > start);
}
