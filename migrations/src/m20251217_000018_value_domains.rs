//! The value rules of `signals.signals` (kinds, directions, statuses, positive prices, revision
//! and target numbers) move from CHECK constraints of the table into domains of its columns.
//! TimescaleDB copies a table's CHECK constraints onto every chunk, and a list query with a
//! bound parameter re-reads the constraints of each chunk in its plan at every execution (the
//! chunk exclusion at executor start-up parses and tests them): 29 µs per chunk with the six
//! value checks, 8 µs with the time range alone. A domain's rule is checked on every write just
//! the same, and no plan reads it. Measured in `docs/benchmarks.md`.
//!
//! The columns first take domains without rules (binary-compatible: no table rewrite), then the
//! rules are added to the domains, which checks the stored rows once. On 5 M signals that held
//! the table's exclusive lock for 21 s, then about a second per rule: a deploy-window step, as
//! the stack runs it (migrations before the services).

use sea_orm_migration::prelude::*;

/// Replaces the value CHECK constraints of `signals.signals` with domains.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251217_000018_value_domains"
    }
}

/// Each domain: name, base type, the columns of `signals.signals` that take it, and its rule.
const DOMAINS: [(&str, &str, &[&str], &str); 7] = [
    ("signal_revision", "INTEGER", &["revision"], "VALUE >= 1"),
    (
        "signal_kind",
        "TEXT",
        &["kind"],
        "VALUE IN ('swing_trade', 'day_trade', 'scalping', 'position')",
    ),
    (
        "signal_direction",
        "TEXT",
        &["direction"],
        "VALUE IN ('long', 'short')",
    ),
    (
        "signal_status",
        "TEXT",
        &["status"],
        "VALUE IN ('open', 'target_hit', 'stopped', 'cancelled', 'expired', 'closed')",
    ),
    ("target_index", "SMALLINT", &["target_index"], "VALUE >= 1"),
    (
        "price",
        "NUMERIC(18,6)",
        &["entry_min", "entry_max", "target_final", "stop"],
        "VALUE > 0",
    ),
    ("prices", "NUMERIC(18,6)[]", &["targets"], "0 < ALL (VALUE)"),
];

/// The table's value constraints: the ones `m20251101_000002_signals` and
/// `m20251128_000010_positive_prices` created, with their rules.
const TABLE_CHECKS: [(&str, &str); 6] = [
    ("signals_revision_check", "revision >= 1"),
    (
        "signals_kind_check",
        "kind IN ('swing_trade', 'day_trade', 'scalping', 'position')",
    ),
    ("signals_direction_check", "direction IN ('long', 'short')"),
    (
        "signals_status_check",
        "status IN ('open', 'target_hit', 'stopped', 'cancelled', 'expired', 'closed')",
    ),
    ("signals_target_index_check", "target_index >= 1"),
    (
        "signals_prices_positive",
        "entry_min > 0 AND entry_max > 0 AND target_final > 0 AND stop > 0 AND 0 < ALL (targets)",
    ),
];

fn up_sql() -> String {
    let mut create = String::new();
    let mut alter = Vec::new();
    let mut rules = String::new();
    for (domain, base, columns, rule) in DOMAINS {
        create.push_str(&format!("CREATE DOMAIN signals.{domain} AS {base};\n"));
        for column in columns {
            alter.push(format!("ALTER COLUMN {column} TYPE signals.{domain}"));
        }
        rules.push_str(&format!(
            "ALTER DOMAIN signals.{domain} ADD CONSTRAINT {domain}_check CHECK ({rule});\n"
        ));
    }
    for (constraint, _) in TABLE_CHECKS {
        alter.push(format!("DROP CONSTRAINT IF EXISTS {constraint}"));
    }
    format!(
        "DO $$ BEGIN
  IF pg_catalog.to_regtype('signals.price') IS NULL THEN
{create}ALTER TABLE signals.signals
  {};
{rules}  END IF;
END $$;",
        alter.join(",\n  ")
    )
}

fn down_sql() -> String {
    let mut alter = Vec::new();
    for (_, base, columns, _) in DOMAINS {
        for column in columns {
            alter.push(format!("ALTER COLUMN {column} TYPE {base}"));
        }
    }
    for (constraint, rule) in TABLE_CHECKS {
        alter.push(format!("ADD CONSTRAINT {constraint} CHECK ({rule})"));
    }
    let drop = DOMAINS
        .iter()
        .map(|(domain, ..)| format!("signals.{domain}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "ALTER TABLE signals.signals\n  {};\nDROP DOMAIN IF EXISTS {drop};",
        alter.join(",\n  ")
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&up_sql())
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&down_sql())
            .await?;
        Ok(())
    }
}
