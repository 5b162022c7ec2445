//! [`ChannelDirectory`]: the channels with their activity, read from the exact rollups of
//! migration `m20251207_000013_exact_rollups` plus their pending deltas (triggers keep both in the
//! transaction of every write, so each count equals a direct one at once, on every edition), and
//! the operator's settings of a channel. The newest signal or message of a channel is read where
//! the rollups say it is (`crate::newest`), in the same snapshot as the counts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::model::ChannelId;
use domain::ports::{ChannelDirectory, ChannelSummary, ChannelUpdate, OutcomeCounts, StoreError};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use crate::call::parse_kind;
use crate::error::map_db_err;
use crate::newest::{Group, Scope, newest_messages, newest_signals};
use crate::store::PgStore;

impl PgStore {
    async fn channel_summaries(
        &self,
        channel: Option<ChannelId>,
    ) -> Result<Vec<ChannelSummary>, StoreError> {
        let (filter, settings_filter, values) = match channel {
            Some(c) => (
                " WHERE channel_id = $1",
                " WHERE ch.channel_id = $1",
                vec![Value::from(c.0)],
            ),
            None => ("", "", Vec::new()),
        };
        // Raw SQL: one fixed shape over the rollups and their deltas, the plan of the /channels
        // figures in docs/benchmarks.md (one index probe per channel for its newest hour).
        let sql = Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
            "WITH sig AS (
               SELECT channel_id, pg_catalog.sum(signal_count)::bigint AS signal_count,
                      pg_catalog.max(hour) AS delta_hour
               FROM (SELECT channel_id, signal_count, NULL::timestamptz AS hour
                     FROM metrics.channel_signal_totals{filter}
                     UNION ALL
                     SELECT channel_id, signal_count, CASE WHEN signal_count > 0 THEN bucket END
                     FROM metrics.signal_rollup_delta{filter}) x
               GROUP BY channel_id HAVING pg_catalog.sum(signal_count) <> 0
             ),
             msg AS (
               SELECT channel_id,
                      pg_catalog.sum(n) FILTER (WHERE outcome = 'signal')::bigint AS n_signal,
                      pg_catalog.sum(n) FILTER (WHERE outcome = 'update')::bigint AS n_update,
                      pg_catalog.sum(n) FILTER (WHERE outcome = 'ignored')::bigint AS n_ignored,
                      pg_catalog.sum(n) FILTER (WHERE outcome = 'rejected')::bigint AS n_rejected
               FROM (SELECT channel_id, outcome, n FROM metrics.channel_message_totals{filter}
                     UNION ALL
                     SELECT channel_id, outcome, n FROM metrics.channel_message_delta{filter}) x
               GROUP BY channel_id HAVING pg_catalog.sum(n) <> 0
             ),
             ids AS (
               SELECT ch.channel_id FROM signals.channels ch{settings_filter}
               UNION SELECT channel_id FROM sig
               UNION SELECT channel_id FROM msg
             )
             SELECT ids.channel_id, c.label, c.default_kind,
                    COALESCE(sig.signal_count, 0) AS signal_count,
                    CASE WHEN sig.signal_count > 0 THEN GREATEST(sig.delta_hour,
                      (SELECT r.bucket FROM metrics.signal_rollup r
                       WHERE r.channel_id = ids.channel_id AND r.signal_count > 0
                       ORDER BY r.bucket DESC LIMIT 1)) END AS newest_hour,
                    COALESCE(msg.n_signal, 0) AS n_signal, COALESCE(msg.n_update, 0) AS n_update,
                    COALESCE(msg.n_ignored, 0) AS n_ignored, COALESCE(msg.n_rejected, 0) AS n_rejected
             FROM ids
             LEFT JOIN signals.channels c ON c.channel_id = ids.channel_id
             LEFT JOIN sig ON sig.channel_id = ids.channel_id
             LEFT JOIN msg ON msg.channel_id = ids.channel_id
             ORDER BY ids.channel_id"
            ),
            values,
        );
        let what = "list_channels";
        self.timed(what, async {
            let (tx, rows) = self.snapshot_query(what, sql).await?;
            let mut summaries = Vec::with_capacity(rows.len());
            let mut hours = Vec::new();
            let mut with_messages = Vec::new();
            for r in &rows {
                let get_i64 = |c: &str| r.try_get::<i64>("", c).map_err(|e| map_db_err(what, e));
                let count = |c: &str| get_i64(c).map(|n| u64::try_from(n).unwrap_or(0));
                let channel_id = get_i64("channel_id")?;
                let default_kind: Option<String> = r
                    .try_get("", "default_kind")
                    .map_err(|e| map_db_err(what, e))?;
                let newest_hour: Option<DateTime<Utc>> = r
                    .try_get("", "newest_hour")
                    .map_err(|e| map_db_err(what, e))?;
                if let Some(hour) = newest_hour {
                    hours.push((Group::Channel(channel_id), hour));
                }
                let messages = OutcomeCounts {
                    signal: count("n_signal")?,
                    update: count("n_update")?,
                    ignored: count("n_ignored")?,
                    rejected: count("n_rejected")?,
                };
                if messages.signal + messages.update + messages.ignored + messages.rejected > 0 {
                    with_messages.push(channel_id);
                }
                summaries.push(ChannelSummary {
                    channel_id: ChannelId(channel_id),
                    label: r.try_get("", "label").map_err(|e| map_db_err(what, e))?,
                    default_kind: default_kind
                        .map(|k| parse_kind(&format!("channel {channel_id}"), &k))
                        .transpose()?,
                    signal_count: count("signal_count")?,
                    last_signal_at: None,
                    messages,
                    last_message_at: None,
                });
            }
            let signals = newest_signals(&tx, &hours, &Scope::default()).await?;
            let messages = newest_messages(&tx, &with_messages, Utc::now()).await?;
            tx.commit().await.map_err(|e| map_db_err(what, e))?;
            for s in &mut summaries {
                s.last_signal_at = signals.get(&Group::Channel(s.channel_id.0)).copied();
                s.last_message_at = messages.get(&s.channel_id.0).copied();
            }
            Ok(summaries)
        })
        .await
    }
}

