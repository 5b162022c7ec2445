//! Re-parsing the archive after a parser fix: every selected delivery is read again by the
//! current parser; deliveries that were ignored or rejected and now read as a call or an update
//! are applied through the ingest rules (so nothing is duplicated), and the archive records the
//! new verdicts.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::reparse_diff::{Diff, FieldChange, ReparseChange};
use crate::model::{ParseOutcome, TraceContext};
use crate::parser::{PARSER_VERSION, parse};
use crate::ports::{
    MessageArchive, MessageClass, MessageCursor, Reclassification, ReparseSelection, SignalCache,
    StoreError,
};
use crate::services::{Disposition, IngestService};

/// Deliveries read per round trip.
const PAGE: u32 = 500;

/// What to re-parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReparseRequest {
    /// Which deliveries.
    pub selection: ReparseSelection,
    /// Continue after this delivery (from a previous, truncated run).
    pub after: Option<MessageCursor>,
    /// Examine at most this many deliveries.
    pub limit: u32,
    /// Only report what would change.
    pub dry_run: bool,
}

/// How many deliveries moved from one outcome to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeTransition {
    /// The stored outcome.
    pub from: MessageClass,
    /// The current parser's outcome.
    pub to: MessageClass,
    /// Deliveries.
    pub count: u32,
}

/// The result of a re-parse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReparseReport {
    /// Deliveries read.
    pub examined: u32,
    /// Deliveries whose outcome, reason or parser version changed (recorded unless dry run).
    pub reclassified: u32,
    /// Signals created from deliveries that were ignored or rejected.
    pub signals_created: u32,
    /// Updates applied to an open signal.
    pub updates_applied: u32,
    /// Outcome changes, by pair.
    pub transitions: Vec<OutcomeTransition>,
    /// Deliveries that now read as a call and did not before (created unless dry run).
    pub new_signals: u32,
    /// Stored signals the current parser reads with different fields (reported, not rewritten).
    pub changed_signals: u32,
    /// How many of those changed each field.
    pub field_changes: Vec<FieldChange>,
    /// The first deliveries that change, for review.
    pub samples: Vec<ReparseChange>,
    /// Where a follow-up run continues when more deliveries matched than the limit.
    pub next: Option<MessageCursor>,
    /// Nothing was written.
    pub dry_run: bool,
}

/// The re-parse use case.
#[derive(Clone)]
pub struct ReparseService {
    archive: Arc<dyn MessageArchive>,
    ingest: IngestService,
    cache: Arc<dyn SignalCache>,
}

impl std::fmt::Debug for ReparseService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReparseService").finish_non_exhaustive()
    }
}

impl ReparseService {
    /// Wires the use case: it reads the archive, applies through `ingest`, and invalidates
    /// `cache` when the archive's verdicts change.
    pub fn new(
        archive: Arc<dyn MessageArchive>,
        ingest: IngestService,
        cache: Arc<dyn SignalCache>,
    ) -> Self {
        Self {
            archive,
            ingest,
            cache,
        }
    }

    /// Re-parses the selected deliveries, oldest first, page by page. Each page is applied
    /// before its verdicts are recorded, so an interrupted run can simply be repeated.
    pub async fn reparse(
        &self,
        request: &ReparseRequest,
        traceparent: Option<&TraceContext>,
    ) -> Result<ReparseReport, StoreError> {
        let limit = request.limit.max(1);
        let mut report = ReparseReport {
            dry_run: request.dry_run,
            ..ReparseReport::default()
        };
        let mut transitions: BTreeMap<(u8, u8), u32> = BTreeMap::new();
        let mut diff = Diff::default();
        let mut after = request.after;
        while report.examined < limit {
            let want = PAGE.min(limit - report.examined);
            let page = self
                .archive
                .messages_to_reparse(&request.selection, after, want)
                .await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some(MessageCursor {
                message_date: last.message.date,
                id: last.id,
            });
            let mut to_apply = Vec::new();
            let mut changes = Vec::new();
            let parsed: Vec<ParseOutcome> = page
                .iter()
                .map(|a| parse(&a.message.text, a.message.date.date_naive()))
                .collect();
            let stored = self.ingest.stored_signals(&page, &parsed).await?;
            for (archived, parsed) in page.iter().zip(&parsed) {
                let m = &archived.message;
                let outcome = MessageClass::of(parsed);
                diff.record(archived, parsed, outcome, &stored);
                let reason = parsed.reason();
                if outcome != archived.outcome {
                    *transitions
                        .entry((rank(archived.outcome), rank(outcome)))
                        .or_default() += 1;
                }
                if outcome != archived.outcome
                    || reason != archived.reason
                    || archived.parser_version != PARSER_VERSION
                {
                    changes.push(Reclassification {
                        id: archived.id,
                        message_date: m.date,
                        outcome,
                        reason,
                        parser_version: PARSER_VERSION.to_owned(),
                    });
                }
                let was_dropped = matches!(
                    archived.outcome,
                    MessageClass::Ignored | MessageClass::Rejected
                );
                let now_taken = matches!(outcome, MessageClass::Signal | MessageClass::Update);
                if was_dropped && now_taken {
                    to_apply.push(m.clone());
                }
            }
            report.examined += u32::try_from(page.len()).unwrap_or(u32::MAX);
            report.reclassified += u32::try_from(changes.len()).unwrap_or(u32::MAX);
            if !request.dry_run {
                if !to_apply.is_empty() {
                    let applied = self.ingest.apply_archived(&to_apply, traceparent).await?;
                    for r in &applied.receipts {
                        match (r.outcome, r.signal_id, &r.reason) {
                            (Disposition::Signal, Some(_), None) => report.signals_created += 1,
                            (Disposition::Update, Some(_), _) => report.updates_applied += 1,
                            _ => {}
                        }
                    }
                }
                if !changes.is_empty() {
                    self.archive.reclassify(&changes).await?;
                }
            }
            if (page.len() as u64) < u64::from(want) {
                after = None;
                break;
            }
        }
        if let Some(cursor) = after {
            let more = self
                .archive
                .messages_to_reparse(&request.selection, Some(cursor), 1)
                .await?;
            report.next = (!more.is_empty()).then_some(cursor);
        }
        diff.finish(&mut report);
        report.transitions = transitions
            .into_iter()
            .map(|((from, to), count)| OutcomeTransition {
                from: MessageClass::ALL[usize::from(from)],
                to: MessageClass::ALL[usize::from(to)],
                count,
            })
            .collect();
        if !request.dry_run && report.reclassified > 0 {
            // Channel counts and logs read the archive: best-effort, like every invalidation.
            let _ = self.cache.invalidate_all().await;
        }
        Ok(report)
    }
}

