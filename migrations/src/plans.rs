//! The role's plan cache mode, set by every `up` (a role setting lives in the cluster, not in
//! the database, so a restore into a new cluster gets it back from the next `up`).
//!
//! Every repeated statement of the services is shaped for a generic plan: the signal list and
//! the statistics write their time windows as literal chunk bounds, so a generic plan holds only
//! the chunks of its window and still excludes by the parameters at each execution's start.
//! PostgreSQL's default (`auto`) kept planning them afresh (custom plans cost less on paper):
//! 0.75 ms of planning for 0.4 ms of execution per uncached list page, measured in
//! docs/benchmarks.md ("Uncached reads").

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

/// The setting as `pg_db_role_setting.setconfig` holds it.
const SETTING: &str = "plan_cache_mode=force_generic_plan";

/// Sets `plan_cache_mode = force_generic_plan` as the current role's default for new sessions.
///
/// The setting is one cluster-wide catalog row, and the migration lock is per database: runs in
/// two databases of one cluster (the test suite's) may write it at once, and PostgreSQL refuses
/// the second with "tuple concurrently updated". So it is written only when missing, and a
/// refused write is fine when the row now holds it.
pub(crate) async fn ensure_generic_plans(db: &DatabaseConnection) -> Result<(), DbErr> {
    if is_set(db).await? {
        return Ok(());
    }
    match db
        .execute_unprepared("ALTER ROLE CURRENT_USER SET plan_cache_mode = 'force_generic_plan'")
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_set(db).await? => {
            tracing::debug!(error = %e, "another run set the plan cache mode first");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

async fn is_set(db: &DatabaseConnection) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s \
             JOIN pg_catalog.pg_roles r ON r.oid = s.setrole \
             WHERE s.setdatabase = 0 AND r.rolname = current_user \
             AND $1 = ANY (s.setconfig)) AS set",
            [SETTING.into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<bool>("", "set"))
        .transpose()?
        .unwrap_or(false))
}
