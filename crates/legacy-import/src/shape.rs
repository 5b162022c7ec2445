//! What the legacy schema actually looks like: which tables and columns exist and with which
//! types, read from the catalog, and the SQL that converts each column explicitly by name (never
//! by position). A column whose type has no safe conversion is reported, not guessed.

use sea_orm::sqlx::{PgConnection, Row};
use serde::Serialize;

use super::error::{LegacyError, SqlContext};

/// The legacy signals table.
pub const SIGNALS_TABLE: &str = "tp_capital_signals";
/// The legacy message archive.
pub const MESSAGES_TABLE: &str = "forwarded_messages";
/// The legacy channel list (labels only; its tokens are never read).
pub const CHANNELS_TABLE: &str = "telegram_channels";

/// `name` as a quoted SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as a quoted SQL literal.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A coarse class of a PostgreSQL type, enough to choose a conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeClass {
    /// `uuid`.
    Uuid,
    /// `text`, `varchar`, `char`.
    Text,
    /// `smallint`, `integer`, `bigint`.
    Integer,
    /// `numeric`.
    Numeric,
    /// `real`, `double precision`.
    Float,
    /// `timestamp with time zone`.
    TimestampTz,
    /// `timestamp without time zone`.
    Timestamp,
    /// `json`, `jsonb`.
    Json,
    /// Any array.
    Array,
    /// Anything else.
    Other,
}

impl TypeClass {
    fn of(typname: &str) -> Self {
        match typname {
            "uuid" => Self::Uuid,
            "text" | "varchar" | "bpchar" | "name" | "citext" => Self::Text,
            "int2" | "int4" | "int8" => Self::Integer,
            "numeric" => Self::Numeric,
            "float4" | "float8" => Self::Float,
            "timestamptz" => Self::TimestampTz,
            "timestamp" => Self::Timestamp,
            "json" | "jsonb" => Self::Json,
            t if t.starts_with('_') => Self::Array,
            _ => Self::Other,
        }
    }
}

/// One legacy column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Col {
    /// Its name.
    pub name: String,
    /// `format_type(…)`, usable in a cast.
    pub sql_type: String,
    /// Its class.
    pub class: TypeClass,
}

impl Col {
    /// `alias.name`.
    pub fn at(&self, alias: &str) -> String {
        format!("{alias}.{}", ident(&self.name))
    }

    /// `alias.name::text`.
    pub fn text(&self, alias: &str) -> String {
        format!("{}::text", self.at(alias))
    }

    /// `btrim(alias.name::text)`.
    pub fn trimmed(&self, alias: &str) -> String {
        format!("btrim({})", self.text(alias))
    }
}

/// How a legacy time column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeKind {
    /// `timestamptz`: as is.
    TimestampTz,
    /// `timestamp`: taken as UTC.
    TimestampUtc,
    /// An integer: milliseconds since the Unix epoch.
    EpochMillis,
    /// A numeric: milliseconds since the Unix epoch, possibly fractional.
    EpochMillisNumeric,
}

/// A legacy time column and its conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeCol {
    /// The column.
    pub col: Col,
    /// Its conversion.
    pub kind: TimeKind,
}

impl TimeCol {
    fn new(col: Col) -> Option<Self> {
        let kind = match col.class {
            TypeClass::TimestampTz => TimeKind::TimestampTz,
            TypeClass::Timestamp => TimeKind::TimestampUtc,
            TypeClass::Integer => TimeKind::EpochMillis,
            TypeClass::Numeric => TimeKind::EpochMillisNumeric,
            _ => return None,
        };
        Some(Self { col, kind })
    }

    /// The value as a `timestamptz`.
    pub fn fetch(&self, alias: &str) -> String {
        let c = self.col.at(alias);
        match self.kind {
            TimeKind::TimestampTz => c,
            TimeKind::TimestampUtc => format!("({c} AT TIME ZONE 'UTC')"),
            TimeKind::EpochMillis => {
                format!("('epoch'::timestamptz + {c}::bigint * interval '1 millisecond')")
            }
            TimeKind::EpochMillisNumeric => {
                format!("('epoch'::timestamptz + {c}::float8 * interval '1 millisecond')")
            }
        }
    }

    /// Microseconds since the epoch as text, computed without going through a time value for
    /// epoch columns (an independent path for the checksums).
    pub fn micros(&self, alias: &str) -> String {
        let c = self.col.at(alias);
        match self.kind {
            TimeKind::TimestampTz | TimeKind::TimestampUtc => {
                format!("(extract(epoch FROM {c}) * 1000000)::bigint::text")
            }
            TimeKind::EpochMillis => format!("({c}::bigint * 1000)::text"),
            TimeKind::EpochMillisNumeric => format!("round({c} * 1000)::bigint::text"),
        }
    }

