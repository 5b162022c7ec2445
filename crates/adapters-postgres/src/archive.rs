//! [`MessageArchive`]: the archived messages (listing, re-parse reads and re-classification), their
//! filters built with sea-query.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::model::{ChannelId, Message, MessageId};
use domain::ports::{
    ArchivedMessage, MessageArchive, MessageClass, MessageCursor, MessagePage, MessageQuery,
    Reclassification, ReparseSelection, StoreError,
};
use sea_orm::sea_query::{Expr, ExprTrait, Order, PgFunc, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};

use crate::error::{corrupt, map_db_err};
use crate::store::PgStore;

#[cfg(test)]
mod tests;

/// Largest page the archive serves.
const MAX_LIMIT: u32 = 1000;

/// One row of `forwarded_messages.messages`.
#[derive(Debug, FromQueryResult)]
struct MessageRecord {
    id: i64,
    channel_id: i64,
    message_id: i64,
    message_date: DateTime<Utc>,
    edit_date: Option<DateTime<Utc>>,
    text: String,
    media_type: Option<String>,
    source: Option<String>,
    metadata: serde_json::Value,
    outcome: String,
    reason: Option<String>,
    parser_version: String,
    received_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

const MESSAGE_COLUMNS: [&str; 14] = [
    "id",
    "channel_id",
    "message_id",
    "message_date",
    "edit_date",
    "text",
    "media_type",
    "source",
    "metadata",
    "outcome",
    "reason",
    "parser_version",
    "received_at",
    "deleted_at",
];

/// The message table's alias.
const M: &str = "m";

impl MessageRecord {
    fn into_archived(self) -> Result<ArchivedMessage, StoreError> {
        let outcome = MessageClass::from_name(&self.outcome)
            .ok_or_else(|| corrupt(format!("message {}: outcome '{}'", self.id, self.outcome)))?;
        Ok(ArchivedMessage {
            id: self.id,
            message: Message {
                channel_id: ChannelId(self.channel_id),
                message_id: MessageId(self.message_id),
                text: self.text,
                date: self.message_date,
                edit_date: self.edit_date,
                media_type: self.media_type,
                source: self.source,
                metadata: self.metadata,
            },
            outcome,
            reason: self.reason,
            parser_version: self.parser_version,
            received_at: self.received_at,
            deleted_at: self.deleted_at,
        })
    }
}

/// The archived messages of the filters both listings share: outcomes, channel and period.
fn select_messages(
    outcomes: &[MessageClass],
    channel: Option<ChannelId>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> SelectStatement {
    let col = |c: &'static str| Expr::col((M, c));
    let mut q = Query::select();
    q.columns(MESSAGE_COLUMNS.map(|c| (M, c)))
        .from_as(("forwarded_messages", "messages"), M);
    if !outcomes.is_empty() {
        let names: Vec<String> = outcomes.iter().map(|o| o.as_str().to_owned()).collect();
        q.and_where(col("outcome").eq(PgFunc::any(Expr::val(names))));
    }
    if let Some(c) = channel {
        q.and_where(col("channel_id").eq(c.0));
    }
    if let Some(f) = from {
        q.and_where(col("message_date").gte(f));
    }
    if let Some(t) = to {
        q.and_where(col("message_date").lte(t));
    }
    q
}

/// `(message_date, id)` against the cursor's: the keyset of both listings.
fn keyset(c: &MessageCursor) -> (Expr, Expr) {
    (
        Expr::tuple([Expr::col((M, "message_date")), Expr::col((M, "id"))]),
        Expr::tuple([Expr::val(c.message_date), Expr::val(c.id)]),
    )
}

impl PgStore {
    async fn messages(
        &self,
        what: &str,
        q: &SelectStatement,
    ) -> Result<Vec<ArchivedMessage>, StoreError> {
        self.query_all(what, DbBackend::Postgres.build(q))
            .await?
            .iter()
            .map(|r| {
                MessageRecord::from_query_result(r, "")
                    .map_err(|e| map_db_err(what, e))?
                    .into_archived()
            })
            .collect()
    }
}

#[async_trait]
impl MessageArchive for PgStore {
    async fn list_messages(&self, q: &MessageQuery) -> Result<MessagePage, StoreError> {
        let limit = q.limit.clamp(1, MAX_LIMIT);
        let mut select = select_messages(&q.outcomes, q.channel, q.from, q.to);
        if let Some(c) = &q.cursor {
            // The plain bound lets the planner skip the chunks after the cursor.
            let (key, cursor) = keyset(c);
            select
                .and_where(Expr::col((M, "message_date")).lte(c.message_date))
                .and_where(key.lt(cursor));
        }
        select
            .order_by((M, "message_date"), Order::Desc)
            .order_by((M, "id"), Order::Desc)
            .limit(u64::from(limit) + 1);
        let mut rows = self.messages("list_messages", &select).await?;
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| MessageCursor {
                message_date: r.message.date,
                id: r.id,
            })
        } else {
            None
        };
        Ok(MessagePage { rows, next_cursor })
    }

    async fn messages_to_reparse(
        &self,
        selection: &ReparseSelection,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<ArchivedMessage>, StoreError> {
        let s = selection;
        let mut select = select_messages(&s.outcomes, s.channel, s.from, s.to);
        if let Some(c) = &after {
            let (key, cursor) = keyset(c);
            select
                .and_where(Expr::col((M, "message_date")).gte(c.message_date))
                .and_where(key.gt(cursor));
        }
        select
            .order_by((M, "message_date"), Order::Asc)
            .order_by((M, "id"), Order::Asc)
            .limit(u64::from(std::cmp::max(limit, 1)));
        self.messages("messages_to_reparse", &select).await
    }

    async fn reclassify(&self, changes: &[Reclassification]) -> Result<u64, StoreError> {
        if changes.is_empty() {
            return Ok(0);
        }
        let rows: Vec<serde_json::Value> = changes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id,
                    "message_date": c.message_date,
                    "outcome": c.outcome.as_str(),
                    "reason": c.reason,
                    "parser_version": c.parser_version,
                })
            })
            .collect();
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE forwarded_messages.messages m
             SET outcome = x.outcome, reason = x.reason, parser_version = x.parser_version
             FROM pg_catalog.jsonb_to_recordset($1::jsonb)
                  AS x(id bigint, message_date timestamptz, outcome text, reason text, parser_version text)
             WHERE m.id = x.id AND m.message_date = x.message_date",
            [Value::from(serde_json::Value::Array(rows))],
        );
        self.timed("reclassify", async {
            self.db
                .execute_raw(stmt)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| map_db_err("reclassify", e))
        })
        .await
    }
}
