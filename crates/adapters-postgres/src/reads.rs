//! The api's read side beyond the signal list: the message archive (listing, re-parse reads and
//! re-classification). Channels and statistics are in `stats`; the change feed behind the live
//! stream is `changes`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::model::{ChannelId, Message, MessageId};
use domain::ports::{
    ArchivedMessage, MessageArchive, MessageClass, MessageCursor, MessagePage, MessageQuery,
    Reclassification, ReparseSelection, StoreError,
};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, QueryResult, Statement, Value};

use crate::error::{corrupt, map_db_err};
use crate::store::PgStore;

/// Largest page the archive serves.
const MAX_LIMIT: u32 = 1000;

/// SQL text and its parameters, numbered as they are bound.
#[derive(Default)]
pub(crate) struct Sql {
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub(crate) fn bind(&mut self, v: impl Into<Value>) -> String {
        self.values.push(v.into());
        format!("${}", self.values.len())
    }

    pub(crate) fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    pub(crate) fn statement(self) -> Statement {
        Statement::from_sql_and_values(DbBackend::Postgres, self.text, self.values)
    }
}

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

const MESSAGE_COLUMNS: &str = "m.id, m.channel_id, m.message_id, m.message_date, m.edit_date, \
    m.text, m.media_type, m.source, m.metadata, m.outcome, m.reason, m.parser_version, \
    m.received_at, m.deleted_at";

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

fn outcome_names(outcomes: &[MessageClass]) -> Vec<String> {
    outcomes.iter().map(|o| o.as_str().to_owned()).collect()
}

impl PgStore {
    pub(crate) async fn rows(
        &self,
        what: &str,
        stmt: Statement,
    ) -> Result<Vec<QueryResult>, StoreError> {
        self.timed(what, async {
            self.db
                .query_all_raw(stmt)
                .await
                .map_err(|e| map_db_err(what, e))
        })
        .await
    }

    async fn messages(&self, what: &str, sql: Sql) -> Result<Vec<ArchivedMessage>, StoreError> {
        self.rows(what, sql.statement())
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
        let mut sql = Sql::default();
        sql.push(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM forwarded_messages.messages m WHERE TRUE"
        ));
        if let Some(c) = &q.cursor {
            let d = sql.bind(c.message_date);
            let id = sql.bind(c.id);
            sql.push(&format!(
                " AND m.message_date <= {d} AND (m.message_date, m.id) < ({d}, {id})"
            ));
        }
        if !q.outcomes.is_empty() {
            let o = sql.bind(outcome_names(&q.outcomes));
            sql.push(&format!(" AND m.outcome = ANY({o}::text[])"));
        }
        if let Some(c) = q.channel {
            let c = sql.bind(c.0);
            sql.push(&format!(" AND m.channel_id = {c}"));
        }
        if let Some(f) = q.from {
            let f = sql.bind(f);
            sql.push(&format!(" AND m.message_date >= {f}"));
        }
        if let Some(t) = q.to {
            let t = sql.bind(t);
            sql.push(&format!(" AND m.message_date <= {t}"));
        }
        let l = sql.bind(i64::from(limit) + 1);
        sql.push(&format!(
            " ORDER BY m.message_date DESC, m.id DESC LIMIT {l}"
        ));
        let mut rows = self.messages("list_messages", sql).await?;
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
        let mut sql = Sql::default();
        sql.push(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM forwarded_messages.messages m WHERE TRUE"
        ));
        if let Some(c) = after {
            let d = sql.bind(c.message_date);
            let id = sql.bind(c.id);
            sql.push(&format!(
                " AND m.message_date >= {d} AND (m.message_date, m.id) > ({d}, {id})"
            ));
        }
        if !selection.outcomes.is_empty() {
            let o = sql.bind(outcome_names(&selection.outcomes));
            sql.push(&format!(" AND m.outcome = ANY({o}::text[])"));
        }
        if let Some(c) = selection.channel {
            let c = sql.bind(c.0);
            sql.push(&format!(" AND m.channel_id = {c}"));
        }
        if let Some(f) = selection.from {
            let f = sql.bind(f);
            sql.push(&format!(" AND m.message_date >= {f}"));
        }
        if let Some(t) = selection.to {
            let t = sql.bind(t);
            sql.push(&format!(" AND m.message_date <= {t}"));
        }
        let l = sql.bind(i64::from(limit.max(1)));
        sql.push(&format!(" ORDER BY m.message_date, m.id LIMIT {l}"));
        self.messages("messages_to_reparse", sql).await
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
