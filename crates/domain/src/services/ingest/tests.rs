//! Unit tests of the ingest service over the in-memory adapters.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use futures_executor::block_on;

use super::*;
use crate::memory::{FixedClock, MemoryCache, MemoryEvents, MemoryStore};
use crate::ports::{CacheLookup, CacheScope, SignalCache};

const CALL: &str =
    "🟢Swing Trade\nAtivo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nAlvo 2: 2,15\nStop: 0,70";

struct World {
    store: MemoryStore,
    cache: Arc<MemoryCache>,
    events: Arc<MemoryEvents>,
    service: IngestService,
}

fn world() -> World {
    let store = MemoryStore::new();
    let cache = Arc::new(MemoryCache::new());
    let events = Arc::new(MemoryEvents::new());
    let clock = Arc::new(FixedClock::new(at(12)));
    let service = IngestService::new(
        Arc::new(store.clone()),
        events.clone(),
        cache.clone(),
        clock,
    );
    World {
        store,
        cache,
        events,
        service,
    }
}

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 20, hour, 0, 0)
        .single()
        .expect("valid time")
}

fn message(channel: i64, id: i64, text: &str) -> Message {
    Message {
        channel_id: ChannelId(channel),
        message_id: MessageId(id),
        text: text.to_owned(),
        date: at(10),
        edit_date: None,
        media_type: None,
        source: Some("bot".into()),
        metadata: serde_json::Value::Null,
    }
}

/// The trace of the request the tests ingest for.
fn trace() -> TraceContext {
    TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").expect("trace")
}

fn ingest(w: &World, messages: &[Message]) -> IngestReport {
    block_on(w.service.ingest(messages, Some(&trace()))).expect("ingest succeeds")
}

#[test]
fn a_call_becomes_an_open_signal_and_is_announced() {
    let w = world();
    let report = ingest(&w, &[message(-100, 1, CALL)]);
    let receipt = &report.receipts[0];
    assert_eq!(
        (receipt.outcome, receipt.stored),
        (Disposition::Signal, true)
    );
    let state = w.store.snapshot();
    assert_eq!(state.signals.len(), 1);
    let signal = state.signals.values().next().expect("one signal");
    assert_eq!(Some(signal.id), receipt.signal_id);
    assert_eq!(signal.status, SignalStatus::Open);
    assert_eq!(signal.call.asset.as_str(), "BOVAW32");
    let events = w.events.published();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, SignalEventKind::Created);
    assert_eq!(events[0].traceparent, Some(trace()));
    assert_eq!(state.stats.len(), 1);
    assert_eq!(state.stats[0].signals, 1);
}

#[test]
fn a_reply_without_asset_updates_the_call_it_replies_to() {
    let w = world();
    let second = CALL.replace("Alvo 1: 1,15", "Alvo 1: 1,20");
    ingest(&w, &[message(-100, 1, CALL), message(-100, 2, &second)]);
    let reply = |id: i64, to: serde_json::Value| Message {
        metadata: serde_json::json!({"replyTo": {"messageId": to}}),
        ..message(-100, id, "Alvo 1 atingido ✅")
    };
    let report = ingest(&w, &[reply(3, 1.into())]);
    let first_id = w
        .store
        .snapshot()
        .signals
        .values()
        .find(|s| s.message_id == MessageId(1))
        .map(|s| s.id);
    assert_eq!(
        report.receipts[0].signal_id, first_id,
        "the replied call, not the latest"
    );
    let statuses: Vec<_> = {
        let state = w.store.snapshot();
        let mut s: Vec<_> = state
            .signals
            .values()
            .map(|s| (s.message_id.0, s.status))
            .collect();
        s.sort_by_key(|(id, _)| *id);
        s
    };
    assert_eq!(
        statuses,
        vec![
            (1, SignalStatus::TargetHit { index: Some(1) }),
            (2, SignalStatus::Open)
        ]
    );
    // No reply, or a reply to a message that is no call: no signal changes.
    let none = ingest(
        &w,
        &[
            message(-100, 4, "Alvo 1 atingido ✅"),
            reply(5, "99".into()),
        ],
    );
    assert!(none.receipts.iter().all(|r| r.signal_id.is_none()));
    assert_eq!(
        w.store
            .snapshot()
            .signals
            .values()
            .filter(|s| s.status == SignalStatus::Open)
            .count(),
        1
    );
}

#[test]
fn redelivery_stores_once() {
    let w = world();
    let first = ingest(&w, &[message(-100, 1, CALL)]);
    let again = ingest(&w, &[message(-100, 1, CALL), message(-100, 1, CALL)]);
    assert_eq!(first.receipts[0].outcome, Disposition::Signal);
    assert!(
        again
            .receipts
            .iter()
            .all(|r| r.outcome == Disposition::Duplicate && !r.stored)
    );
    let state = w.store.snapshot();
    assert_eq!((state.signals.len(), state.archive.len()), (1, 1));
}

