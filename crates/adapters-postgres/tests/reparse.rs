//! The re-parse dry run against the real database: on a seeded archive (as an older parser
//! judged it) it reports the new signals, the fields of stored signals the current parser reads
//! differently and the outcomes that flip — and writes nothing; the real run then does.

mod common;

use std::sync::Arc;

use chrono::{Duration, DurationRound, TimeDelta, Utc};
use common::*;
use domain::memory::{MemoryCache, MemoryEvents};
use domain::ports::{
    ArchiveEntry, MessageArchive, MessageClass, MessageQuery, ReparseSelection, SignalStore,
    SystemClock,
};
use domain::services::{IngestService, ReparseRequest, ReparseService};

#[tokio::test]
async fn a_dry_run_reports_what_a_parser_version_would_change_and_writes_nothing() {
    let Some(store) = store("a_dry_run_reports_what_a_parser_version_would_change").await else {
        return;
    };
    let ch = unique_channel();
    let t0 = (Utc::now() - Duration::hours(2))
        .duration_trunc(TimeDelta::seconds(1))
        .expect("trunc");
    // What the old parser stored: this call read with stop 0.7 and a validity date.
    let stored = message(
        ch,
        1,
        t0,
        "Ativo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nAlvo 2: 2,15\nAlvo final: 3,50\nStop: 0,65",
    );
    let one_line = message(
        ch,
        2,
        t0 + Duration::minutes(1),
        "BBAS3 compra 27,90 alvo 29,00 stop 27,20",
    );
    let summary = message(
        ch,
        3,
        t0 + Duration::minutes(2),
        "Balanço do mês: 12 alvos atingidos e 3 stops",
    );
    let chatter = message(ch, 4, t0 + Duration::minutes(3), "Bom dia!");
    let mut tx = store.begin().await.expect("begin");
    let entry = |message, outcome| ArchiveEntry::classed(message, outcome, "2.0.0");
    tx.archive(&[
        entry(&stored, "signal"),
        entry(&one_line, "ignored"),
        entry(&summary, "update"),
        entry(&chatter, "ignored"),
    ])
    .await
    .expect("archive");
    tx.insert_signals(&[new_signal(ch, 1, t0, long_call("BOVAW32"))])
        .await
        .expect("insert");
    tx.commit().await.expect("commit");

    let ingest = IngestService::new(
        Arc::new(store.clone()),
        Arc::new(MemoryEvents::new()),
        Arc::new(MemoryCache::new()),
        Arc::new(SystemClock),
    );
    let reparse = ReparseService::new(
        Arc::new(store.clone()),
        ingest,
        Arc::new(MemoryCache::new()),
    );
    let mut request = ReparseRequest {
        selection: ReparseSelection {
            channel: Some(ch),
            ..ReparseSelection::default()
        },
        after: None,
        limit: 100,
        dry_run: true,
    };
    let dry = reparse.reparse(&request, None).await.expect("dry run");
    assert_eq!(
        (
            dry.examined,
            dry.new_signals,
            dry.changed_signals,
            dry.signals_created
        ),
        (4, 1, 1, 0)
    );
    let fields: Vec<_> = dry
        .field_changes
        .iter()
        .map(|f| (f.field.as_str(), f.count))
        .collect();
    assert_eq!(fields, vec![("stop", 1), ("valid_until", 1)]);
    let flips: Vec<_> = dry
        .transitions
        .iter()
        .map(|t| (t.from, t.to, t.count))
        .collect();
    assert_eq!(
        flips,
        vec![
            (MessageClass::Update, MessageClass::Ignored, 1),
            (MessageClass::Ignored, MessageClass::Signal, 1),
        ]
    );
    let samples: Vec<_> = dry
        .samples
        .iter()
        .map(|s| (s.message_id.0, s.fields.clone()))
        .collect();
    assert_eq!(
        samples,
        vec![
            (1, vec!["stop".to_owned(), "valid_until".to_owned()]),
            (2, vec![]),
            (3, vec![]),
        ]
    );

    let archive = |outcomes| MessageQuery {
        limit: 100,
        channel: Some(ch),
        outcomes,
        ..MessageQuery::default()
    };
    let signals = store
        .list_messages(&archive(vec![MessageClass::Signal]))
        .await
        .expect("list");
    assert_eq!(signals.rows.len(), 1, "a dry run reclassifies nothing");
    assert!(signals.rows.iter().all(|r| r.parser_version == "2.0.0"));

    request.dry_run = false;
    let done = reparse.reparse(&request, None).await.expect("run");
    assert_eq!((done.new_signals, done.signals_created), (1, 1));
    let signals = store
        .list_messages(&archive(vec![MessageClass::Signal]))
        .await
        .expect("list");
    assert_eq!(signals.rows.len(), 2, "the one-line call is a signal now");
}
