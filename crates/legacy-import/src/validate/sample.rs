//! Random rows compared field by field.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use super::{Context, SampleCheck};
use crate::error::{LegacyError, SqlContext};
use crate::mapping::{self, PARSER_VERSION, kind_of, map_message, map_signal};
use crate::shape::{MESSAGES_TABLE, MessagesShape, SIGNALS_TABLE, SignalsShape};
use crate::source;

fn dec(raw: Option<&str>) -> Option<Decimal> {
    raw.and_then(|r| Decimal::from_str(r.trim()).ok())
}

pub(super) async fn signals(
    src: &mut PgConnection,
    tgt: &mut PgConnection,
    ctx: &Context<'_>,
    sh: &SignalsShape,
) -> Result<SampleCheck, LegacyError> {
    let rows = sea_orm::sqlx::query(AssertSqlSafe(source::signals_sample_query(ctx.shape, sh)))
        .bind(ctx.sample as i64)
        .fetch_all(&mut *src)
        .await
        .ctx("sampling legacy signals")?;
    let mut check = SampleCheck::default();
    for row in &rows {
        let legacy = source::decode_signal(row)?;
        check.compared += 1;
        let mapped = map_signal(&legacy, ctx.channels, &ctx.bounds);
        let Some(legacy_id) = legacy
            .legacy_uuid
            .as_deref()
            .and_then(|u| Uuid::parse_str(u).ok())
        else {
            check.skipped_rows += 1;
            continue;
        };
        let found = sea_orm::sqlx::query(
            "SELECT channel_id, message_date, asset, kind, direction, entry_min::text AS entry_min, \
               entry_max::text AS entry_max, targets::text[] AS targets, \
               target_final::text AS target_final, stop::text AS stop, raw_message, source, \
               parser_version, import_id \
             FROM signals.signals WHERE legacy_id = $1 AND import_id = ANY($2)",
        )
        .bind(legacy_id)
        .bind(ctx.imports.to_vec())
        .fetch_all(&mut *tgt)
        .await
        .ctx("reading sampled signals")?;
        let id = &legacy.id;
        if mapped.is_err() {
            check.skipped_rows += 1;
            let recorded = sea_orm::sqlx::query(
                "SELECT count(*) FROM legacy_import.skipped_rows \
                 WHERE import_id = ANY($1) AND legacy_table = $2 AND legacy_key = $3",
            )
            .bind(ctx.imports.to_vec())
            .bind(SIGNALS_TABLE)
            .bind(id)
            .fetch_one(&mut *tgt)
            .await
            .ctx("reading skipped rows")?
            .try_get::<i64, _>(0)
            .ctx("reading skipped rows")?;
            if !found.is_empty() || recorded == 0 {
                check.mismatches.push(format!(
                    "signal {id}: skipped row is in the target ({}) or not recorded ({recorded})",
                    found.len()
                ));
            }
            continue;
        }
        let [t] = found.as_slice() else {
            check.mismatches.push(format!(
                "signal {id}: {} target rows instead of 1",
                found.len()
            ));
            continue;
        };
        let mut diff = |field: &str, ok: bool, got: String, want: String| {
            if !ok {
                check
                    .mismatches
                    .push(format!("signal {id}: {field} is {got}, legacy says {want}"));
            }
        };
        let get_s = |c: &str| t.try_get::<Option<String>, _>(c).ok().flatten();
        let channel: i64 = t.try_get("channel_id").ctx("sample")?;
        let want_channel = legacy
            .channel
            .as_deref()
            .and_then(|c| ctx.channels.get(c))
            .map(|c| c.channel_id);
        diff(
            "channel_id",
            Some(channel) == want_channel,
            channel.to_string(),
            format!("{want_channel:?}"),
        );
        let date: DateTime<Utc> = t.try_get("message_date").ctx("sample")?;
        diff(
            "message_date",
            Some(date) == legacy.ts,
            date.to_rfc3339(),
            format!("{:?}", legacy.ts),
        );
        let asset = get_s("asset").unwrap_or_default();
        let want_asset = legacy.asset.as_deref().unwrap_or("").trim().to_uppercase();
        diff("asset", asset == want_asset, asset, want_asset);
        let kind = get_s("kind");
        let want_kind = legacy
            .signal_type
            .as_deref()
            .and_then(kind_of)
            .map(|k| k.as_str().to_owned());
        diff(
            "kind",
            kind == want_kind,
            format!("{kind:?}"),
            format!("{want_kind:?}"),
        );
        for (i, field) in [
            (0, "entry_min"),
            (1, "entry_max"),
            (4, "target_final"),
            (5, "stop"),
        ] {
            let got = dec(get_s(field).as_deref());
            let want = dec(legacy.prices[i].as_deref());
            diff(field, got == want, format!("{got:?}"), format!("{want:?}"));
        }
        let targets: Vec<Decimal> = t
            .try_get::<Vec<String>, _>("targets")
            .ctx("sample")?
            .iter()
            .filter_map(|s| dec(Some(s)))
            .collect();
        let want_targets: Vec<Decimal> = [2, 3]
            .iter()
            .filter_map(|i| dec(legacy.prices[*i].as_deref()))
            .collect();
        diff(
            "targets",
            targets == want_targets,
            format!("{targets:?}"),
            format!("{want_targets:?}"),
        );
        let raw = get_s("raw_message").unwrap_or_default();
        let want_raw = legacy.raw_message.clone().unwrap_or_default();
        diff("raw_message", raw == want_raw, raw, want_raw);
        let src_col = get_s("source");
        diff(
            "source",
            src_col == legacy.source,
            format!("{src_col:?}"),
            format!("{:?}", legacy.source),
        );
        let pv = get_s("parser_version").unwrap_or_default();
        diff(
            "parser_version",
            pv == PARSER_VERSION,
            pv,
            PARSER_VERSION.into(),
        );
        let dir = get_s("direction").unwrap_or_default();
        diff("direction", dir == "long", dir, "long".into());
    }
    Ok(check)
}

