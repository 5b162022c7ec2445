//! The one insert of archived messages into `forwarded_messages.messages`, for the ingest's
//! transaction and the legacy importer's batches. A row is archived only when it claims its
//! delivery identity `(channel_id, message_id, edit_date)` in `forwarded_messages.delivery_keys`,
//! so a delivery is stored once whoever delivers it (the live service, a repeated legacy row, a
//! second import). The rows travel as one binary array per column ([`MessageArrays`]) expanded
//! by `unnest`, as in `crate::signal_insert`; the metadata as JSON text, so it keeps every digit
//! of its numbers.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sea_orm::sqlx::postgres::{PgArguments, Postgres};
use sea_orm::sqlx::query::Query;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::signal_insert::{MessageColumns, micros};

#[cfg(test)]
mod tests;

/// `(channel_id, message_id, edit_date)`: what makes two rows the same delivery.
pub type DeliveryKey = (i64, i64, Option<DateTime<Utc>>);

/// A message's `metadata` as the batch carries it.
#[derive(Debug, Clone)]
pub enum MessageMetadata<'a> {
    /// A JSON value (the ingest's, NUL-free); `null` stores `{}`.
    Value(Cow<'a, serde_json::Value>),
    /// JSON text sent as it is, so its numbers keep every digit (the legacy importer's).
    Json(&'a RawValue),
}

/// One new row of `forwarded_messages.messages`; its text must hold no NUL character
/// (`domain::model::without_nul`).
#[derive(Debug, Clone)]
pub struct MessageInsert<'a> {
    /// The message delivered.
    pub message: MessageColumns,
    /// `text`.
    pub text: Cow<'a, str>,
    /// `media_type`.
    pub media_type: Option<Cow<'a, str>>,
    /// `source`.
    pub source: Option<Cow<'a, str>>,
    /// `metadata`.
    pub metadata: MessageMetadata<'a>,
    /// `outcome`: `signal`, `update`, `ignored` or `rejected`.
    pub outcome: &'a str,
    /// `reason`.
    pub reason: Option<Cow<'a, str>>,
    /// `parser_version`.
    pub parser_version: &'a str,
    /// `received_at`: `None` for the ingest (the transaction's time, as the column's default).
    pub received_at: Option<DateTime<Utc>>,
    /// `import_id`: the legacy import that wrote the row, `None` for the ingest.
    pub import_id: Option<Uuid>,
}

impl MessageInsert<'_> {
    /// Its delivery identity, times to the microsecond as stored.
    pub fn delivery_key(&self) -> DeliveryKey {
        let m = &self.message;
        (m.channel_id, m.message_id, m.edit_date.map(micros))
    }
}

/// The first row of each delivery identity of `rows`, with its position there, in identity
/// order: what one insert sends. One order for every batch, so concurrent batches wait on each
/// other's claims instead of deadlocking.
pub fn first_deliveries<'r, 'a>(
    rows: &'r [MessageInsert<'a>],
) -> Vec<(usize, &'r MessageInsert<'a>)> {
    let mut seen = HashSet::with_capacity(rows.len());
    let mut firsts: Vec<_> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| seen.insert(r.delivery_key()))
        .collect();
    firsts.sort_by_key(|(_, r)| r.delivery_key());
    firsts
}

/// What the insert answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveAnswer {
    /// `channel_id, message_id, edit_date` of each row stored (the ingest tells each delivery
    /// whether it was new).
    Keys,
    /// Nothing: its count of rows is the number stored (the legacy importer's counters).
    Count,
}

/// The columns of [`MessageInsert`] rows, one array each, bound as `$1`..`$13` by
/// [`MessageArrays::bind`]; the metadata as JSON text (cast to `jsonb` by the statement, so
/// numbers keep every digit). PostgreSQL reads 5,000 rows from them in 5 ms, against 40–55 ms
/// from one `jsonb` parameter.
#[derive(Debug, Default)]
pub struct MessageArrays<'r> {
    channel_id: Vec<i64>,
    message_id: Vec<i64>,
    message_date: Vec<DateTime<Utc>>,
    edit_date: Vec<Option<DateTime<Utc>>>,
    text: Vec<&'r str>,
    media_type: Vec<Option<&'r str>>,
    source: Vec<Option<&'r str>>,
    metadata: Vec<Option<Cow<'r, str>>>,
    outcome: Vec<&'r str>,
    reason: Vec<Option<&'r str>>,
    parser_version: Vec<&'r str>,
    received_at: Vec<Option<DateTime<Utc>>>,
    import_id: Vec<Option<Uuid>>,
}

