//! What the legacy schema actually looks like: which tables and columns exist and with which
//! types, read from the catalog, and the SQL that converts each column explicitly by name (never
//! by position). A column whose type has no safe conversion is reported, not guessed.

mod classify;
mod columns;
#[cfg(test)]
mod tests;

use sea_orm::sqlx::{PgConnection, Row};
use serde::Serialize;

use super::error::{LegacyError, SqlContext};
pub use columns::{Col, TimeCol, TimeKind, TypeClass};

use crate::mapping::{ID_NAMESPACE, INTEGER_PATTERN, UUID_PATTERN};

/// The legacy signals table (its logical name: `tp_capital_signals` in both shapes, or the
/// shared database's `signals_v2` when only that exists).
pub const SIGNALS_TABLE: &str = "tp_capital_signals";
/// The legacy message archive (`<schema>.forwarded_messages` in the shared database,
/// `forwarded_messages.messages` in the dedicated stack).
pub const MESSAGES_TABLE: &str = "forwarded_messages";
/// The legacy channel list (labels only; its tokens are never read; shared database only).
pub const CHANNELS_TABLE: &str = "telegram_channels";

/// Where the signals table is looked for without `--schema`, in order: the dedicated stack's
/// init script (`signals.tp_capital_signals`), then the shared database (`tp_capital`, the table
/// or the view of the same name, else its `signals_v2` table).
const SIGNALS_CANDIDATES: [(&str, &str); 3] = [
    ("signals", SIGNALS_TABLE),
    ("tp_capital", SIGNALS_TABLE),
    ("tp_capital", "signals_v2"),
];

/// `name` as a quoted SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as a quoted SQL literal.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The columns of `tp_capital_signals` the import reads.
#[derive(Debug, Clone, Serialize)]
pub struct SignalsShape {
    /// `id` (the natural key).
    pub id: Col,
    /// `ts`.
    pub ts: TimeCol,
    /// `channel`.
    pub channel: Col,
    /// `signal_type`.
    pub signal_type: Option<Col>,
    /// `asset`.
    pub asset: Col,
    /// `buy_min … stop`.
    pub prices: [Option<Col>; 6],
    /// `raw_message`.
    pub raw_message: Option<Col>,
    /// `source`.
    pub source: Option<Col>,
    /// `ingested_at`.
    pub ingested_at: Option<TimeCol>,
    /// `created_at`.
    pub created_at: Option<TimeCol>,
    /// `updated_at`.
    pub updated_at: Option<TimeCol>,
}

impl SignalsShape {
    /// The UUID `id` maps to, as SQL (NULL when it maps to none): a UUID as is; an integer as
    /// `md5(ID_NAMESPACE || id)`; text as whichever of the two it holds.
    pub fn legacy_uuid(&self, alias: &str) -> String {
        let c = self.id.at(alias);
        let ns = literal(ID_NAMESPACE);
        match self.id.class {
            TypeClass::Uuid => format!("{c}::text"),
            TypeClass::Integer => format!("md5({ns} || {c}::bigint::text)::uuid::text"),
            _ => format!(
                "(CASE WHEN btrim({c}::text) ~ {u} THEN btrim({c}::text)::uuid::text \
                 WHEN btrim({c}::text) ~ {i} THEN md5({ns} || btrim({c}::text)::bigint::text)::uuid::text END)",
                u = literal(UUID_PATTERN),
                i = literal(INTEGER_PATTERN)
            ),
        }
    }
}

/// The columns of `forwarded_messages` the import reads.
#[derive(Debug, Clone, Serialize)]
pub struct MessagesShape {
    /// `channel_id`.
    pub channel_id: Col,
    /// `message_id`.
    pub message_id: Col,
    /// `original_timestamp`.
    pub ts: TimeCol,
    /// `message_text`.
    pub text: Option<Col>,
    /// `photos`.
    pub photos: Option<Col>,
    /// `received_at`.
    pub received_at: Option<TimeCol>,
}

