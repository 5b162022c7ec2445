//! Expensive cheap requests: a search shorter than a trigram is refused, and a read that runs
//! past the services' `statement_timeout` (set on their pooled connections) answers 503 with
//! `Retry-After` instead of holding a database connection. The slow read is made by locking the
//! signals table from a direct connection (a `fault_` test: it blocks every reader for a while).

use std::time::{Duration, Instant};

use e2e::stack_var;
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use test_support::api_client::*;

#[tokio::test]
async fn search_shorter_than_three_characters_is_a_400() {
    let Some(s) = stack() else {
        return;
    };
    let p = s.get("/signals?search=zz").await.problem(400);
    assert_eq!(p["field"], "search");
    assert!(p["detail"].as_str().unwrap_or("").contains('3'), "{p}");
    assert_eq!(s.get("/signals?search=%20zzz%20&limit=1").await.status, 200);
}

#[tokio::test]
async fn fault_a_read_past_the_statement_timeout_answers_503_with_retry_after() {
    let Some(s) = stack() else {
        return;
    };
    let Some(direct) = stack_var("TP_CAPITAL_MIGRATE_DATABASE_URL") else {
        return;
    };
    let db = Database::connect(direct.as_str()).await.expect("direct");
    let tx = db.begin().await.expect("begin");
    tx.execute_unprepared("LOCK TABLE signals.signals IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let started = Instant::now();
    // A search no cache holds, so the api must ask the database.
    let reply = s
        .get(&format!(
            "/signals?search=slow{}",
            unique_channel().unsigned_abs()
        ))
        .await;
    let took = started.elapsed();
    tx.rollback().await.expect("unlock");
    reply.problem(503);
    let after: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", reply.headers));
    assert!((1..=60).contains(&after), "Retry-After {after}");
    assert!(
        took < Duration::from_secs(14),
        "the statement timeout (not the 15 s request deadline) ended it: {took:?}"
    );
    let busy = stack_var("TP_CAPITAL_DATABASE_URL").expect("pooled url");
    let pooled = Database::connect(busy.as_str()).await.expect("pooled");
    let row = pooled
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT current_setting('statement_timeout') AS t",
        ))
        .await
        .expect("show")
        .expect("row");
    let setting: String = row.try_get("", "t").expect("t");
    assert_ne!(setting, "0", "pooled connections have a statement_timeout");
}