#[test]
fn duplicates_inside_one_batch_store_once() {
    let w = world();
    let report = ingest(&w, &[message(-100, 1, CALL), message(-100, 1, CALL)]);
    let outcomes: Vec<_> = report.receipts.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, vec![Disposition::Signal, Disposition::Duplicate]);
    assert_eq!(w.store.snapshot().signals.len(), 1);
}

#[test]
fn the_same_message_id_in_two_channels_is_two_signals() {
    let w = world();
    ingest(&w, &[message(-100, 1, CALL), message(-200, 1, CALL)]);
    assert_eq!(w.store.snapshot().signals.len(), 2);
}

#[test]
fn a_newer_edit_is_a_revision_and_an_older_one_changes_nothing() {
    let w = world();
    ingest(&w, &[message(-100, 1, CALL)]);
    let edited = Message {
        edit_date: Some(at(11)),
        text: CALL.replace("0,70", "0,80"),
        ..message(-100, 1, "")
    };
    let report = ingest(&w, std::slice::from_ref(&edited));
    assert_eq!(report.receipts[0].outcome, Disposition::Edited);
    let stale = Message {
        edit_date: Some(at(10)),
        text: CALL.replace("0,70", "0,60"),
        ..message(-100, 1, "")
    };
    let report = ingest(&w, &[stale, edited]);
    assert_eq!(report.receipts[0].outcome, Disposition::Signal);
    assert_eq!(report.receipts[1].outcome, Disposition::Duplicate);
    let state = w.store.snapshot();
    let signal = state.signals.values().next().expect("signal");
    assert_eq!(signal.revision, 2);
    assert_eq!(signal.call.stop.map(|s| s.to_string()), Some("0.8".into()));
    let history = &state.revisions[&signal.id];
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0].call.stop.map(|s| s.to_string()),
        Some("0.7".into())
    );
}

#[test]
fn an_edit_whose_date_is_hours_off_still_revises_its_signal() {
    let w = world();
    ingest(&w, &[message(-100, 1, CALL)]);
    let edited = Message {
        date: at(13),
        edit_date: Some(at(11)),
        text: CALL.replace("0,70", "0,80"),
        ..message(-100, 1, "")
    };
    let report = ingest(&w, &[edited]);
    assert_eq!(report.receipts[0].outcome, Disposition::Edited);
    let state = w.store.snapshot();
    assert_eq!(state.signals.len(), 1);
    assert_eq!(state.signals.values().next().expect("signal").revision, 2);
}

#[test]
fn updates_change_the_latest_open_signal_of_that_asset_in_that_channel() {
    let w = world();
    ingest(&w, &[message(-100, 1, CALL), message(-200, 1, CALL)]);
    let report = ingest(&w, &[message(-100, 2, "✅ Alvo 1 atingido em BOVAW32!")]);
    let receipt = &report.receipts[0];
    assert_eq!(receipt.outcome, Disposition::Update);
    let state = w.store.snapshot();
    let updated = &state.signals[&receipt.signal_id.expect("an updated signal")];
    assert_eq!(updated.channel_id, ChannelId(-100));
    assert_eq!(updated.status, SignalStatus::TargetHit { index: Some(1) });
    let other = state
        .signals
        .values()
        .find(|s| s.channel_id == ChannelId(-200))
        .expect("other channel");
    assert_eq!(other.status, SignalStatus::Open);
    assert_eq!(state.history[&updated.id].len(), 1);
}

#[test]
fn a_call_and_its_update_in_one_batch_apply_in_order() {
    let w = world();
    let report = ingest(
        &w,
        &[
            message(-100, 1, CALL),
            message(-100, 2, "BOVAW32 stop\n-25%"),
        ],
    );
    let id = report.receipts[0].signal_id.expect("signal id");
    assert_eq!(report.receipts[1].signal_id, Some(id));
    assert_eq!(
        w.store.snapshot().signals[&id].status,
        SignalStatus::Stopped
    );
}

#[test]
fn an_update_without_open_signal_is_archived_with_a_reason() {
    let w = world();
    let report = ingest(&w, &[message(-100, 2, "Operação CANCELADA: ABEVK122")]);
    let receipt = &report.receipts[0];
    assert_eq!(
        (receipt.outcome, receipt.signal_id),
        (Disposition::Update, None)
    );
    assert!(
        receipt
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("no open signal of ABEVK122")
    );
    assert_eq!(w.store.snapshot().archive.len(), 1);
}

#[test]
fn calls_older_than_the_horizon_are_archived_as_rejected_not_applied() {
    let mut w = world();
    w.service = w.service.clone().with_horizon(30);
    let old = Message {
        date: at(10) - chrono::Duration::days(31),
        ..message(-100, 1, CALL)
    };
    let report = ingest(&w, &[old, message(-100, 2, CALL)]);
    let outcomes: Vec<_> = report.receipts.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Disposition::Rejected, Disposition::Signal]);
    let reason = report.receipts[0].reason.as_deref().unwrap_or_default();
    assert!(reason.contains("30 days"), "{reason}");
    let state = w.store.snapshot();
    assert_eq!(state.archive.len(), 2, "both archived");
    assert_eq!(state.signals.len(), 1, "only the recent call applied");
}