pub(super) async fn messages(
    src: &mut PgConnection,
    tgt: &mut PgConnection,
    ctx: &Context<'_>,
    mh: &MessagesShape,
) -> Result<SampleCheck, LegacyError> {
    let q = source::messages_sample_query(ctx.shape, mh);
    let rows = sea_orm::sqlx::query(AssertSqlSafe(q))
        .bind(ctx.sample as i64)
        .fetch_all(&mut *src)
        .await
        .ctx("sampling legacy messages")?;
    let mut check = SampleCheck::default();
    for row in &rows {
        let legacy = source::decode_message(row)?;
        check.compared += 1;
        let key = legacy.key.join("/");
        let mapped = match map_message(&legacy, &ctx.bounds) {
            Ok(m) => m,
            Err(_) => {
                check.skipped_rows += 1;
                let recorded = sea_orm::sqlx::query(
                    "SELECT count(*) FROM legacy_import.skipped_rows \
                     WHERE import_id = ANY($1) AND legacy_table = $2 AND legacy_key = $3",
                )
                .bind(ctx.imports.to_vec())
                .bind(MESSAGES_TABLE)
                .bind(&key)
                .fetch_one(&mut *tgt)
                .await
                .ctx("reading skipped rows")?
                .try_get::<i64, _>(0)
                .ctx("reading skipped rows")?;
                if recorded == 0 {
                    check
                        .mismatches
                        .push(format!("message {key}: skipped but not recorded"));
                }
                continue;
            }
        };
        let found = sea_orm::sqlx::query(
            "SELECT text, media_type, (metadata -> 'legacy_photos')::text AS photos, received_at, \
               outcome, parser_version FROM forwarded_messages.messages \
             WHERE channel_id = $1 AND message_id = $2 AND message_date = $3 AND edit_date IS NULL \
               AND import_id = ANY($4)",
        )
        .bind(mapped.channel_id)
        .bind(mapped.message_id)
        .bind(mapped.message_date)
        .bind(ctx.imports.to_vec())
        .fetch_all(&mut *tgt)
        .await
        .ctx("reading sampled messages")?;
        let [t] = found.as_slice() else {
            check.mismatches.push(format!(
                "message {key}: {} target rows instead of 1",
                found.len()
            ));
            continue;
        };
        let text: String = t.try_get("text").ctx("sample")?;
        if text != legacy.text.clone().unwrap_or_default() {
            check
                .mismatches
                .push(format!("message {key}: text differs from the legacy text"));
        }
        let photos: Option<String> = t.try_get("photos").ctx("sample")?;
        let want_photos = legacy
            .photos
            .as_deref()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok());
        let got_photos = photos
            .as_deref()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok());
        if got_photos != want_photos {
            check.mismatches.push(format!(
                "message {key}: photos {photos:?}, legacy says {:?}",
                legacy.photos
            ));
        }
        let received: DateTime<Utc> = t.try_get("received_at").ctx("sample")?;
        if received != legacy.received_at.unwrap_or(mapped.message_date) {
            check
                .mismatches
                .push(format!("message {key}: received_at {received} differs"));
        }
        let outcome: String = t.try_get("outcome").ctx("sample")?;
        let pv: String = t.try_get("parser_version").ctx("sample")?;
        if outcome != mapping::MESSAGE_OUTCOME || pv != PARSER_VERSION {
            check
                .mismatches
                .push(format!("message {key}: outcome {outcome} / parser {pv}"));
        }
    }
    Ok(check)
}