/// The columns of `telegram_channels` the import reads: never anything else.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelsShape {
    /// `channel_id`.
    pub channel_id: Col,
    /// `label`.
    pub label: Option<Col>,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Imported, with a caveat.
    Warn,
    /// Blocks the import.
    Fail,
}

/// What happens to one legacy column.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnMapping {
    /// Legacy table.
    pub table: String,
    /// Legacy column.
    pub column: String,
    /// Its type.
    pub sql_type: String,
    /// Where it goes, or why it goes nowhere.
    pub target: String,
    /// How sure.
    pub severity: Severity,
}

/// The relation a logical legacy table was found as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relation {
    /// The logical table ([`SIGNALS_TABLE`], [`MESSAGES_TABLE`], [`CHANNELS_TABLE`]).
    pub logical: String,
    /// Its schema.
    pub schema: String,
    /// Its name.
    pub name: String,
    /// `table`, `view`, `partitioned table`, …
    pub kind: String,
}

impl Relation {
    /// `schema.name`, quoted.
    pub fn qualified(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }
}

/// Everything found in the legacy schema.
#[derive(Debug, Clone, Serialize)]
pub struct LegacyShape {
    /// The schema of the signals table (the run's `legacy_schema`).
    pub schema: String,
    /// Where each logical table was found.
    pub relations: Vec<Relation>,
    /// The signals table, when present and usable.
    pub signals: Option<SignalsShape>,
    /// The message archive, when present and usable.
    pub messages: Option<MessagesShape>,
    /// The channel list, when present.
    pub channels: Option<ChannelsShape>,
    /// Every legacy column and what happens to it.
    pub columns: Vec<ColumnMapping>,
    /// Findings that are not about a single column (missing tables, missing columns).
    pub findings: Vec<(Severity, String)>,
    /// All columns of each table present, in table order (for the backup).
    pub all_columns: Vec<(String, Vec<Col>)>,
}

impl LegacyShape {
    /// True when nothing blocks the import.
    #[cfg(test)]
    pub fn is_go(&self) -> bool {
        self.signals.is_some()
            && !self.columns.iter().any(|c| c.severity == Severity::Fail)
            && !self.findings.iter().any(|(s, _)| *s == Severity::Fail)
    }

    /// The relation of a logical table, quoted (`schema.table` when it was not found).
    pub fn table(&self, table: &str) -> String {
        self.relations
            .iter()
            .find(|r| r.logical == table)
            .map_or_else(
                || format!("{}.{}", ident(&self.schema), ident(table)),
                Relation::qualified,
            )
    }

    /// The shape in one line, as pre-flight and the report name it: which layout, which
    /// relations, the id and time types.
    pub fn name(&self) -> String {
        let rel = |t: &str| {
            self.relations
                .iter()
                .find(|r| r.logical == t)
                .map(|r| format!("{}.{} ({})", r.schema, r.name, r.kind))
        };
        let layout = match self.signals.as_ref().map(|s| s.id.class) {
            Some(TypeClass::Integer) => "dedicated stack (integer ids)",
            Some(TypeClass::Uuid) => "shared database (UUID ids)",
            Some(_) => "text ids",
            None => "unusable",
        };
        let mut parts = vec![layout.to_owned()];
        if let Some(s) = &self.signals {
            parts.push(format!(
                "signals {} id {} ts {}",
                rel(SIGNALS_TABLE).unwrap_or_default(),
                s.id.sql_type,
                s.ts.col.sql_type
            ));
        }
        if let Some(m) = rel(MESSAGES_TABLE) {
            parts.push(format!("archive {m}"));
        }
        if let Some(c) = rel(CHANNELS_TABLE) {
            parts.push(format!("channels {c}"));
        }
        parts.join("; ")
    }