fn rank(outcome: MessageClass) -> u8 {
    match outcome {
        MessageClass::Signal => 0,
        MessageClass::Update => 1,
        MessageClass::Ignored => 2,
        MessageClass::Rejected => 3,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{TimeZone, Utc};
    use futures_executor::block_on;

    use super::*;
    use crate::memory::{FixedClock, MemoryCache, MemoryEvents, MemoryStore};
    use crate::model::{ChannelId, Message, MessageId};
    use crate::ports::{ArchiveEntry, CacheScope, NewSignal, SignalCache, SignalStore};

    const CALL: &str = "Ativo: PETR4\nCompra: 30,00 a 30,50\nAlvo 1: 32,00\nStop: 29,00";

    fn message(id: i64, text: &str) -> Message {
        Message {
            channel_id: ChannelId(-100),
            message_id: MessageId(id),
            text: text.to_owned(),
            date: Utc
                .with_ymd_and_hms(2025, 10, 20, 10, 0, 0)
                .single()
                .expect("time"),
            edit_date: None,
            media_type: None,
            source: None,
            metadata: serde_json::Value::Null,
        }
    }

    /// Archives `messages` as an old parser judged them (everything `rejected`).
    fn archive_as_rejected(store: &MemoryStore, messages: &[Message]) {
        block_on(async {
            let mut tx = store.begin().await.expect("begin");
            let entries: Vec<_> = messages
                .iter()
                .map(|m| ArchiveEntry {
                    message: m,
                    outcome: "rejected",
                    reason: Some("old parser"),
                    parser_version: "0.0.1",
                })
                .collect();
            tx.archive(&entries).await.expect("archive");
            tx.commit().await.expect("commit");
        });
    }

    fn service(store: &MemoryStore, cache: Arc<MemoryCache>) -> ReparseService {
        let ingest = IngestService::new(
            Arc::new(store.clone()),
            Arc::new(MemoryEvents::new()),
            cache.clone(),
            Arc::new(FixedClock::new(Utc::now())),
        );
        ReparseService::new(Arc::new(store.clone()), ingest, cache)
    }

    fn rejected_set(limit: u32, dry_run: bool) -> ReparseRequest {
        ReparseRequest {
            selection: ReparseSelection {
                outcomes: vec![MessageClass::Rejected],
                ..ReparseSelection::default()
            },
            after: None,
            limit,
            dry_run,
        }
    }

    #[test]
    fn rejected_calls_become_signals_once() {
        let store = MemoryStore::new();
        let cache = Arc::new(MemoryCache::new());
        archive_as_rejected(&store, &[message(1, CALL), message(2, "Bom dia!")]);
        let reparse = service(&store, cache.clone());
        let generation = block_on(cache.get("k", CacheScope::Wide))
            .expect("cache")
            .generation
            .everything;

        let dry = block_on(reparse.reparse(&rejected_set(100, true), None)).expect("dry run");
        assert_eq!(
            (dry.examined, dry.reclassified, dry.signals_created),
            (2, 2, 0)
        );
        assert!(
            store.snapshot().signals.is_empty(),
            "a dry run writes nothing"
        );

        let report = block_on(reparse.reparse(&rejected_set(100, false), None)).expect("reparse");
        assert_eq!((report.examined, report.reclassified), (2, 2));
        assert_eq!(report.signals_created, 1);
        assert_eq!(
            report.transitions,
            vec![
                OutcomeTransition {
                    from: MessageClass::Rejected,
                    to: MessageClass::Signal,
                    count: 1
                },
                OutcomeTransition {
                    from: MessageClass::Rejected,
                    to: MessageClass::Ignored,
                    count: 1
                },
            ]
        );
        let state = store.snapshot();
        assert_eq!(state.signals.len(), 1);
        let outcomes: Vec<_> = state.archive.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, vec!["signal", "ignored"]);
        assert!(
            state
                .archive
                .iter()
                .all(|a| a.parser_version == PARSER_VERSION)
        );
        assert!(
            block_on(cache.get("k", CacheScope::Channel(ChannelId(-5))))
                .expect("cache")
                .generation
                .everything
                > generation,
            "a reparse invalidates everything"
        );

        let again = block_on(reparse.reparse(&rejected_set(100, false), None)).expect("again");
        assert_eq!(again.examined, 0, "nothing is rejected any more");
        assert_eq!(store.snapshot().signals.len(), 1);
    }

    #[test]
    fn a_dry_run_shows_new_signals_changed_fields_and_flips_and_writes_nothing() {
        let store = MemoryStore::new();
        let cache = Arc::new(MemoryCache::new());
        let stored_call = message(1, "Ativo: PETR4\nCompra: 30,00\nAlvo: 32,00\nStop: 29,00");
        let dropped_call = message(2, "PETR4 compra 30,50 alvo 32 stop 29");
        let summary = message(3, "Balanço do mês: 12 alvos atingidos e 3 stops");
        block_on(async {
            let mut tx = store.begin().await.expect("begin");
            let entry = |message, outcome| ArchiveEntry::classed(message, outcome, "2.0.0");
            tx.archive(&[
                entry(&stored_call, "signal"),
                entry(&dropped_call, "ignored"),
                entry(&summary, "update"),
            ])
            .await
            .expect("archive");
            // The old parser read the stored call with another target and stop.
            let ParseOutcome::Signal(old) = parse(
                "Ativo: PETR4\nCompra: 30,00\nAlvo: 31,00\nStop: 28,00",
                stored_call.date.date_naive(),
            ) else {
                panic!("a call")
            };
            tx.insert_signals(&[NewSignal {
                channel_id: stored_call.channel_id,
                message_id: stored_call.message_id,
                message_date: stored_call.date,
                edit_date: None,
                revision: 1,
                call: old,
                raw_message: stored_call.text.clone(),
                parser_version: "2.0.0".into(),
                source: None,
                recorded_at: stored_call.date,
            }])
            .await
            .expect("insert");
            tx.commit().await.expect("commit");
        });
        let before = store.snapshot();
        let request = ReparseRequest {
            selection: ReparseSelection::default(),
            after: None,
            limit: 100,
            dry_run: true,
        };
        let report = block_on(service(&store, cache).reparse(&request, None)).expect("dry run");
        assert_eq!(
            (report.examined, report.new_signals, report.changed_signals),
            (3, 1, 1)
        );
        let fields: Vec<_> = report
            .field_changes
            .iter()
            .map(|f| (f.field.as_str(), f.count))
            .collect();
        assert_eq!(
            fields,
            vec![("stop", 1), ("target_final", 1), ("targets", 1)]
        );
        assert_eq!(report.samples.len(), 3);
        assert_eq!(
            report.samples[0].fields,
            vec!["targets", "target_final", "stop"]
        );
        assert_eq!(
            (report.samples[2].from, report.samples[2].to),
            (MessageClass::Update, MessageClass::Ignored)
        );
        let after = store.snapshot();
        assert_eq!(after.signals.len(), before.signals.len(), "nothing written");
        assert!(after.archive.iter().all(|a| a.parser_version == "2.0.0"));
    }

    #[test]
    fn a_limited_run_says_where_to_continue() {
        let store = MemoryStore::new();
        let cache = Arc::new(MemoryCache::new());
        let messages: Vec<_> = (1..=5).map(|i| message(i, "Bom dia!")).collect();
        archive_as_rejected(&store, &messages);
        let reparse = service(&store, cache);
        let mut request = ReparseRequest {
            selection: ReparseSelection::default(),
            after: None,
            limit: 3,
            dry_run: true,
        };
        let first = block_on(reparse.reparse(&request, None)).expect("first");
        assert_eq!(first.examined, 3);
        let next = first.next.expect("more to do");
        request.after = Some(next);
        let second = block_on(reparse.reparse(&request, None)).expect("second");
        assert_eq!((second.examined, second.next), (2, None));
    }
}
