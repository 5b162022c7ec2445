//! Every recorded skip of a signal, re-derived from its legacy row: a row recorded as skipped
//! that maps after all, or whose reason differs, is a mismatch (a wrong skip would otherwise
//! stay invisible: the counts still reconcile, since source = imported + skipped).

use futures_util::TryStreamExt;
use sea_orm::sqlx::{AssertSqlSafe, PgConnection};
use serde::Serialize;

use super::Context;
use crate::error::{LegacyError, SqlContext};
use crate::mapping::map_signal;
use crate::shape::{SIGNALS_TABLE, SignalsShape};
use crate::source;

/// Differences listed in full (the rest are counted).
const LISTED: usize = 20;

/// The re-derivation of recorded skips.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SkipCheck {
    /// Recorded skips (distinct legacy keys).
    pub recorded: usize,
    /// Legacy rows found for them.
    pub rechecked: usize,
    /// Of which the skip does not hold (maps, or another reason).
    pub wrong: usize,
    /// The first differences.
    pub mismatches: Vec<String>,
}

/// Re-reads the legacy rows of `skipped` (key, reason) and maps them again.
pub(super) async fn recheck(
    src: &mut PgConnection,
    ctx: &Context<'_>,
    sh: &SignalsShape,
    skipped: &[(String, String)],
) -> Result<SkipCheck, LegacyError> {
    let mut check = SkipCheck {
        recorded: skipped.len(),
        ..SkipCheck::default()
    };
    if skipped.is_empty() {
        return Ok(check);
    }
    let reasons: std::collections::HashMap<&str, &str> = skipped
        .iter()
        .map(|(k, r)| (k.as_str(), r.as_str()))
        .collect();
    let keys: Vec<&str> = reasons.keys().copied().collect();
    let sql = format!(
        "{} WHERE coalesce({}, 'NULL') = ANY($1)",
        source::signals_select(ctx.shape, sh),
        sh.id.text("s")
    );
    let mut rows = sea_orm::sqlx::query(AssertSqlSafe(sql))
        .bind(keys)
        .fetch(&mut *src);
    let mut seen = std::collections::HashSet::new();
    while let Some(row) = rows.try_next().await.ctx("re-reading skipped signals")? {
        let legacy = source::decode_signal(&row)?;
        let key = if legacy.id.is_empty() {
            "NULL".to_owned()
        } else {
            legacy.id.clone()
        };
        check.rechecked += usize::from(seen.insert(key.clone()));
        let expected = if legacy.ts.is_none() {
            Some("ts_missing")
        } else if legacy.id.is_empty() {
            Some("id_missing")
        } else {
            map_signal(&legacy, ctx.channels, &ctx.bounds)
                .err()
                .map(|s| s.code)
        };
        let recorded = reasons.get(key.as_str()).copied().unwrap_or("");
        if expected != Some(recorded) {
            check.wrong += 1;
            if check.mismatches.len() < LISTED {
                check.mismatches.push(format!(
                    "{SIGNALS_TABLE} {key}: recorded as skipped ({recorded}), but {}",
                    expected.map_or_else(
                        || "it maps to a signal".to_owned(),
                        |e| format!("its reason is {e}")
                    )
                ));
            }
        }
    }
    let missing = check.recorded - check.rechecked;
    if missing > 0 {
        check.wrong += missing;
        check
            .mismatches
            .push(format!("{missing} recorded skips have no legacy row"));
    }
    Ok(check)
}