    /// The UTC day.
    pub fn day(&self, alias: &str) -> String {
        let c = self.col.at(alias);
        match self.kind {
            TimeKind::TimestampTz => format!("({c} AT TIME ZONE 'UTC')::date"),
            TimeKind::TimestampUtc => format!("{c}::date"),
            TimeKind::EpochMillis => format!("(date '1970-01-01' + ({c}::bigint / 86400000)::int)"),
            TimeKind::EpochMillisNumeric => {
                format!("(date '1970-01-01' + floor({c} / 86400000)::int)")
            }
        }
    }
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

/// Everything found in the legacy schema.
#[derive(Debug, Clone, Serialize)]
pub struct LegacyShape {
    /// The schema name.
    pub schema: String,
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

    /// `schema.table`, quoted.
    pub fn table(&self, table: &str) -> String {
        format!("{}.{}", ident(&self.schema), ident(table))
    }

    /// The columns of `table`, if present.
    pub fn columns_of(&self, table: &str) -> Option<&[Col]> {
        self.all_columns
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, c)| c.as_slice())
    }
}

/// Reads the catalog of `schema` and decides every column's fate.
pub async fn detect(source: &mut PgConnection, schema: &str) -> Result<LegacyShape, LegacyError> {
    let rows = sea_orm::sqlx::query(
        "SELECT c.relname::text AS tbl, a.attname::text AS col, \
                pg_catalog.format_type(a.atttypid, a.atttypmod) AS sql_type, \
                COALESCE(bt.typname, t.typname)::text AS typname \
         FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype \
         WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
           AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY c.relname, a.attnum",
    )
    .bind(schema)
    .bind(vec![SIGNALS_TABLE, MESSAGES_TABLE, CHANNELS_TABLE])
    .fetch_all(&mut *source)
    .await
    .ctx("reading the legacy catalog")?;
    let mut all_columns: Vec<(String, Vec<Col>)> = Vec::new();
    for row in rows {
        let table: String = row.try_get("tbl").ctx("catalog row")?;
        let typname: String = row.try_get("typname").ctx("catalog row")?;
        let col = Col {
            name: row.try_get("col").ctx("catalog row")?,
            sql_type: row.try_get("sql_type").ctx("catalog row")?,
            class: TypeClass::of(&typname),
        };
        match all_columns.iter_mut().find(|(t, _)| *t == table) {
            Some((_, cols)) => cols.push(col),
            None => all_columns.push((table, vec![col])),
        }
    }
    Ok(classify(schema, all_columns))
}

struct Mapper<'a> {
    table: &'static str,
    cols: &'a [Col],
    used: Vec<String>,
    out: Vec<ColumnMapping>,
    findings: Vec<(Severity, String)>,
}

impl<'a> Mapper<'a> {
    fn new(table: &'static str, cols: &'a [Col]) -> Self {
        Self {
            table,
            cols,
            used: Vec::new(),
            out: Vec::new(),
            findings: Vec::new(),
        }
    }

    fn record(&mut self, col: &Col, target: String, severity: Severity) {
        self.used.push(col.name.clone());
        self.out.push(ColumnMapping {
            table: self.table.to_owned(),
            column: col.name.clone(),
            sql_type: col.sql_type.clone(),
            target,
            severity,
        });
    }

    fn find(&self, name: &str) -> Option<Col> {
        self.cols.iter().find(|c| c.name == name).cloned()
    }

    /// A column converted with `accept`; `required` ones block the import when absent.
    fn take(
        &mut self,
        name: &str,
        required: bool,
        target: &str,
        accept: &[TypeClass],
    ) -> Option<Col> {
        let Some(col) = self.find(name) else {
            let severity = if required {
                Severity::Fail
            } else {
                Severity::Warn
            };
            let effect = if required {
                "required: cannot import without it".to_owned()
            } else {
                format!("absent: {target} left empty")
            };
            self.findings
                .push((severity, format!("{}.{name}: {effect}", self.table)));
            return None;
        };
        if accept.contains(&col.class) {
            let severity = if col.class == TypeClass::Float {
                Severity::Warn
            } else {
                Severity::Info
            };
            let note = if col.class == TypeClass::Float {
                " (legacy stores binary floating point: read through its shortest exact text)"
            } else {
                ""
            };
            self.record(&col, format!("{target}{note}"), severity);
            Some(col)
        } else {
            self.record(
                &col,
                format!("cannot map type {} to {target}", col.sql_type),
                Severity::Fail,
            );
            None
        }
    }

