//! What the ingest notes about each delivery besides its content: the time it was received
//! (the dashboard keys its rows by `ingested_at`, so no two messages may share one, even when a
//! batch or a group commit stores many at once) and its chat's Telegram title (the channel's
//! label unless an operator set one).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::model::{ChannelId, Message};
use crate::ports::Clock;

/// Longest label learned from a chat title, in characters (the api's limit for labels).
pub const MAX_LEARNED_LABEL: usize = 100;

/// The chat titles this process already stored, so a batch only writes the ones that are new
/// or changed (shared by clones).
#[derive(Debug, Clone, Default)]
pub struct ChannelTitles {
    stored: Arc<Mutex<HashMap<ChannelId, String>>>,
}

impl ChannelTitles {
    /// The last title of each chat among `messages` that differs from what was stored.
    pub fn unknown(&self, messages: &[Message]) -> Vec<(ChannelId, String)> {
        let mut last: HashMap<ChannelId, &str> = HashMap::new();
        for m in messages {
            if let Some(title) = m.chat_title() {
                last.insert(m.channel_id, title);
            }
        }
        if last.is_empty() {
            return Vec::new();
        }
        let stored = self.stored.lock().unwrap_or_else(|p| p.into_inner());
        let mut fresh: Vec<(ChannelId, String)> = last
            .into_iter()
            .map(|(c, t)| (c, t.chars().take(MAX_LEARNED_LABEL).collect::<String>()))
            .filter(|(c, t)| stored.get(c) != Some(t))
            .collect();
        fresh.sort();
        fresh
    }

    /// Notes titles as stored (after their commit).
    pub fn learned(&self, titles: Vec<(ChannelId, String)>) {
        if titles.is_empty() {
            return;
        }
        let mut stored = self.stored.lock().unwrap_or_else(|p| p.into_inner());
        stored.extend(titles);
    }
}

/// Hands out receipt times: the clock's time in microseconds, but strictly increasing across
/// every clone (one per process), so each message gets its own. A batch's messages get
/// consecutive microseconds in input order.
#[derive(Clone)]
pub struct ReceiptClock {
    clock: Arc<dyn Clock>,
    last_micros: Arc<AtomicI64>,
}

impl std::fmt::Debug for ReceiptClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptClock")
            .field("last_micros", &self.last_micros.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl ReceiptClock {
    /// A receipt clock over `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            last_micros: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    /// The receipt time of one message.
    pub fn stamp(&self) -> DateTime<Utc> {
        self.stamps(1)[0]
    }

    /// The receipt times of `n` messages received together, in order (at least one is
    /// reserved, so the answer is never empty).
    pub fn stamps(&self, n: usize) -> Vec<DateTime<Utc>> {
        let n = i64::try_from(n.max(1)).unwrap_or(i64::MAX);
        let now = self.clock.now().timestamp_micros();
        let mut first = now;
        let _ = self
            .last_micros
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
                first = now.max(last.saturating_add(1));
                Some(first.saturating_add(n - 1))
            });
        (0..n)
            .filter_map(|i| DateTime::from_timestamp_micros(first.saturating_add(i)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    struct Frozen;

    impl Clock for Frozen {
        fn now(&self) -> DateTime<Utc> {
            DateTime::from_timestamp_micros(1_760_965_200_123_456).expect("time")
        }
    }

    #[test]
    fn times_are_distinct_and_increasing_even_on_a_frozen_clock() {
        let clock = ReceiptClock::new(Arc::new(Frozen));
        let first = clock.stamp();
        assert_eq!(first.timestamp_micros(), 1_760_965_200_123_456);
        let batch = clock.stamps(1000);
        assert_eq!(batch.len(), 1000);
        assert!(batch.windows(2).all(|w| w[1] > w[0]));
        assert!(batch[0] > first);
        let copy = clock.clone();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let c = copy.clone();
                std::thread::spawn(move || (0..500).map(|_| c.stamp()).collect::<Vec<_>>())
            })
            .collect();
        let all: HashSet<_> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("thread"))
            .chain(batch)
            .collect();
        assert_eq!(all.len(), 5000);
    }
}
