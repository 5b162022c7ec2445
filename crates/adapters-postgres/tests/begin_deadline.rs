//! A `begin` abandoned at its deadline must not leave a pooled connection inside a transaction
//! nobody tracks (the next BEGIN on it warned "there is already a transaction in progress").
//! A fault test (`fault_`, run alone): PostgreSQL is restarted under a write load through
//! PgBouncer; the PostgreSQL notices the pool logs are captured and must not include that
//! warning (before the fix, this run logged it).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adapters_postgres::{PgStore, PoolOptions};
use common::*;
use domain::ports::SignalStore;

const WARNING: &str = "already a transaction in progress";

/// Log lines written by the current thread's subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every event at WARN and above (sqlx logs PostgreSQL's notices that way).
fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

/// A store of `max_connections` whose `begin` gives up after twice `deadline`.
async fn small_store(url: &str, max_connections: u32, deadline: Duration) -> PgStore {
    PgStore::connect(
        url,
        PoolOptions {
            max_connections,
            acquire_timeout: deadline,
            connect_timeout: deadline,
            operation_timeout: Duration::from_secs(5),
            application_name: "begin-deadline-test".to_owned(),
            ..PoolOptions::default()
        },
    )
    .await
    .expect("store")
}

#[tokio::test]
async fn fault_postgres_restart_under_load_leaves_no_transaction_open() {
    let Some(url) = env_or_skip("TP_CAPITAL_DATABASE_URL", "fault_postgres_restart") else {
        return;
    };
    if env_or_skip("TP_STACK_SCRIPT", "fault_postgres_restart").is_none() {
        return;
    }
    let (captured, _guard) = capture();
    let store = small_store(&url, 4, Duration::from_secs(2)).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (store, stop) = (store.clone(), stop.clone());
            async move {
                let (mut ok, mut failed) = (0u32, 0u32);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let committed = match store.begin().await {
                        Ok(tx) => tx.commit().await.is_ok(),
                        Err(_) => false,
                    };
                    if committed {
                        ok += 1;
                    } else {
                        failed += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                (ok, failed)
            }
        })
        .collect();
    let restart = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tokio::task::spawn_blocking(|| test_support::stack::stop("postgres"))
            .await
            .expect("stop");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tokio::task::spawn_blocking(|| test_support::stack::start("postgres"))
            .await
            .expect("start");
        // Writes succeed again within a few seconds.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(tx) = store.begin().await
                && tx.commit().await.is_ok()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no write succeeded after the restart"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    let (results, ()) = tokio::join!(futures_util::future::join_all(load), restart);
    let ok: u32 = results.iter().map(|r| r.0).sum();
    assert!(ok > 0, "no transaction committed: {results:?}");
    let log = captured.text();
    assert!(
        !log.contains(WARNING),
        "a connection was reused inside a transaction:\n{log}"
    );
}
