//! The row the ingest archives for a delivery, column by column (the mapping the legacy importer
//! shares): times to the microsecond, `received_at` the transaction's time, no import id, NULL
//! metadata stored as `{}`, and metadata exact as far as the domain's JSON value carries it (a
//! decimal in a string to the digit, integers to 20 digits; a JSON number with more digits than
//! a float holds is rounded when the message is decoded, before the store sees it).

mod common;

use chrono::{Duration, Utc};
use common::*;
use domain::ports::{ArchiveEntry, SignalStore};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// Every column of the archived rows of a channel, times in UTC.
const ROWS: &str = "SELECT string_agg(concat_ws('|', message_id, message_date AT TIME ZONE 'UTC', \
    coalesce((edit_date AT TIME ZONE 'UTC')::text, '-'), text, coalesce(media_type, '-'), \
    coalesce(source, '-'), metadata, outcome, coalesce(reason, '-'), parser_version, \
    coalesce(import_id::text, '-'), coalesce(deleted_at::text, '-')), E'\\n' \
    ORDER BY message_id, edit_date NULLS FIRST) \
    FROM forwarded_messages.messages WHERE channel_id = $1";

#[tokio::test]
async fn an_archived_delivery_keeps_every_column() {
    let Some(store) = store("archive_rows").await else {
        return;
    };
    let ch = unique_channel();
    let date = at("2025-10-20T13:05:00.123456789Z");
    let mut full = message(ch, 10, date, "texto \"citado\" \\ e\nlinha");
    full.edit_date = Some(date + Duration::minutes(1) + Duration::nanoseconds(7));
    full.media_type = Some("photo".to_owned());
    full.source = Some("gateway".to_owned());
    full.metadata = serde_json::from_str(
        r#"{"exact": "1.04000000000000000001", "float": 1.04000000000000000001,
            "big": 12345678901234567890, "nested": {"a": [1, null, true, -0.5]}}"#,
    )
    .expect("metadata");
    let mut bare = message(ch, 11, date, "");
    bare.source = None;
    bare.metadata = serde_json::Value::Null;

    let started = Utc::now();
    let mut tx = store.begin().await.expect("begin");
    let fresh = tx
        .archive(&[
            ArchiveEntry {
                message: &full,
                outcome: "rejected",
                reason: Some("why"),
                parser_version: "test-9",
            },
            ArchiveEntry::classed(&bare, "ignored", "test-9"),
        ])
        .await
        .expect("archive");
    tx.commit().await.expect("commit");
    let committed = Utc::now();
    assert_eq!(fresh, [true, true]);

    let db = raw().await;
    let rows = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            ROWS,
            [ch.0.into()],
        ))
        .await
        .expect("rows")
        .expect("a row")
        .try_get_by_index::<String>(0)
        .expect("text");
    assert_eq!(
        rows,
        "10|2025-10-20 13:05:00.123456|2025-10-20 13:06:00.123456|texto \"citado\" \\ e\nlinha|\
         photo|gateway|{\"big\": 12345678901234567890, \"exact\": \"1.04000000000000000001\", \
         \"float\": 1.04, \"nested\": {\"a\": [1, null, true, -0.5]}}|rejected|why|test-9|-|-\n\
         11|2025-10-20 13:05:00.123456|-||-|-|{}|ignored|-|test-9|-|-"
    );
    // `received_at` is the transaction's time, as the column's default would give.
    let received = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT received_at FROM forwarded_messages.messages WHERE channel_id = $1",
            [ch.0.into()],
        ))
        .await
        .expect("received_at");
    assert_eq!(received.len(), 2);
    for r in received {
        let at = r
            .try_get_by_index::<chrono::DateTime<Utc>>(0)
            .expect("time");
        assert!(
            at >= started - Duration::seconds(1) && at <= committed,
            "{at}"
        );
    }
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM forwarded_messages.delivery_keys WHERE channel_id = $1 \
             AND ((message_id = 10 AND edit_date = '2025-10-20 13:06:00.123456+00') \
               OR (message_id = 11 AND edit_date IS NULL))",
            vec![ch.0.into()]
        )
        .await,
        2
    );
}
