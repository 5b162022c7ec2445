//! The live feed's replay rules over in-memory adapters: a reconnecting client replays every
//! change after its position in order, but only from a position the feed issued, only a bounded
//! number of changes and only recent ones; otherwise it is told to reload.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use domain::memory::{FixedClock, MemoryCache, MemoryEvents, MemoryStore};
use domain::ports::{ChangePosition, SignalChanges};
use domain::services::{IngestService, LiveFeed, Replay, ReplayRules, ResetReason};
use domain::{ChannelId, Message, MessageId};
use futures_executor::block_on;

const CHANNEL: ChannelId = ChannelId(-1001);
const CALL: &str = "Ativo: VALE3\nCompra: 60,00\nAlvo 1: 62,00\nStop: 58,00";
const RULES: ReplayRules = ReplayRules {
    max_changes: 5,
    max_age: TimeDelta::minutes(5),
};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 13, 0, 0)
        .single()
        .expect("date")
}

struct World {
    store: MemoryStore,
    clock: Arc<FixedClock>,
    ingest: IngestService,
    feed: LiveFeed,
}

fn world() -> World {
    let store = MemoryStore::new();
    let clock = Arc::new(FixedClock::new(start()));
    let ingest = IngestService::new(
        Arc::new(store.clone()),
        Arc::new(MemoryEvents::new()),
        Arc::new(MemoryCache::new()),
        clock.clone(),
    );
    let feed = LiveFeed::new(Arc::new(store.clone()), clock.clone());
    World {
        store,
        clock,
        ingest,
        feed,
    }
}

impl World {
    /// Creates one signal per id, a second apart.
    fn create(&self, ids: std::ops::Range<i64>) {
        for id in ids {
            self.clock.advance(TimeDelta::seconds(1));
            let message = Message {
                channel_id: CHANNEL,
                message_id: MessageId(id),
                text: CALL.to_owned(),
                date: self.clock_now(),
                edit_date: None,
                media_type: None,
                source: None,
                metadata: serde_json::json!({}),
            };
            block_on(self.ingest.ingest(&[message], None)).expect("ingest");
        }
    }

    fn clock_now(&self) -> DateTime<Utc> {
        use domain::ports::Clock;
        self.clock.now()
    }

    fn replayed(&self, from: ChangePosition) -> Result<Vec<i64>, ResetReason> {
        match block_on(self.feed.replay(from, RULES)) {
            Replay::Changes(changes) => {
                Ok(changes.iter().map(|c| c.row.signal.message_id.0).collect())
            }
            Replay::Reset(reason) => Err(reason),
        }
    }
}

#[test]
fn a_recent_position_replays_every_later_change_in_order() {
    let w = world();
    w.create(1..3);
    let seen = block_on(w.store.head()).expect("head");
    w.create(3..6);
    assert_eq!(w.replayed(seen), Ok(vec![3, 4, 5]));
    let last = block_on(w.store.changes_after(seen, 10)).expect("changes")[2].position;
    assert_eq!(w.replayed(last), Ok(vec![]), "nothing after the last");
}

#[test]
fn too_many_changes_or_too_old_a_position_means_reload() {
    let w = world();
    let seen = block_on(w.store.head()).expect("head");
    w.create(1..7);
    assert_eq!(w.replayed(seen), Err(ResetReason::TooManyChanges));
    let recent = block_on(w.store.changes_after(seen, 10)).expect("changes")[3].position;
    assert_eq!(w.replayed(recent), Ok(vec![5, 6]));
    w.clock.advance(TimeDelta::minutes(10));
    assert_eq!(w.replayed(recent), Err(ResetReason::TooOld));
}

#[test]
fn a_position_the_feed_never_issued_means_reload() {
    let w = world();
    w.create(1..2);
    let future = ChangePosition {
        tx: u64::MAX,
        id: domain::SignalId(1),
    };
    assert_eq!(w.replayed(future), Err(ResetReason::UnknownPosition));
}
