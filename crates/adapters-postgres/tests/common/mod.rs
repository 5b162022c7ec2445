//! Helpers of the adapter's integration tests: the stack's database through PgBouncer (schema
//! migrated first), unique channel ids so parallel tests never see each other's rows, builders
//! of messages and calls, and raw SQL for assertions the ports do not expose.

#![allow(dead_code)]

use std::str::FromStr;
use std::time::Duration;

use adapters_postgres::{PgStore, PoolOptions};
use chrono::{DateTime, NaiveDate, Utc};
use domain::model::{
    ChannelId, Direction, EntryRange, Message, MessageId, Price, Ticker, TradeCall,
};
use domain::ports::NewSignal;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value};
use tokio::sync::OnceCell;

pub use test_support::stack::env_or_skip;

static MIGRATED: OnceCell<()> = OnceCell::const_new();

/// Brings the shared database's schema up to date once per test binary (directly, as the
/// migrate step does; the advisory lock serialises concurrent binaries).
async fn ensure_migrated() {
    MIGRATED
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("TP_CAPITAL_MIGRATE_DATABASE_URL") {
                migrations::up(&url, None, Duration::from_secs(120))
                    .await
                    .expect("migrations up");
            }
        })
        .await;
}

/// The store through PgBouncer, or `None` (skipped) without a stack.
pub async fn store(test: &str) -> Option<PgStore> {
    let url = env_or_skip("TP_CAPITAL_DATABASE_URL", test)?;
    ensure_migrated().await;
    Some(
        PgStore::connect(&url, PoolOptions::default())
            .await
            .expect("connect"),
    )
}

/// A raw connection through PgBouncer, for assertions.
pub async fn raw() -> DatabaseConnection {
    let url = std::env::var("TP_CAPITAL_DATABASE_URL").expect("TP_CAPITAL_DATABASE_URL");
    Database::connect(url.as_str()).await.expect("raw connect")
}

/// A channel id no other test uses.
pub fn unique_channel() -> ChannelId {
    let n = uuid::Uuid::new_v4().as_u128() as u64 & 0x0000_ffff_ffff_ffff;
    ChannelId(-(1_000_000_000_000_000 + n as i64))
}

/// A scalar from `sql` with `values`.
pub async fn scalar(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> i64 {
    db.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await
    .expect(sql)
    .expect("one row")
    .try_get_by_index::<i64>(0)
    .expect("an integer")
}

/// Runs `sql` with `values`.
pub async fn exec(db: &DatabaseConnection, sql: &str, values: Vec<Value>) {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await
    .expect(sql);
}

pub fn price(s: &str) -> Price {
    Price::new(Decimal::from_str(s).expect("decimal")).expect("price")
}

pub fn ticker(s: &str) -> Ticker {
    Ticker::parse(s).expect("ticker")
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

/// A message `id` of `channel` sent at `date`.
pub fn message(channel: ChannelId, id: i64, date: DateTime<Utc>, text: &str) -> Message {
    Message {
        channel_id: channel,
        message_id: MessageId(id),
        text: text.to_owned(),
        date,
        edit_date: None,
        media_type: None,
        source: Some("bot".to_owned()),
        metadata: serde_json::json!({"threadId": 7}),
    }
}

/// A long call on `asset`: entry 1.04–1.06, targets 1.15 and 2.15, final 3.5, stop 0.7.
pub fn long_call(asset: &str) -> TradeCall {
    TradeCall::new(
        ticker(asset),
        None,
        Direction::Long,
        Some(EntryRange::new(price("1.04"), price("1.06"))),
        vec![price("1.15"), price("2.15")],
        Some(price("3.5")),
        Some(price("0.7")),
        NaiveDate::from_ymd_opt(2025, 10, 28),
        vec!["a warning".to_owned()],
    )
    .expect("valid call")
}

/// A new signal of message `id` in `channel`.
pub fn new_signal(channel: ChannelId, id: i64, date: DateTime<Utc>, call: TradeCall) -> NewSignal {
    NewSignal {
        channel_id: channel,
        message_id: MessageId(id),
        message_date: date,
        edit_date: None,
        revision: 1,
        raw_message: format!("Ativo: {} message {id}", call.asset),
        call,
        parser_version: "test-1".to_owned(),
        source: Some("bot".to_owned()),
        recorded_at: Utc::now(),
    }
}
