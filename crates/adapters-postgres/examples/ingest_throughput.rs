//! Measures the store under the ingest use case: batches of messages (a realistic mix of
//! calls, updates and chatter) through `IngestService` over `PgStore`, concurrently, through
//! PgBouncer. Prints messages per second and batch latency percentiles.
//!
//! `TP_CAPITAL_DATABASE_URL=… cargo run --release -p adapters-postgres --example ingest_throughput -- [batches] [batch_size] [concurrency]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters_postgres::{PgStore, PoolOptions};
use chrono::Utc;
use domain::memory::{MemoryCache, MemoryEvents};
use domain::model::{ChannelId, Message, MessageId};
use domain::ports::SystemClock;
use domain::services::IngestService;

const TEXTS: [&str; 4] = [
    "🟢Swing Trade \n\nAtivo: {T}\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nAlvo 2: 2,15\nAlvo final: 3,50\n\nStop: 0,70",
    "Bom dia pessoal! Resultado da semana: +12%",
    "{T} Alvo 1 atingido",
    "Day Trade\nPapel: {T}\nEntrada: 25,50\nAlvo: 26,80\nStop: 24,90",
];

const TICKERS: [&str; 6] = ["PETR4", "VALE3", "BOVAW32", "ITUB4", "WEGE3", "KLBNK177"];

fn batch(channel: ChannelId, first_id: i64, size: usize, updates: bool) -> Vec<Message> {
    (0..size)
        .map(|i| {
            let id = first_id + i as i64;
            let mut kind = i % TEXTS.len();
            if !updates && kind == 2 {
                kind = 0;
            }
            let text = TEXTS[kind].replace("{T}", TICKERS[(i / 4) % TICKERS.len()]);
            Message {
                channel_id: channel,
                message_id: MessageId(id),
                text,
                date: Utc::now(),
                edit_date: None,
                media_type: None,
                source: Some("bot".into()),
                metadata: serde_json::json!({"threadId": id % 7}),
            }
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("TP_CAPITAL_DATABASE_URL")?;
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let batches = args.next().transpose()?.unwrap_or(40);
    let size = args.next().transpose()?.unwrap_or(1000);
    let concurrency = args.next().transpose()?.unwrap_or(4);
    // Update messages are applied one by one by the use case; `TP_BENCH_UPDATES=0` leaves them
    // out to measure the bulk path alone.
    let updates = std::env::var("TP_BENCH_UPDATES").as_deref() != Ok("0");
    let store = Arc::new(PgStore::connect(&url, PoolOptions::default()).await?);
    let service = Arc::new(IngestService::new(
        store.clone(),
        Arc::new(MemoryEvents::new()),
        Arc::new(MemoryCache::new()),
        Arc::new(SystemClock),
    ));
    let channel = ChannelId(-(2_000_000_000_000 + i64::from(Utc::now().timestamp_subsec_micros())));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (service, next) = (service.clone(), next.clone());
            // Each worker its own channel: concurrent batches on the same open signals would
            // serialise on their row locks.
            let channel = ChannelId(channel.0 - w as i64);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= batches {
                        break;
                    }
                    let msgs = batch(channel, (n * size) as i64, size, updates);
                    let t = Instant::now();
                    service.ingest(&msgs, None).await?;
                    latencies.push(t.elapsed());
                }
                Ok::<_, domain::ports::StoreError>(latencies)
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    for w in workers {
        latencies.extend(w.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{} messages in {:.2?}: {:.0} messages/s; batch p50 {:.1?} p95 {:.1?} p99 {:.1?} (batch {size}, concurrency {concurrency}, updates {updates})",
        batches * size,
        elapsed,
        (batches * size) as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.95),
        pct(0.99),
    );
    Ok(())
}
