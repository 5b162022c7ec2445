//! Decides every legacy column's fate, by name: where it goes, with which conversion, or why
//! it goes nowhere. Both legacy layouts name their columns alike; where the dedicated stack's
//! archive differs (`text`, `photo_id`, `forwarded_at`), the shared database's name wins when
//! both exist.

use super::{
    CHANNELS_TABLE, ChannelsShape, Col, ColumnMapping, LegacyShape, MESSAGES_TABLE, MessagesShape,
    SIGNALS_TABLE, Severity, SignalsShape, TimeCol, TimeKind, TypeClass,
};
use crate::mapping::{ID_NAMESPACE, PRICE_COLUMNS};

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

    /// The first of `names` the table has (else the first, reported as absent).
    fn alias(&self, names: &[&'static str]) -> &'static str {
        names
            .iter()
            .find(|n| self.cols.iter().any(|c| c.name == **n))
            .copied()
            .unwrap_or(names[0])
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

pub(super) fn classify(schema: &str, all_columns: Vec<(String, Vec<Col>)>) -> LegacyShape {
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
                &[TypeClass::Uuid, TypeClass::Integer, TypeClass::Text],
            );
            if let (Some(id), Some(last)) = (&id, m.out.last_mut()) {
                last.target = match id.class {
                    TypeClass::Uuid => "signals.signals.legacy_id (as is)".to_owned(),
                    TypeClass::Integer => {
                        format!("signals.signals.legacy_id (the UUID md5('{ID_NAMESPACE}' || id))")
                    }
                    _ => format!(
                        "signals.signals.legacy_id (a UUID as is, an integer as md5('{ID_NAMESPACE}' || id))"
                    ),
                };
            }
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
            for (i, name) in PRICE_COLUMNS.iter().enumerate() {
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
                m.alias(&["message_text", "text"]),
                false,
                "forwarded_messages.messages.text",
                TEXTUAL,
            );
            let photos = m.take(
                m.alias(&["photos", "photo_id"]),
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
                m.alias(&["received_at", "forwarded_at"]),
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
        relations: Vec::new(),
        signals,
        messages,
        channels,
        columns,
        findings,
        all_columns,
    }
}