    fn take_time(&mut self, name: &str, required: bool, target: &str) -> Option<TimeCol> {
        let col = self.take(
            name,
            required,
            target,
            &[
                TypeClass::TimestampTz,
                TypeClass::Timestamp,
                TypeClass::Integer,
                TypeClass::Numeric,
            ],
        )?;
        let time = TimeCol::new(col)?;
        if let Some(m) = self.out.last_mut() {
            m.target = match time.kind {
                TimeKind::TimestampTz => target.to_owned(),
                TimeKind::TimestampUtc => {
                    format!("{target} (timestamp without time zone read as UTC)")
                }
                TimeKind::EpochMillis | TimeKind::EpochMillisNumeric => {
                    format!("{target} (epoch milliseconds)")
                }
            };
            if time.kind == TimeKind::TimestampUtc {
                m.severity = Severity::Warn;
            }
        }
        Some(time)
    }

    fn rest(mut self, why: &str) -> (Vec<ColumnMapping>, Vec<(Severity, String)>) {
        for col in self.cols {
            if !self.used.contains(&col.name) {
                self.out.push(ColumnMapping {
                    table: self.table.to_owned(),
                    column: col.name.clone(),
                    sql_type: col.sql_type.clone(),
                    target: why.to_owned(),
                    severity: Severity::Info,
                });
            }
        }
        (self.out, self.findings)
    }
}

const TEXTUAL: &[TypeClass] = &[TypeClass::Text];
const NUMBERS: &[TypeClass] = &[
    TypeClass::Numeric,
    TypeClass::Integer,
    TypeClass::Float,
    TypeClass::Text,
];
const INTEGERS: &[TypeClass] = &[TypeClass::Integer, TypeClass::Numeric, TypeClass::Text];

