//! The dry run: every row mapped in memory, counts and a sample printed, nothing written.

use std::collections::HashMap;

use chrono::Utc;
use futures_util::TryStreamExt;
use sea_orm::sqlx::{AssertSqlSafe, PgConnection, Row};

use crate::error::{LegacyError, SqlContext};
use crate::mapping::{self, TimeBounds, map_message, map_signal};
use crate::survey::{Survey, channel_rows, resolve_channels};
use crate::{ImportOptions, source};

/// The dry run: counts, the mapping of every row (read-only), and a sample of what would be
/// written. Nothing is written anywhere.
pub(crate) async fn dry_run(
    opts: &ImportOptions,
    src: &mut PgConnection,
    tgt: &mut PgConnection,
    survey: &Survey,
) -> Result<(), LegacyError> {
    let shape = &survey.shape;
    let Some(sh) = &shape.signals else {
        return Ok(());
    };
    source::begin_snapshot(src).await?;
    let (channels, counts) = resolve_channels(src, shape).await?;
    let bounds = TimeBounds::for_run(Utc::now());
    let mut would = 0u64;
    let mut skips: HashMap<&'static str, u64> = HashMap::new();
    let mut samples = Vec::new();
    let mut skip_samples = Vec::new();
    {
        let mut rows = sea_orm::sqlx::query(AssertSqlSafe(source::signals_query(shape, sh, false)))
            .fetch(&mut *src);
        while let Some(row) = rows.try_next().await.ctx("reading legacy signals")? {
            let legacy = source::decode_signal(&row)?;
            match map_signal(&legacy, &channels, &bounds) {
                Ok(m) => {
                    would += 1;
                    if samples.len() < 3 {
                        samples.push((legacy, m));
                    }
                }
                Err(s) => {
                    *skips.entry(s.code).or_default() += 1;
                    if skip_samples.len() < 5 {
                        skip_samples.push((legacy.id.clone(), s));
                    }
                }
            }
        }
    }
    let mut msg_would = 0u64;
    let mut msg_duplicates = 0;
    let mut msg_skips: HashMap<&'static str, u64> = HashMap::new();
    if let Some(mh) = &shape.messages {
        msg_duplicates = source::count_message_duplicates(src, shape, mh).await?;
        let mut rows =
            sea_orm::sqlx::query(AssertSqlSafe(source::messages_query(shape, mh, false)))
                .fetch(&mut *src);
        while let Some(row) = rows.try_next().await.ctx("reading legacy messages")? {
            let legacy = source::decode_message(&row)?;
            match map_message(&legacy, &bounds) {
                Ok(_) => msg_would += 1,
                Err(s) => *msg_skips.entry(s.code).or_default() += 1,
            }
        }
    }
    source::end_snapshot(src).await?;
    let already = tgt_count(
        tgt,
        "SELECT count(*) FROM signals.signals WHERE legacy_id IS NOT NULL",
    )
    .await?;

    println!("\nDry run (nothing written: no backup, no run record, no rows)");
    for (t, n) in &survey.legacy_rows {
        println!("  legacy {t:<20} {n:>9} rows");
    }
    println!("  signals that map:      {would:>9}");
    let mut sk: Vec<_> = skips.into_iter().collect();
    sk.sort();
    for (code, n) in sk {
        println!("  signals skipped:       {n:>9}  {code}");
    }
    if shape.messages.is_some() {
        println!(
            "  messages that map:     {msg_would:>9} (of which {msg_duplicates} repeat an earlier delivery and are stored once)"
        );
        let mut mk: Vec<_> = msg_skips.into_iter().collect();
        mk.sort();
        for (code, n) in mk {
            println!("  messages skipped:      {n:>9}  {code}");
        }
    }
    println!("  already in the target: {already:>9} signals with a legacy id");
    println!("\nChannels");
    for c in channel_rows(&channels, &counts) {
        println!(
            "  {:<28} -> {:>20}  {:?}{}  ({} rows)",
            c.resolution.legacy,
            c.resolution.channel_id,
            c.resolution.how,
            c.resolution
                .label
                .as_deref()
                .map(|l| format!(" label '{l}'"))
                .unwrap_or_default(),
            c.rows
        );
    }
    println!("\nSample mapping");
    for (legacy, m) in &samples {
        println!(
            "  legacy {} ts {} channel {:?} type {:?} asset {:?} prices {:?}",
            legacy.id,
            legacy.ts.map(|t| t.to_rfc3339()).unwrap_or_default(),
            legacy.channel,
            legacy.signal_type,
            legacy.asset,
            legacy.prices
        );
        println!(
            "    -> signals.signals legacy_id {} channel_id {} message_id {} message_date {} asset {} kind {:?} entry {:?}..{:?} targets {:?} final {:?} stop {:?} direction long status open parser_version {}",
            m.legacy_id,
            m.channel_id,
            m.message_id,
            m.message_date.to_rfc3339(),
            m.asset,
            m.kind.map(|k| k.as_str()),
            m.entry_min.map(|p| p.to_string()),
            m.entry_max.map(|p| p.to_string()),
            m.targets.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            m.target_final.map(|p| p.to_string()),
            m.stop.map(|p| p.to_string()),
            mapping::PARSER_VERSION
        );
    }
    for (id, s) in &skip_samples {
        println!("  legacy {id} -> skipped: {} ({})", s.code, s.detail);
    }
    println!(
        "\nA real run writes the backup under {} and the report under {}.",
        opts.backup_dir.display(),
        opts.report_dir.display()
    );
    Ok(())
}

async fn tgt_count(conn: &mut PgConnection, sql: &'static str) -> Result<i64, LegacyError> {
    let row = sea_orm::sqlx::query(sql)
        .fetch_one(&mut *conn)
        .await
        .ctx("counting target rows")?;
    row.try_get(0).ctx("counting target rows")
}
