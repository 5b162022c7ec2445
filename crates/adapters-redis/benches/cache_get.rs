//! `RedisCache::get` against the real replica: latency of one lookup, and throughput with 64
//! lookups in flight (the api's hot path), beside a plain `GET` on the same server as the floor.
//!
//! `TP_CAPITAL_REDIS_URL=… TP_CAPITAL_REDIS_REPLICA_URL=… cargo bench -p adapters-redis`

use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters_redis::{Redis, RedisConfig, connect};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use domain::ports::{CacheScope, SignalCache};
use fred::prelude::{Builder, ClientLike, Config, KeysInterface, Pool};
use tokio::runtime::Runtime;

const IN_FLIGHT: u64 = 64;
const VALUE: usize = 16 * 1024;

struct Setup {
    runtime: Runtime,
    redis: Vec<(usize, Redis)>,
    plain: Pool,
}

fn setup() -> Option<Setup> {
    let (Ok(master), Ok(replica)) = (
        std::env::var("TP_CAPITAL_REDIS_URL"),
        std::env::var("TP_CAPITAL_REDIS_REPLICA_URL"),
    ) else {
        eprintln!(
            "\n*** cache_get bench skipped: TP_CAPITAL_REDIS_URL / _REPLICA_URL not set ***\n"
        );
        return None;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .ok()?;
    let namespace = format!("tpbench-{}", std::process::id());
    let redis = runtime.block_on(async {
        let mut handles = Vec::new();
        for pool in [1, 2, 4] {
            let mut config = RedisConfig::new(&master)
                .with_replica(&replica)
                .with_namespace(&namespace);
            config.replica_pool_size = pool;
            let redis = connect(config).await.expect("config");
            assert_eq!(
                redis.status().replica_in_use,
                Some(true),
                "replica not in use"
            );
            handles.push((pool, redis));
        }
        let cache = handles[0].1.cache();
        let generation = cache
            .get("hot", CacheScope::Wide)
            .await
            .expect("get")
            .generation;
        cache
            .put(
                "hot",
                CacheScope::Wide,
                generation,
                &vec![b'x'; VALUE],
                chrono::Utc::now() + chrono::Duration::seconds(300),
                Duration::from_secs(600),
            )
            .await
            .expect("put");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            cache
                .get("hot", CacheScope::Wide)
                .await
                .expect("get")
                .value
                .is_some()
        );
        handles
    });
    let plain = runtime.block_on(async {
        let config = Config::from_url(&replica).expect("url");
        let pool = Builder::from_config(config).build_pool(2).expect("pool");
        pool.init().await.expect("connect");
        let key = format!("{namespace}:cache:plain");
        let master_pool = Builder::from_config(Config::from_url(&master).expect("url"))
            .build_pool(1)
            .expect("pool");
        master_pool.init().await.expect("connect");
        let _: () = master_pool
            .set(&key, vec![b'x'; VALUE], None, None, false)
            .await
            .expect("set");
        tokio::time::sleep(Duration::from_millis(100)).await;
        pool
    });
    Some(Setup {
        runtime,
        redis,
        plain,
    })
}

fn run_concurrent<F, Fut>(runtime: &Runtime, iters: u64, op: Arc<F>) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    runtime.block_on(async {
        let per_task = iters.div_ceil(IN_FLIGHT);
        let started = Instant::now();
        let tasks: Vec<_> = (0..IN_FLIGHT)
            .map(|_| {
                let op = Arc::clone(&op);
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        op().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        started
            .elapsed()
            .mul_f64(iters as f64 / (per_task * IN_FLIGHT) as f64)
    })
}

fn bench(c: &mut Criterion) {
    let Some(setup) = setup() else {
        return;
    };
    // A fresh handle learns the generation on its first lookup (a miss): warm each one.
    let warm = |redis: &Redis| {
        let cache = redis.cache();
        let lookup = setup
            .runtime
            .block_on(cache.get("hot", CacheScope::Wide))
            .expect("get");
        assert!(
            lookup.value.is_none(),
            "first lookup of a handle learns the generation"
        );
        assert!(
            setup
                .runtime
                .block_on(cache.get("hot", CacheScope::Wide))
                .expect("get")
                .value
                .is_some()
        );
        cache
    };
    let cache = warm(&setup.redis[1].1);

    let mut group = c.benchmark_group("cache_get_hit_16KiB");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sequential", |b| {
        b.iter_custom(|iters| {
            setup.runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    let lookup = cache.get("hot", CacheScope::Wide).await.expect("get");
                    assert!(lookup.value.is_some());
                }
                started.elapsed()
            })
        });
    });
    for (pool, redis) in &setup.redis {
        let cache = Arc::new(warm(redis));
        group.bench_with_input(
            BenchmarkId::new("64_in_flight_replica_pool", pool),
            pool,
            |b, _| {
                b.iter_custom(|iters| {
                    let cache = Arc::clone(&cache);
                    run_concurrent(
                        &setup.runtime,
                        iters,
                        Arc::new(move || {
                            let cache = Arc::clone(&cache);
                            async move {
                                let lookup = cache.get("hot", CacheScope::Wide).await.expect("get");
                                assert!(lookup.value.is_some());
                            }
                        }),
                    )
                });
            },
        );
    }
    let plain = setup.plain.clone();
    let key = Arc::new(format!(
        "{}:cache:plain",
        setup.redis[0].1.config().namespace
    ));
    group.bench_function("baseline_plain_GET_64_in_flight_pool_2", |b| {
        b.iter_custom(|iters| {
            let (plain, key) = (plain.clone(), Arc::clone(&key));
            run_concurrent(
                &setup.runtime,
                iters,
                Arc::new(move || {
                    let (plain, key) = (plain.clone(), Arc::clone(&key));
                    async move {
                        let value: Option<Vec<u8>> = plain.get(key.as_str()).await.expect("get");
                        assert!(value.is_some());
                    }
                }),
            )
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