    /// The columns of `table`, if present.
    pub fn columns_of(&self, table: &str) -> Option<&[Col]> {
        self.all_columns
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, c)| c.as_slice())
    }
}

/// Finds the legacy tables (in `schema`, or where either known layout keeps them) and decides
/// every column's fate.
pub async fn detect(
    source: &mut PgConnection,
    schema: Option<&str>,
) -> Result<LegacyShape, LegacyError> {
    let signals: Vec<(String, String)> = match schema {
        Some(s) => vec![
            (s.to_owned(), SIGNALS_TABLE.to_owned()),
            (s.to_owned(), "signals_v2".to_owned()),
        ],
        None => SIGNALS_CANDIDATES
            .iter()
            .map(|(s, t)| ((*s).to_owned(), (*t).to_owned()))
            .collect(),
    };
    let mut relations = Vec::new();
    let found = first_relation(source, SIGNALS_TABLE, &signals).await?;
    let home = found.as_ref().map_or_else(
        || schema.unwrap_or("tp_capital").to_owned(),
        |r| r.schema.clone(),
    );
    relations.extend(found);
    let messages = [
        (home.clone(), MESSAGES_TABLE.to_owned()),
        ("forwarded_messages".to_owned(), "messages".to_owned()),
    ];
    relations.extend(first_relation(source, MESSAGES_TABLE, &messages).await?);
    let channels = [(home.clone(), CHANNELS_TABLE.to_owned())];
    relations.extend(first_relation(source, CHANNELS_TABLE, &channels).await?);

    let mut all_columns: Vec<(String, Vec<Col>)> = Vec::new();
    for rel in &relations {
        let rows = sea_orm::sqlx::query(
            "SELECT a.attname::text AS col, \
                    pg_catalog.format_type(a.atttypid, a.atttypmod) AS sql_type, \
                    COALESCE(bt.typname, t.typname)::text AS typname \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype \
             WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
        )
        .bind(rel.qualified())
        .fetch_all(&mut *source)
        .await
        .ctx("reading the legacy catalog")?;
        let mut cols = Vec::new();
        for row in rows {
            let typname: String = row.try_get("typname").ctx("catalog row")?;
            cols.push(Col {
                name: row.try_get("col").ctx("catalog row")?,
                sql_type: row.try_get("sql_type").ctx("catalog row")?,
                class: TypeClass::of(&typname),
            });
        }
        all_columns.push((rel.logical.clone(), cols));
    }
    let mut shape = classify::classify(&home, all_columns);
    if shape.signals.is_none() && !relations.iter().any(|r| r.logical == SIGNALS_TABLE) {
        let looked: Vec<String> = signals.iter().map(|(s, t)| format!("{s}.{t}")).collect();
        shape
            .findings
            .retain(|(_, f)| !f.contains("does not exist"));
        shape.findings.insert(
            0,
            (
                Severity::Fail,
                format!(
                    "no legacy signals table: looked for {} (pass --schema if it lives elsewhere)",
                    looked.join(", ")
                ),
            ),
        );
    }
    shape.relations = relations;
    Ok(shape)
}

/// The first of `candidates` (schema, name) that exists and this role can see.
async fn first_relation(
    source: &mut PgConnection,
    logical: &str,
    candidates: &[(String, String)],
) -> Result<Option<Relation>, LegacyError> {
    for (schema, name) in candidates {
        let row = sea_orm::sqlx::query(
            "SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' \
                      WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' \
                      WHEN 'f' THEN 'foreign table' END AS kind \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
        )
        .bind(schema)
        .bind(name)
        .fetch_optional(&mut *source)
        .await
        .ctx("reading the legacy catalog")?;
        if let Some(row) = row {
            return Ok(Some(Relation {
                logical: logical.to_owned(),
                schema: schema.clone(),
                name: name.clone(),
                kind: row.try_get("kind").ctx("catalog row")?,
            }));
        }
    }
    Ok(None)
}