#[test]
fn ignored_and_rejected_messages_are_archived_with_reasons() {
    let w = world();
    let report = ingest(
        &w,
        &[
            message(-100, 1, "Bom dia pessoal!"),
            message(-100, 2, ""),
            message(-100, 3, "Compra: 1,00\nStop: 0,90"),
        ],
    );
    let outcomes: Vec<_> = report.receipts.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Disposition::Ignored,
            Disposition::Ignored,
            Disposition::Rejected
        ]
    );
    let state = w.store.snapshot();
    assert_eq!(state.archive.len(), 3);
    assert!(state.archive.iter().all(|a| a.reason.is_some()));
    assert!(state.signals.is_empty());
}

#[test]
fn deletions_cancel_and_keep_everything() {
    let w = world();
    ingest(&w, &[message(-100, 1, CALL)]);
    let report = block_on(
        w.service
            .delete(ChannelId(-100), &[MessageId(1), MessageId(9)], None),
    )
    .expect("delete");
    assert_eq!((report.archived_flagged, report.cancelled.len()), (1, 1));
    let state = w.store.snapshot();
    assert_eq!(
        state.signals.values().next().map(|s| s.status),
        Some(SignalStatus::Cancelled)
    );
    assert_eq!(state.archive.len(), 1);
    assert!(state.archive[0].deleted_at.is_some());
}

#[test]
fn an_unavailable_store_fails_the_batch_and_stores_nothing() {
    let w = world();
    w.store.set_unavailable(true);
    let err = block_on(w.service.ingest(&[message(-100, 1, CALL)], None)).expect_err("must fail");
    assert!(matches!(err, StoreError::Unavailable(_)));
    w.store.set_unavailable(false);
    assert!(w.store.snapshot().archive.is_empty());
    assert!(w.events.published().is_empty());
}

#[test]
fn redis_down_never_fails_ingestion() {
    let w = world();
    w.cache.set_unavailable(true);
    w.events.set_unavailable(true);
    let report = ingest(&w, &[message(-100, 1, CALL)]);
    assert_eq!(report.receipts[0].outcome, Disposition::Signal);
    assert_eq!(report.side_effect_failures, 2);
    assert_eq!(w.store.snapshot().signals.len(), 1);
}

#[test]
fn every_commit_with_changes_invalidates_its_channel_and_the_wide_answers() {
    let w = world();
    let generation = |c: &MemoryCache, scope| {
        block_on(c.get("k", scope))
            .map(|l: CacheLookup| l.generation.scope)
            .expect("cache up")
    };
    let (mine, other) = (
        CacheScope::Channel(ChannelId(-100)),
        CacheScope::Channel(ChannelId(-200)),
    );
    let before = [mine, other, CacheScope::Wide].map(|s| generation(&w.cache, s));
    ingest(&w, &[message(-100, 1, CALL)]);
    let after = [mine, other, CacheScope::Wide].map(|s| generation(&w.cache, s));
    assert_eq!(after, [before[0] + 1, before[1], before[2] + 1]);
    ingest(&w, &[message(-100, 1, CALL)]);
    assert_eq!(
        [mine, other, CacheScope::Wide].map(|s| generation(&w.cache, s)),
        after,
        "a duplicate changes nothing"
    );
}

#[test]
fn a_commit_conflict_is_retried_once_in_a_new_transaction() {
    let w = world();
    w.store.conflict_next_commits(1);
    let report = ingest(&w, &[message(-100, 1, CALL)]);
    assert_eq!(report.retries, 1);
    assert_eq!(report.receipts[0].outcome, Disposition::Signal);
    let state = w.store.snapshot();
    assert_eq!((state.signals.len(), state.archive.len()), (1, 1));
    assert_eq!(w.events.published().len(), 1);
}

#[test]
fn a_second_conflict_is_returned_and_stores_nothing() {
    let w = world();
    w.store.conflict_next_commits(2);
    let err = block_on(w.service.ingest(&[message(-100, 1, CALL)], None)).expect_err("conflict");
    assert!(matches!(err, StoreError::Conflict(_)));
    assert!(w.store.snapshot().archive.is_empty());
    // The rule is one retry, not two: the next commit goes through.
    assert_eq!(ingest(&w, &[message(-100, 1, CALL)]).retries, 0);
}

#[test]
fn a_deletion_conflict_is_retried_once() {
    let w = world();
    ingest(&w, &[message(-100, 1, CALL)]);
    w.store.conflict_next_commits(1);
    let report =
        block_on(w.service.delete(ChannelId(-100), &[MessageId(1)], None)).expect("delete");
    assert_eq!((report.retries, report.cancelled.len()), (1, 1));
    w.store.conflict_next_commits(2);
    let err = block_on(w.service.delete(ChannelId(-100), &[MessageId(1)], None));
    assert!(matches!(err, Err(StoreError::Conflict(_))));
}
