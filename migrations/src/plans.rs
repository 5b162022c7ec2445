//! The role's plan cache mode, set by every `up` (a role setting lives in the cluster, not in
//! the database, so a restore into a new cluster gets it back from the next `up`).
//!
//! Every repeated statement of the services is shaped for a generic plan: the signal list and
//! the statistics write their time windows as literal chunk bounds, so a generic plan holds only
//! the chunks of its window and still excludes by the parameters at each execution's start.
//! PostgreSQL's default (`auto`) kept planning them afresh (custom plans cost less on paper):
//! 0.75 ms of planning for 0.4 ms of execution per uncached list page, measured in
//! docs/benchmarks.md ("Uncached reads").

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

/// Sets `plan_cache_mode = force_generic_plan` as the current role's default for new sessions.
pub(crate) async fn ensure_generic_plans(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("ALTER ROLE CURRENT_USER SET plan_cache_mode = 'force_generic_plan'")
        .await
        .map(|_| ())
}
