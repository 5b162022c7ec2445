//! The maintenance's search-index builds run on their own connection without a statement
//! timeout: through the pool, whose sessions carry one (PgBouncer's `connect_query` on the
//! native stack), a large week's `CREATE INDEX CONCURRENTLY` was cancelled on every run.

mod common;

use adapters_postgres::{PgStore, PoolOptions};
use chrono::{Duration, Utc};
use common::{exec, scalar};
use sea_orm::Database;

#[tokio::test]
async fn index_builds_outlive_the_pool_s_statement_timeout() {
    let Some(db) = test_support::db::migrated("index_builds_statement_timeout").await else {
        return;
    };
    let raw = Database::connect(&db.url).await.expect("raw");
    exec(
        &raw,
        "INSERT INTO signals.signals (channel_id, message_id, message_date, asset, direction,
           entry_min, entry_max, targets, target_final, stop, raw_message, parser_version)
         SELECT -100, g, now() - interval '20 days' + g * interval '1 ms', 'PETR4', 'long',
                1.04, 1.06, '{1.15}', 1.15, 0.7,
                'Ativo: PETR4 ' || md5(g::text) || ' Compra: 1,04 a 1,06 Alvo 1: 1,15', 't'
         FROM generate_series(1, 200000) g",
        vec![],
    )
    .await;
    // Every new session of this database now stops statements after 200 ms, as the pool's do.
    let name: String = {
        use sea_orm::{ConnectionTrait, Statement};
        raw.query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT current_database()",
        ))
        .await
        .expect("query")
        .expect("row")
        .try_get_by_index(0)
        .expect("name")
    };
    exec(
        &raw,
        &format!("ALTER DATABASE \"{name}\" SET statement_timeout = '200ms'"),
        vec![],
    )
    .await;
    let closed_before = Utc::now() + Duration::days(1);
    let pooled = PgStore::connect(&db.url, PoolOptions::default())
        .await
        .expect("store");
    let cut = pooled.index_search_weeks(closed_before).await;
    assert!(
        cut.is_err(),
        "the premise: through the pool the build is cancelled ({cut:?})"
    );
    pooled.close().await;

    let store = PgStore::connect(&db.url, PoolOptions::default())
        .await
        .expect("store")
        .with_maintenance_url(Some(db.url.clone()));
    let built = store
        .index_search_weeks(closed_before)
        .await
        .expect("built on the maintenance connection");
    assert!(!built.is_empty(), "{built:?}");
    let valid = scalar(
        &raw,
        "SELECT count(*) FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class c
           ON c.oid = x.indexrelid WHERE c.relname LIKE '%_trgm' AND x.indisvalid",
        vec![],
    )
    .await;
    assert_eq!(
        valid, 2,
        "both search indexes valid, the half-built one replaced"
    );
    store.close().await;
}
