//! Measures `list_signals` latency per query shape through PgBouncer, as the dashboard asks
//! (limit 50, newest first). Run it against a database seeded with many signals.
//!
//! `TP_CAPITAL_DATABASE_URL=… cargo run --release -p adapters-postgres --example query_latency -- [rounds]`

use std::time::{Duration, Instant};

use adapters_postgres::{PgStore, PoolOptions};
use chrono::{TimeZone, Utc};
use domain::model::{SignalKind, Ticker};
use domain::ports::{SignalQueries, SignalQuery};

fn shapes() -> Vec<(&'static str, SignalQuery)> {
    let base = SignalQuery {
        limit: 50,
        ..SignalQuery::default()
    };
    let month = (
        Utc.with_ymd_and_hms(2025, 10, 1, 0, 0, 0).single(),
        Utc.with_ymd_and_hms(2025, 10, 31, 23, 59, 59).single(),
    );
    vec![
        ("newest", base.clone()),
        (
            "channel label",
            SignalQuery {
                channel: Some("canal 3".into()),
                ..base.clone()
            },
        ),
        (
            "kind day_trade",
            SignalQuery {
                kind: Some(SignalKind::DayTrade),
                ..base.clone()
            },
        ),
        (
            "kind position",
            SignalQuery {
                kind: Some(SignalKind::Position),
                ..base.clone()
            },
        ),
        (
            "asset VALE3",
            SignalQuery {
                asset: Ticker::parse("VALE3"),
                ..base.clone()
            },
        ),
        (
            "status stopped",
            SignalQuery {
                status: Some("stopped".into()),
                ..base.clone()
            },
        ),
        (
            "search common",
            SignalQuery {
                search: Some("petr4".into()),
                ..base.clone()
            },
        ),
        (
            "search rare",
            SignalQuery {
                search: Some("c0ffee".into()),
                ..base.clone()
            },
        ),
        (
            "search none",
            SignalQuery {
                search: Some("zzqzz".into()),
                ..base.clone()
            },
        ),
        (
            "month",
            SignalQuery {
                from: month.0,
                to: month.1,
                ..base.clone()
            },
        ),
        (
            "dashboard",
            SignalQuery {
                channel: Some("Canal 5".into()),
                kind: Some(SignalKind::DayTrade),
                search: Some("petr".into()),
                from: month.0,
                to: month.1,
                ..base.clone()
            },
        ),
    ]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("TP_CAPITAL_DATABASE_URL")?;
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50);
    let store = PgStore::connect(&url, PoolOptions::default()).await?;
    for (name, q) in shapes() {
        let mut times: Vec<Duration> = Vec::with_capacity(rounds);
        let mut rows = 0;
        let mut second = None;
        for _ in 0..rounds {
            let t = Instant::now();
            let page = store.list_signals(&q).await?;
            times.push(t.elapsed());
            rows = page.rows.len();
            second = page.next_cursor;
        }
        let mut next = q.clone();
        next.cursor = second;
        let t = Instant::now();
        let page2 = store.list_signals(&next).await?.rows.len();
        let page2_time = t.elapsed();
        times.sort();
        let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        println!(
            "{name:<16} rows {rows:>3}  p50 {:>9.2?}  p95 {:>9.2?}  max {:>9.2?}  (page 2: {page2} rows in {page2_time:.2?})",
            pct(0.5),
            pct(0.95),
            times[times.len() - 1],
        );
    }
    Ok(())
}