impl<'r> MessageArrays<'r> {
    /// The columns of `rows`, times to the microsecond.
    pub fn of(rows: &[&'r MessageInsert<'_>]) -> Self {
        let mut a = Self::default();
        for r in rows {
            let m = &r.message;
            a.channel_id.push(m.channel_id);
            a.message_id.push(m.message_id);
            a.message_date.push(micros(m.message_date));
            a.edit_date.push(m.edit_date.map(micros));
            a.text.push(&r.text);
            a.media_type.push(r.media_type.as_deref());
            a.source.push(r.source.as_deref());
            a.metadata.push(match &r.metadata {
                MessageMetadata::Json(raw) => Some(Cow::Borrowed(raw.get())),
                MessageMetadata::Value(v) if v.is_null() => None,
                MessageMetadata::Value(v) => Some(Cow::Owned(v.to_string())),
            });
            a.outcome.push(r.outcome);
            a.reason.push(r.reason.as_deref());
            a.parser_version.push(r.parser_version);
            a.received_at.push(r.received_at.map(micros));
            a.import_id.push(r.import_id);
        }
        a
    }

    /// `query` (the statement of [`insert_messages_sql`]) with the arrays bound in order.
    pub fn bind<'q>(
        self,
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments>
    where
        'r: 'q,
    {
        query
            .bind(self.channel_id)
            .bind(self.message_id)
            .bind(self.message_date)
            .bind(self.edit_date)
            .bind(self.text)
            .bind(self.media_type)
            .bind(self.source)
            .bind(self.metadata)
            .bind(self.outcome)
            .bind(self.reason)
            .bind(self.parser_version)
            .bind(self.received_at)
            .bind(self.import_id)
    }
}

/// The insert of a batch of [`MessageInsert`] rows bound by [`MessageArrays::bind`], each
/// delivery identity at most once ([`first_deliveries`]).
pub fn insert_messages_sql(answer: ArchiveAnswer) -> &'static str {
    static KEYS: LazyLock<String> =
        LazyLock::new(|| insert_sql("\nRETURNING m.channel_id, m.message_id, m.edit_date"));
    static COUNT: LazyLock<String> = LazyLock::new(|| insert_sql(""));
    match answer {
        ArchiveAnswer::Keys => &KEYS,
        ArchiveAnswer::Count => &COUNT,
    }
}

fn insert_sql(tail: &str) -> String {
    format!(
        "WITH x AS (
  SELECT x.channel_id, x.message_id, x.message_date, x.edit_date, x.text, x.media_type,
         x.source, x.metadata::jsonb AS metadata, x.outcome, x.reason, x.parser_version,
         x.received_at, x.import_id
  FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::timestamptz[], $5::text[],
              $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
              $12::timestamptz[], $13::uuid[]) AS x(
    channel_id, message_id, message_date, edit_date, text, media_type, source, metadata,
    outcome, reason, parser_version, received_at, import_id)
), claimed AS (
  INSERT INTO forwarded_messages.delivery_keys AS k (channel_id, message_id, edit_date)
  SELECT channel_id, message_id, edit_date FROM x
  ON CONFLICT DO NOTHING
  RETURNING k.channel_id, k.message_id, k.edit_date
)
INSERT INTO forwarded_messages.messages AS m
  (channel_id, message_id, message_date, edit_date, text, media_type, source, metadata,
   outcome, reason, parser_version, received_at, import_id)
SELECT x.channel_id, x.message_id, x.message_date, x.edit_date, x.text, x.media_type, x.source,
       COALESCE(x.metadata, '{{}}'::jsonb), x.outcome, x.reason, x.parser_version,
       COALESCE(x.received_at, pg_catalog.now()), x.import_id
FROM x JOIN claimed c ON c.channel_id = x.channel_id AND c.message_id = x.message_id
                     AND c.edit_date IS NOT DISTINCT FROM x.edit_date
ON CONFLICT (channel_id, message_id, edit_date, message_date) DO NOTHING{tail}"
    )
}
