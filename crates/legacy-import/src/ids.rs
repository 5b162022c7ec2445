//! Pre-flight maps a sample of legacy ids for real, as the copy will: a declared type that
//! passes is not enough (ids cast to text, or holding something else, would import nothing).

use sea_orm::sqlx::{AssertSqlSafe, PgConnection, Row};

use crate::error::{LegacyError, SqlContext};
use crate::preflight::Status;
use crate::shape::{LegacyShape, SIGNALS_TABLE, SignalsShape};

/// What pre-flight found mapping a sample of legacy ids to `legacy_id` UUIDs.
#[derive(Debug, Clone)]
pub struct IdSample {
    /// Ids sampled (non-NULL).
    pub sampled: i64,
    /// Of which map to a UUID.
    pub mapped: i64,
    /// Distinct UUIDs among them.
    pub distinct: i64,
    /// One id and its UUID.
    pub example: Option<(String, String)>,
    /// The id's declared type.
    pub sql_type: String,
}

impl IdSample {
    /// NO-GO when none maps (the import would write nothing), WARN when some do not (they are
    /// skipped) or collide.
    pub fn status(&self) -> Status {
        if self.sampled > 0 && self.mapped == 0 {
            Status::NoGo
        } else if self.mapped < self.sampled || self.distinct < self.mapped {
            Status::Warn
        } else {
            Status::Go
        }
    }
}

impl std::fmt::Display for IdSample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} sampled ids ({}) map to a legacy_id, {} distinct",
            self.mapped, self.sampled, self.sql_type, self.distinct
        )?;
        if let Some((id, uuid)) = &self.example {
            write!(f, "; e.g. {id} -> {uuid}")?;
        }
        if self.sampled > 0 && self.mapped == 0 {
            write!(f, "; nothing would be imported")?;
        }
        Ok(())
    }
}

/// Maps the first `n` non-NULL legacy ids in SQL, as the copy will.
pub async fn sample_ids(
    conn: &mut PgConnection,
    shape: &LegacyShape,
    sh: &SignalsShape,
    n: i64,
) -> Result<IdSample, LegacyError> {
    let q = format!(
        "SELECT count(*) AS n, count(u) AS mapped, count(DISTINCT u) AS distinct_u, \
                min(id) FILTER (WHERE u IS NOT NULL) AS id, \
                (array_agg(u ORDER BY id) FILTER (WHERE u IS NOT NULL))[1] AS u \
         FROM (SELECT {id} AS id, {u} AS u FROM {t} s WHERE {col} IS NOT NULL LIMIT $1) x",
        id = sh.id.text("s"),
        u = sh.legacy_uuid("s"),
        t = shape.table(SIGNALS_TABLE),
        col = sh.id.at("s"),
    );
    let row = sea_orm::sqlx::query(AssertSqlSafe(q))
        .bind(n)
        .fetch_one(&mut *conn)
        .await
        .ctx("sampling legacy ids")?;
    let get = |c: &str| row.try_get::<i64, _>(c);
    let example: (Option<String>, Option<String>) = (
        row.try_get("id").ctx("sampling legacy ids")?,
        row.try_get("u").ctx("sampling legacy ids")?,
    );
    Ok(IdSample {
        sampled: get("n").ctx("sampling legacy ids")?,
        mapped: get("mapped").ctx("sampling legacy ids")?,
        distinct: get("distinct_u").ctx("sampling legacy ids")?,
        example: match example {
            (Some(i), Some(u)) => Some((i, u)),
            _ => None,
        },
        sql_type: sh.id.sql_type.clone(),
    })
}
