//! Prices are positive, in the store as in the domain (`Price`): a row with a zero or negative
//! price (a hand-written insert, a faulty seed) would otherwise be stored and then refused by
//! every read that meets it. NULL prices (not given) stay allowed.

use sea_orm_migration::prelude::*;

/// Adds `*_prices_positive` CHECK constraints to `signals.signals` and `signals.signal_revisions`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251128_000010_positive_prices"
    }
}

/// NULL comparisons leave a CHECK satisfied, so only a price that is present and not positive
/// fails it.
const POSITIVE: &str = "entry_min > 0 AND entry_max > 0 AND target_final > 0 AND stop > 0 \
                        AND 0 < ALL (targets)";

fn add(table: &str, constraint: &str) -> String {
    format!(
        "DO $$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
                          WHERE conname = '{constraint}' AND conrelid = '{table}'::regclass) THEN
             ALTER TABLE {table} ADD CONSTRAINT {constraint} CHECK ({POSITIVE});
           END IF;
         END $$;"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(&add("signals.signals", "signals_prices_positive"))
            .await?;
        db.execute_unprepared(&add(
            "signals.signal_revisions",
            "signal_revisions_prices_positive",
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE signals.signal_revisions \
                   DROP CONSTRAINT IF EXISTS signal_revisions_prices_positive;
                 ALTER TABLE signals.signals DROP CONSTRAINT IF EXISTS signals_prices_positive;",
            )
            .await?;
        Ok(())
    }
}