fn classify(schema: &str, all_columns: Vec<(String, Vec<Col>)>) -> LegacyShape {
    let mut columns = Vec::new();
    let mut findings = Vec::new();
    let cols_of = |t: &str| {
        all_columns
            .iter()
            .find(|(name, _)| name == t)
            .map(|(_, c)| c.clone())
    };

    let signals = match cols_of(SIGNALS_TABLE) {
        None => {
            findings.push((
                Severity::Fail,
                format!("{schema}.{SIGNALS_TABLE} does not exist (or is not readable)"),
            ));
            None
        }
        Some(cols) => {
            let mut m = Mapper::new(SIGNALS_TABLE, &cols);
            let id = m.take(
                "id",
                true,
                "signals.signals.legacy_id",
                &[TypeClass::Uuid, TypeClass::Text],
            );
            let ts = m.take_time("ts", true, "signals.signals.message_date");
            let channel = m.take(
                "channel",
                true,
                "signals.signals.channel_id (numeric id, or label through telegram_channels, or a synthetic id)",
                &[TypeClass::Text, TypeClass::Integer, TypeClass::Numeric],
            );
            let signal_type = m.take("signal_type", false, "signals.signals.kind", TEXTUAL);
            let asset = m.take("asset", true, "signals.signals.asset", TEXTUAL);
            let targets = [
                "signals.signals.entry_min",
                "signals.signals.entry_max",
                "signals.signals.targets[1]",
                "signals.signals.targets[2]",
                "signals.signals.target_final",
                "signals.signals.stop",
            ];
            let mut prices: [Option<Col>; 6] = Default::default();
            for (i, name) in super::mapping::PRICE_COLUMNS.iter().enumerate() {
                prices[i] = m.take(name, false, targets[i], NUMBERS);
            }
            let raw_message = m.take("raw_message", false, "signals.signals.raw_message", TEXTUAL);
            let source = m.take("source", false, "signals.signals.source", TEXTUAL);
            let ingested_at = m.take_time(
                "ingested_at",
                false,
                "signals.signals.created_at (when created_at is NULL)",
            );
            let created_at = m.take_time("created_at", false, "signals.signals.created_at");
            let updated_at = m.take_time("updated_at", false, "signals.signals.updated_at");
            let (mapped, found) = m.rest("not mapped: no target column (kept in the backup)");
            columns.extend(mapped);
            findings.extend(found);
            match (id, ts, channel, asset) {
                (Some(id), Some(ts), Some(channel), Some(asset)) => Some(SignalsShape {
                    id,
                    ts,
                    channel,
                    signal_type,
                    asset,
                    prices,
                    raw_message,
                    source,
                    ingested_at,
                    created_at,
                    updated_at,
                }),
                _ => None,
            }
        }
    };

    let messages = match cols_of(MESSAGES_TABLE) {
        None => {
            findings.push((
                Severity::Warn,
                format!("{schema}.{MESSAGES_TABLE} does not exist: no archive to import"),
            ));
            None
        }
        Some(cols) => {
            let mut m = Mapper::new(MESSAGES_TABLE, &cols);
            let channel_id = m.take(
                "channel_id",
                true,
                "forwarded_messages.messages.channel_id",
                INTEGERS,
            );
            let message_id = m.take(
                "message_id",
                true,
                "forwarded_messages.messages.message_id",
                INTEGERS,
            );
            let ts = m.take_time(
                "original_timestamp",
                true,
                "forwarded_messages.messages.message_date",
            );
            let text = m.take(
                "message_text",
                false,
                "forwarded_messages.messages.text",
                TEXTUAL,
            );
            let photos = m.take(
                "photos",
                false,
                "forwarded_messages.messages.metadata.legacy_photos (+ media_type 'photo')",
                &[
                    TypeClass::Json,
                    TypeClass::Array,
                    TypeClass::Text,
                    TypeClass::Integer,
                ],
            );
            let received_at = m.take_time(
                "received_at",
                false,
                "forwarded_messages.messages.received_at",
            );
            let (mapped, found) = m.rest("not mapped: no target column (kept in the backup)");
            columns.extend(mapped);
            findings.extend(found);
            match (channel_id, message_id, ts) {
                (Some(channel_id), Some(message_id), Some(ts)) => Some(MessagesShape {
                    channel_id,
                    message_id,
                    ts,
                    text,
                    photos,
                    received_at,
                }),
                _ => None,
            }
        }
    };

    let channels = match cols_of(CHANNELS_TABLE) {
        None => {
            findings.push((
                Severity::Warn,
                format!(
                    "{schema}.{CHANNELS_TABLE} does not exist: channel titles get synthetic ids"
                ),
            ));
            None
        }
        Some(cols) => {
            let mut m = Mapper::new(CHANNELS_TABLE, &cols);
            let channel_id = m.take(
                "channel_id",
                false,
                "resolves legacy channel titles to ids",
                INTEGERS,
            );
            let label = m.take("label", false, "signals.channels.label", TEXTUAL);
            let (mapped, found) =
                m.rest("never read (channel settings and credentials are not copied)");
            columns.extend(mapped);
            findings.extend(found.into_iter().map(|(_, f)| (Severity::Warn, f)));
            channel_id.map(|channel_id| ChannelsShape { channel_id, label })
        }
    };

    LegacyShape {
        schema: schema.to_owned(),
        signals,
        messages,
        channels,
        columns,
        findings,
        all_columns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, typname: &str) -> Col {
        Col {
            name: name.into(),
            sql_type: typname.into(),
            class: TypeClass::of(typname),
        }
    }

    fn signals_cols(ts: &str) -> Vec<Col> {
        let mut v = vec![
            col("id", "uuid"),
            col("ts", ts),
            col("channel", "text"),
            col("signal_type", "text"),
            col("asset", "text"),
        ];
        v.extend(
            super::super::mapping::PRICE_COLUMNS
                .iter()
                .map(|p| col(p, "numeric")),
        );
        v.push(col("raw_message", "text"));
        v.push(col("extra", "text"));
        v
    }

    #[test]
    fn columns_map_by_name_and_extras_are_reported() {
        let mut cols = signals_cols("int8");
        cols.reverse();
        let shape = classify("tp_capital", vec![(SIGNALS_TABLE.into(), cols)]);
        assert!(shape.is_go(), "{:?}", shape.findings);
        let s = shape.signals.as_ref().unwrap();
        assert_eq!(s.ts.kind, TimeKind::EpochMillis);
        assert_eq!(s.prices[5].as_ref().unwrap().name, "stop");
        let extra = shape.columns.iter().find(|c| c.column == "extra").unwrap();
        assert!(extra.target.starts_with("not mapped"));
        assert!(
            shape
                .findings
                .iter()
                .any(|(s, f)| *s == Severity::Warn && f.contains("source"))
        );
    }

    #[test]
    fn unconvertible_types_and_missing_keys_are_no_go() {
        let mut cols = signals_cols("timestamptz");
        cols[1] = col("ts", "date");
        let shape = classify("tp_capital", vec![(SIGNALS_TABLE.into(), cols)]);
        assert!(!shape.is_go());
        let mut cols = signals_cols("timestamptz");
        cols.remove(0);
        assert!(!classify("tp_capital", vec![(SIGNALS_TABLE.into(), cols)]).is_go());
        assert!(!classify("tp_capital", vec![]).is_go());
    }

    #[test]
    fn token_columns_are_never_read() {
        let shape = classify(
            "tp_capital",
            vec![
                (SIGNALS_TABLE.into(), signals_cols("timestamptz")),
                (
                    CHANNELS_TABLE.into(),
                    vec![
                        col("channel_id", "int8"),
                        col("label", "text"),
                        col("bot_token", "text"),
                    ],
                ),
            ],
        );
        let token = shape
            .columns
            .iter()
            .find(|c| c.column == "bot_token")
            .unwrap();
        assert!(token.target.starts_with("never read"));
        assert!(shape.channels.is_some());
    }

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("o'k"), "'o''k'");
    }
}