#[async_trait]
impl ChannelDirectory for PgStore {
    async fn list_channels(&self) -> Result<Vec<ChannelSummary>, StoreError> {
        self.channel_summaries(None).await
    }

    async fn update_channel(
        &self,
        channel_id: ChannelId,
        update: &ChannelUpdate,
        at: DateTime<Utc>,
    ) -> Result<ChannelSummary, StoreError> {
        let (set_label, label) = match &update.label {
            Some(l) => (true, l.clone()),
            None => (false, None),
        };
        let (set_kind, kind) = match update.default_kind {
            Some(k) => (true, k.map(|k| k.as_str().to_owned())),
            None => (false, None),
        };
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO signals.channels AS ch (channel_id, label, default_kind, created_at, updated_at)
             VALUES ($1, CASE WHEN $2 THEN $3::text END, CASE WHEN $4 THEN $5::text END, $6, $6)
             ON CONFLICT (channel_id) DO UPDATE SET
               label = CASE WHEN $2 THEN $3::text ELSE ch.label END,
               label_learned = CASE WHEN $2 THEN false ELSE ch.label_learned END,
               default_kind = CASE WHEN $4 THEN $5::text ELSE ch.default_kind END,
               updated_at = $6",
            [
                channel_id.0.into(),
                set_label.into(),
                label.into(),
                set_kind.into(),
                kind.into(),
                at.into(),
            ],
        );
        self.timed("update_channel", async {
            self.db
                .execute_raw(stmt)
                .await
                .map(|_| ())
                .map_err(|e| map_db_err("update_channel", e))
        })
        .await?;
        self.channel_summaries(Some(channel_id))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Internal(format!("channel {channel_id} vanished")))
    }
}
