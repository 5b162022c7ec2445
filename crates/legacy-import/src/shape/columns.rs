//! One legacy column: its type class and the SQL that reads it as text or as a time.

use serde::Serialize;

use super::ident;

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
    pub(crate) fn of(typname: &str) -> Self {
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
    pub(crate) fn new(col: Col) -> Option<Self> {
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
