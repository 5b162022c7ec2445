//! The archived messages the legacy import writes, column by column: the first delivery of each
//! `(channel_id, message_id)` kept, its legacy photos carried as JSON to the digit (never through
//! a float), `received_at` kept (else the message time); a second run finds every delivery
//! claimed and writes nothing.

mod legacy_support;

use legacy_support::{
    LegacyDb, TsKind, WorkDir, fresh_target, import_args, import_id, int, migrate, report, run,
    text,
};
use sea_orm::sqlx::{Connection, Executor, PgConnection};

/// Legacy rows of channel -1001000000077 (one the generated fixture does not use), in the
/// legacy archive's order within each key.
const LEGACY_ROWS: &str = r#"
INSERT INTO tp_capital.forwarded_messages
  (channel_id, message_id, message_text, original_timestamp, photos, received_at) VALUES
  (-1001000000077, 1, 'primeira', '2024-03-01 10:00:00.123456+00',
   '[1.04000000000000000001, "a.jpg"]', '2024-03-01 10:00:01+00'),
  (-1001000000077, 1, 'segunda entrega', '2024-03-01 10:00:00.123456+00',
   '[1.04000000000000000001, "a.jpg"]', '2024-03-01 10:00:06+00'),
  (-1001000000077, 1, 'outra hora', '2024-03-01 10:30:00+00', NULL, NULL),
  (-1001000000077, 2, NULL, '2024-03-01 11:00:00+00', NULL, NULL),
  (-1001000000077, 3, 'sem fotos', '2024-03-01 12:00:00+00', '[]', '2024-03-01 12:00:02+00'),
  (-1001000000077, 4, 'foto só', '2024-03-01 13:00:00+00', '"x.jpg"', '2024-03-01 13:00:01+00'),
  (-1001000000077, 5, E'aspas " e \\ barra\nlinha', '2024-03-01 14:00:00.5+00',
   '{"p": 0.10000000000000000000001, "n": 123456789012345678901234567890}', NULL);
"#;

/// Every column of the archived rows of that channel, times in UTC.
const ROWS: &str = "SELECT string_agg(concat_ws('|', message_id, message_date AT TIME ZONE 'UTC', \
    coalesce((edit_date AT TIME ZONE 'UTC')::text, '-'), text, coalesce(media_type, '-'), \
    coalesce(source, '-'), metadata, outcome, coalesce(reason, '-'), parser_version, \
    received_at AT TIME ZONE 'UTC', coalesce(import_id::text, '-'), \
    coalesce(deleted_at::text, '-')), E'\\n' ORDER BY message_id, message_date) \
    FROM forwarded_messages.messages WHERE channel_id = -1001000000077";

const REASON: &str = "legacy-import: archived from the legacy forwarded_messages, not re-parsed";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_messages_keep_every_column_and_the_first_delivery() {
    let test = "legacy_import_messages";
    let Some(target) = fresh_target(test).await else {
        return;
    };
    let Some(legacy) = LegacyDb::create(test, 50, 50, TsKind::Timestamptz).await else {
        return;
    };
    let mut l = PgConnection::connect(legacy.url()).await.expect("legacy");
    l.execute(LEGACY_ROWS).await.expect("legacy rows");
    l.close().await.ok();
    let work = WorkDir::new(test);
    let mut t = target.connect().await.expect("target");

    let out = run(migrate(&target.url, &work.0).args(import_args(legacy.url(), &work.0, &[])));
    assert!(out.status.success(), "import failed");
    let id = import_id(&out.stdout);
    let r = report(&work.0, id);
    assert_eq!(r["tables"][1]["read"], 57);
    let expected = [
        format!(
            "1|2024-03-01 10:00:00.123456|-|primeira|photo|legacy|\
             {{\"legacy_photos\": [1.04000000000000000001, \"a.jpg\"]}}|ignored|{REASON}|\
             legacy-import|2024-03-01 10:00:01|{id}|-"
        ),
        format!(
            "2|2024-03-01 11:00:00|-||-|legacy|{{}}|ignored|{REASON}|legacy-import|\
             2024-03-01 11:00:00|{id}|-"
        ),
        format!(
            "3|2024-03-01 12:00:00|-|sem fotos|-|legacy|{{\"legacy_photos\": []}}|ignored|\
             {REASON}|legacy-import|2024-03-01 12:00:02|{id}|-"
        ),
        format!(
            "4|2024-03-01 13:00:00|-|foto só|photo|legacy|{{\"legacy_photos\": \"x.jpg\"}}|\
             ignored|{REASON}|legacy-import|2024-03-01 13:00:01|{id}|-"
        ),
        format!(
            "5|2024-03-01 14:00:00.5|-|aspas \" e \\ barra\nlinha|photo|legacy|\
             {{\"legacy_photos\": {{\"n\": 123456789012345678901234567890, \
             \"p\": 0.10000000000000000000001}}}}|ignored|{REASON}|legacy-import|\
             2024-03-01 14:00:00.5|{id}|-"
        ),
    ]
    .join("\n");
    assert_eq!(text(&mut t, ROWS).await, expected);
    assert_eq!(
        text(
            &mut t,
            "SELECT string_agg(message_id || ':' || coalesce(edit_date::text, '-'), ' ' \
             ORDER BY message_id) FROM forwarded_messages.delivery_keys \
             WHERE channel_id = -1001000000077"
        )
        .await,
        "1:- 2:- 3:- 4:- 5:-"
    );

    // A second run finds every delivery claimed and writes nothing.
    let out = run(migrate(&target.url, &work.0).args(import_args(legacy.url(), &work.0, &[])));
    assert!(out.status.success(), "second import failed");
    let second = report(&work.0, import_id(&out.stdout));
    assert_eq!(second["tables"][1]["inserted"], 0);
    assert_eq!(text(&mut t, ROWS).await, expected);
    assert_eq!(
        int(
            &mut t,
            "SELECT count(*) FROM forwarded_messages.messages WHERE channel_id = -1001000000077"
        )
        .await,
        5
    );
    t.close().await.ok();
}
