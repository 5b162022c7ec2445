//! The write side of persistence: one atomic unit of work per ingest batch.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::model::{
    ChannelId, Message, MessageId, Signal, SignalId, StatusChange, Ticker, TradeCall,
};

/// A message delivery to archive, with what the parser made of it.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveEntry<'a> {
    /// The delivery.
    pub message: &'a Message,
    /// `signal`, `update`, `ignored` or `rejected`.
    pub outcome: &'a str,
    /// Why it was ignored or rejected.
    pub reason: Option<&'a str>,
    /// The parser that decided.
    pub parser_version: &'a str,
}

impl<'a> ArchiveEntry<'a> {
    /// `message` as `parser_version` classed it (`outcome`), with no reason given.
    pub fn classed(message: &'a Message, outcome: &'a str, parser_version: &'a str) -> Self {
        Self {
            message,
            outcome,
            reason: None,
            parser_version,
        }
    }
}

/// A signal to store: a new message's call, or a new revision of an edited one.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSignal {
    /// Source chat.
    pub channel_id: ChannelId,
    /// Source message.
    pub message_id: MessageId,
    /// Telegram time of the message (partition column).
    pub message_date: DateTime<Utc>,
    /// Telegram time of the edit that produced this revision.
    pub edit_date: Option<DateTime<Utc>>,
    /// 1 for a new signal, the next number for an edit.
    pub revision: i32,
    /// What the message says.
    pub call: TradeCall,
    /// The text.
    pub raw_message: String,
    /// The parser that read it.
    pub parser_version: String,
    /// Who delivered it.
    pub source: Option<String>,
    /// When it is stored.
    pub recorded_at: DateTime<Utc>,
}

/// Counters of one ingest batch, kept in `metrics.processing_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchStats {
    /// Messages received.
    pub received: u32,
    /// New signals.
    pub signals: u32,
    /// Updates applied or archived.
    pub updates: u32,
    /// Ignored messages.
    pub ignored: u32,
    /// Rejected messages.
    pub rejected: u32,
    /// Re-deliveries stored as nothing.
    pub duplicates: u32,
    /// Edits that produced a revision.
    pub edits: u32,
    /// Time spent, in microseconds.
    pub duration_us: u64,
}

/// The write side of persistence: an atomic unit of work per ingest batch.
#[async_trait]
pub trait SignalStore: Send + Sync {
    /// Opens a transaction. Nothing it writes is visible until [`StoreTransaction::commit`];
    /// dropping it without commit rolls everything back.
    ///
    /// MUST return `Unavailable` when the database cannot be reached.
    async fn begin(&self) -> Result<Box<dyn StoreTransaction>, StoreError>;
}

/// The message dates a lookup may be limited to, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateWindow {
    /// Earliest date.
    pub from: DateTime<Utc>,
    /// Latest date.
    pub to: DateTime<Utc>,
}

impl DateWindow {
    /// From the earliest of `dates` minus `margin` to the latest plus `margin`; `None` without
    /// dates.
    pub fn around(
        dates: impl IntoIterator<Item = DateTime<Utc>>,
        margin: TimeDelta,
    ) -> Option<Self> {
        let mut dates = dates.into_iter();
        let first = dates.next()?;
        let (from, to) = dates.fold((first, first), |(lo, hi), d| (lo.min(d), hi.max(d)));
        Some(Self {
            from: from
                .checked_sub_signed(margin)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            to: to
                .checked_add_signed(margin)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        })
    }

    /// Whether `at` lies in the window.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at <= self.to
    }
}

/// One open transaction of [`SignalStore`]. Every method MUST return `Unavailable` when the
/// connection is lost; the whole transaction is then void.
#[async_trait]
pub trait StoreTransaction: Send {
    /// Archives deliveries. For each entry, in order, returns `true` when it was newly stored and
    /// `false` when a delivery with the same `(channel_id, message_id, edit_date)` already exists
    /// (committed by anyone, or earlier in this same call). MUST NOT fail on duplicates, and
    /// concurrent transactions archiving the same delivery MUST end with exactly one stored.
    async fn archive(&mut self, entries: &[ArchiveEntry<'_>]) -> Result<Vec<bool>, StoreError>;

    /// The signals stored for these messages (any revision, deleted included), locked until
    /// commit so concurrent edits serialise. With `dated`, only signals whose `message_date` lies
    /// in that window are returned (a store skips the partitions outside it).
    async fn signals_for_messages(
        &mut self,
        keys: &[(ChannelId, MessageId)],
        dated: Option<DateWindow>,
    ) -> Result<Vec<Signal>, StoreError>;

    /// Inserts new signals (revision 1, status open) and returns their ids in input order.
    /// MUST return `Conflict` if a signal for the same message already exists.
    async fn insert_signals(&mut self, signals: &[NewSignal]) -> Result<Vec<SignalId>, StoreError>;

    /// Replaces the call of signal `id` by a new revision, keeping the previous one in its
    /// history. MUST return `NotFound` for an unknown id.
    async fn revise_signal(&mut self, id: SignalId, revision: &NewSignal)
    -> Result<(), StoreError>;

    /// The most recent open signal (by message time) of `asset` in `channel_id`, not deleted.
    async fn latest_open_signal(
        &mut self,
        channel_id: ChannelId,
        asset: &Ticker,
    ) -> Result<Option<Signal>, StoreError>;

    /// Sets the status of signal `id` and appends the change to its history.
    /// MUST return `NotFound` for an unknown id.
    async fn change_status(
        &mut self,
        id: SignalId,
        change: &StatusChange,
    ) -> Result<(), StoreError>;

    /// Flags archived deliveries of these messages as deleted in Telegram (never removes them);
    /// returns how many rows were flagged.
    async fn mark_deleted(
        &mut self,
        channel_id: ChannelId,
        message_ids: &[MessageId],
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Names channels after the Telegram titles the gateway sent (`(channel, title)`, at most
    /// one per channel): creates the channel's settings when it has none, and replaces a label
    /// only when it was learned this way too — a label an operator (or an import) set is kept.
    async fn learn_channel_titles(
        &mut self,
        titles: &[(ChannelId, String)],
    ) -> Result<(), StoreError>;

    /// Records the counters of this batch.
    async fn record_stats(
        &mut self,
        stats: &BatchStats,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Makes everything durable. Only after it returns `Ok` may the caller acknowledge.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_window_spans_its_dates_and_the_margin_both_ends_included() {
        let day = |d| Utc.with_ymd_and_hms(2025, 10, d, 12, 0, 0).unwrap();
        assert_eq!(DateWindow::around([], TimeDelta::days(7)), None);
        let w =
            DateWindow::around([day(20), day(10), day(15)], TimeDelta::days(1)).expect("a window");
        assert_eq!((w.from, w.to), (day(9), day(21)));
        assert!(w.contains(day(9)) && w.contains(day(21)));
        assert!(!w.contains(day(8)) && !w.contains(day(22)));
        let all = DateWindow::around([day(1)], TimeDelta::MAX).expect("a window");
        assert!(all.contains(DateTime::<Utc>::MIN_UTC) && all.contains(DateTime::<Utc>::MAX_UTC));
    }
}
