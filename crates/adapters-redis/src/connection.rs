//! The connections to the master and the replica, and the background tasks that keep them
//! trustworthy: they reconnect forever, bump the cache generation after every (re)connection
//! to the master (an invalidation may have been lost while it was away), and watch the
//! replica's link so reads never come from a replica cut off from its master.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::ports::CacheError;
use fred::prelude::{Builder, Client, ClientLike, ErrorKind, EventInterface, Options, Pool, Value};
use fred::types::InfoKind;
use tokio::sync::{Notify, OnceCell, broadcast, watch};
use tokio::task::JoinHandle;

use crate::cache::RedisCache;
use crate::config::{ClientSettings, ConfigError, RedisConfig};
use crate::events::{EventHub, RedisEvents};
use crate::invalidation::WideThrottle;
use crate::scripts::{Script, generation_seed};

/// A live handle on Redis: cheap to clone, shared by [`RedisCache`] and [`RedisEvents`].
///
/// Dropping the last clone (and every cache/events handle made from it) stops the background
/// tasks and closes the connections; [`Redis::shutdown`] does it deterministically.
#[derive(Clone, Debug)]
pub struct Redis {
    shared: Arc<Shared>,
}

/// A snapshot of the connections, for health endpoints and pool gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisStatus {
    /// The master connection is up.
    pub master_connected: bool,
    /// The cache generation was bumped after the latest master (re)connection and no
    /// invalidation has failed since: cached values can be trusted. Cache reads fail with
    /// `Unavailable` while this is false.
    pub generation_confirmed: bool,
    /// Replica connections up out of the pool, `None` without a replica.
    pub replica_connections: Option<(usize, usize)>,
    /// The replica is up and linked to its master, so reads go to it (`None` without a
    /// replica). When false, reads go to the master.
    pub replica_in_use: Option<bool>,
    /// The pub/sub subscription is established (`None` before the first `subscribe`).
    pub subscriber_connected: Option<bool>,
}

impl RedisStatus {
    /// `(open, configured)` connections: the master's one plus the replica pool's.
    pub fn connection_counts(&self) -> (u64, u64) {
        let (replica_up, replica_max) = self.replica_connections.unwrap_or((0, 0));
        (
            u64::from(self.master_connected) + replica_up as u64,
            1 + replica_max as u64,
        )
    }
}

/// Connects to the master (and replica) described by `config`.
///
/// Never fails because Redis is down: it waits at most `config.connect_timeout` for the first
/// connection, then returns a handle whose calls fail fast with `Unavailable` until the
/// background reconnection succeeds. Fails only for a configuration that cannot work.
/// Must be called inside a Tokio runtime.
pub async fn connect(config: RedisConfig) -> Result<Redis, ConfigError> {
    config.validate()?;
    let master_settings = config.client_settings(&config.master_url, "master")?;
    let replica_settings = config
        .replica_url
        .as_deref()
        .map(|url| config.client_settings(url, "replica"))
        .transpose()?;

    let master = builder(&master_settings)
        .build()
        .map_err(|error| build_error("master", &error))?;
    let replica = replica_settings
        .as_ref()
        .map(|settings| {
            builder(settings)
                .build_pool(config.replica_pool_size)
                .map_err(|error| build_error("replica", &error))
        })
        .transpose()?;

    let keys = Keys::new(&config.namespace);
    let state = Arc::new(State::default());
    let (confirmations, mut confirmed) = watch::channel(0_u64);
    let reconnects = master.reconnect_rx();
    let mut startup_errors = master.error_rx();
    drop(master.connect());
    if let Some(pool) = &replica {
        drop(pool.connect());
    }

    let mut tasks = vec![tokio::spawn(keep_generation(
        master.clone(),
        reconnects,
        Arc::clone(&state),
        keys.generation.clone(),
        confirmations,
        (config.reconnect_min_delay, config.reconnect_max_delay),
    ))];
    if let Some(pool) = &replica {
        tasks.push(tokio::spawn(watch_replica(
            pool.clone(),
            Arc::clone(&state),
            config.replica_check_interval,
            config.command_timeout,
        )));
    }

    let startup = async {
        let _ = confirmed.wait_for(|count| *count > 0).await;
        if let Some(pool) = &replica {
            let _ = pool.wait_for_connect().await;
            check_replica(pool, &state, config.command_timeout).await;
        }
    };
    if tokio::time::timeout(config.connect_timeout, startup)
        .await
        .is_err()
    {
        let mut last_error = None;
        while let Ok((error, _)) = startup_errors.try_recv() {
            last_error = Some(error.to_string());
        }
        tracing::warn!(
            master = %crate::config::redact(&config.master_url),
            error = last_error.as_deref().unwrap_or("no answer"),
            "redis is not reachable at startup; continuing degraded, reconnecting in the background"
        );
    }
    drop(startup_errors);

    let fail_fast = Options {
        fail_fast: true,
        timeout: Some(config.command_timeout),
        max_attempts: Some(1),
        ..Options::default()
    };
    let wide = WideThrottle::new(config.invalidation_window);
    Ok(Redis {
        shared: Arc::new(Shared {
            config,
            keys,
            master,
            replica,
            fail_fast,
            state,
            bump: Script::bump(),
            wide,
            hub: OnceCell::new(),
            tasks: Mutex::new(tasks),
        }),
    })
}

impl Redis {
    /// The cache port over these connections.
    pub fn cache(&self) -> RedisCache {
        RedisCache::new(Arc::clone(&self.shared))
    }

    /// The events port over these connections.
    pub fn events(&self) -> RedisEvents {
        RedisEvents::new(Arc::clone(&self.shared))
    }

    /// Counters shared by the replicas (the api's rate limit).
    pub fn counters(&self) -> crate::RedisCounters {
        crate::RedisCounters::new(Arc::clone(&self.shared))
    }

    /// The configuration this handle was made from.
    pub fn config(&self) -> &RedisConfig {
        &self.shared.config
    }

    /// The state of every connection, without any round trip.
    pub fn status(&self) -> RedisStatus {
        self.shared.status()
    }

    /// A real round trip to the master, failing when cached values cannot be trusted
    /// ([`RedisStatus::generation_confirmed`] is false).
    pub async fn ping(&self) -> Result<(), CacheError> {
        self.shared.ping().await
    }

    /// Runs a deferred cache invalidation, closes every connection and stops the background
    /// tasks. Idempotent; the handles fail with `Unavailable` afterwards.
    pub async fn shutdown(&self) {
        crate::invalidation::flush(&self.shared).await;
        self.shared.abort_tasks();
        let hub = async {
            if let Some(hub) = self.shared.hub.get() {
                hub.shutdown().await;
            }
        };
        let replica = async {
            if let Some(pool) = &self.shared.replica {
                let _ = pool.quit().await;
            }
        };
        // Against a dead server each QUIT waits for its timeout: wait for them together.
        let ((), _, ()) = futures_util::join!(hub, self.shared.master.quit(), replica);
    }
}

/// Key and channel names under one namespace.
#[derive(Debug)]
pub(crate) struct Keys {
    /// `{ns}:cache:gen`, as a ready-made script argument.
    pub generation: Value,
    /// `{ns}:cache:gen`.
    pub generation_key: String,
    /// `{ns}:cache:` — values live at `{prefix}{generation}:{key}`.
    pub value_prefix: String,
    /// `{ns}:signals`.
    pub channel: String,
}

impl Keys {
    fn new(namespace: &str) -> Self {
        let value_prefix = format!("{namespace}:cache:");
        Self {
            generation: Value::from(format!("{namespace}:cache:gen")),
            generation_key: format!("{namespace}:cache:gen"),
            value_prefix,
            channel: format!("{namespace}:signals"),
        }
    }
}

/// Flags the background tasks maintain and the request path reads.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The generation was bumped after the latest master connection and no invalidation failed
    /// since.
    generation_confirmed: AtomicBool,
    /// The replica answered and reported its master link up at the latest check.
    replica_in_use: AtomicBool,
    /// Wakes the generation keeper to retry a failed invalidation.
    retry_bump: Notify,
    /// A reconnection forced after a timeout is under way.
    forcing_reconnection: AtomicBool,
}

impl State {
    /// Cached values may be stale once a master command failed (invalidations are probably
    /// failing too): reads are suspended until the keeper's next bump succeeds.
    fn distrust(&self) {
        self.generation_confirmed.store(false, Ordering::Release);
        self.retry_bump.notify_one();
    }

    /// A hung master keeps its TCP connection open, so fred would make every call wait for its
    /// timeout: after one timeout, reconnect, so the next calls fail fast while it is away.
    fn force_reconnection_on_timeout(
        self: &Arc<Self>,
        master: &Client,
        error: &fred::error::Error,
    ) {
        if *error.kind() != ErrorKind::Timeout
            || !master.is_connected()
            || self.forcing_reconnection.swap(true, Ordering::AcqRel)
        {
            return;
        }
        tracing::warn!(%error, "redis master timed out; forcing a reconnection");
        let (master, state) = (master.clone(), Arc::clone(self));
        tokio::spawn(async move {
            let _ = master.force_reconnection().await;
            state.forcing_reconnection.store(false, Ordering::Release);
        });
    }
}

/// Everything one [`Redis`] owns.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: RedisConfig,
    pub keys: Keys,
    pub master: Client,
    pub replica: Option<Pool>,
    /// Per-command options: fail at once when disconnected, bounded by the command timeout,
    /// never retried (the caller degrades instead).
    pub fail_fast: Options,
    pub state: Arc<State>,
    pub bump: Script,
    pub wide: WideThrottle,
    pub hub: OnceCell<EventHub>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    /// `Ok` when cached values can be served; reads check it before any round trip.
    pub fn ensure_trusted(&self) -> Result<(), CacheError> {
        if !self.master.is_connected() {
            return Err(CacheError::Unavailable(
                "redis master is disconnected".into(),
            ));
        }
        if !self.state.generation_confirmed.load(Ordering::Acquire) {
            return Err(CacheError::Unavailable(
                "redis cache generation not confirmed since the last reconnection".into(),
            ));
        }
        Ok(())
    }

    /// Whether reads go to the replica.
    pub fn read_from_replica(&self) -> Option<&Pool> {
        self.replica
            .as_ref()
            .filter(|_| self.state.replica_in_use.load(Ordering::Acquire))
    }

    /// Stops reading from the replica until the watcher sees it healthy again.
    pub fn replica_failed(&self, error: &fred::error::Error) {
        if self.state.replica_in_use.swap(false, Ordering::AcqRel) {
            tracing::warn!(%error, "redis replica read failed; reading from the master");
        }
    }

    /// The port error for a failed master command, after reacting to it: reads are suspended
    /// until a bump succeeds, and a timeout forces a reconnection.
    pub fn master_error(&self, error: fred::error::Error) -> CacheError {
        self.state.distrust();
        self.state
            .force_reconnection_on_timeout(&self.master, &error);
        unavailable(error)
    }

    /// Runs the generation bump on the master. On failure, cached values may be stale: reads
    /// are suspended and the keeper retries until a bump succeeds.
    pub async fn bump_generation(&self) -> Result<u64, CacheError> {
        let reply = self
            .bump
            .run(
                &self.master.with_options(&self.fail_fast),
                std::slice::from_ref(&self.keys.generation),
                &[Value::Integer(generation_seed())],
            )
            .await
            .map_err(|error| self.master_error(error))?;
        generation_of(&reply).inspect_err(|_| self.state.distrust())
    }

    /// Master round trip plus trust check.
    pub async fn ping(&self) -> Result<(), CacheError> {
        let _: Value = self
            .master
            .with_options(&self.fail_fast)
            .ping(None)
            .await
            .map_err(|error| self.master_error(error))?;
        self.ensure_trusted()
    }

    fn status(&self) -> RedisStatus {
        RedisStatus {
            master_connected: self.master.is_connected(),
            generation_confirmed: self.state.generation_confirmed.load(Ordering::Acquire),
            replica_connections: self.replica.as_ref().map(|pool| {
                let up = pool.clients().iter().filter(|c| c.is_connected()).count();
                (up, pool.size())
            }),
            replica_in_use: self
                .replica
                .as_ref()
                .map(|_| self.state.replica_in_use.load(Ordering::Acquire)),
            subscriber_connected: self.hub.get().map(EventHub::is_active),
        }
    }

    fn abort_tasks(&self) {
        let tasks = match self.tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for task in tasks {
            task.abort();
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.abort_tasks();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let master = self.master.clone();
            let replica = self.replica.clone();
            let hub_client = self.hub.get().map(EventHub::client);
            runtime.spawn(async move {
                if let Some(client) = hub_client {
                    let _ = client.quit().await;
                }
                let _ = master.quit().await;
                if let Some(pool) = replica {
                    let _ = pool.quit().await;
                }
            });
        }
    }
}

/// fred's builder with our policies.
pub(crate) fn builder(settings: &ClientSettings) -> Builder {
    let mut builder = Builder::from_config(settings.config.clone());
    builder
        .set_connection_config(settings.connection.clone())
        .set_performance_config(settings.performance.clone())
        .set_policy(settings.policy.clone());
    builder
}

fn build_error(role: &str, error: &fred::error::Error) -> ConfigError {
    ConfigError::Invalid {
        field: format!("{role}_url"),
        reason: error.details().to_owned(),
    }
}

/// Every Redis failure is, for the ports, an unavailable cache.
pub(crate) fn unavailable(error: fred::error::Error) -> CacheError {
    CacheError::Unavailable(format!("redis: {error}"))
}

/// The generation number in a script reply (integer or numeric string).
pub(crate) fn generation_of(value: &Value) -> Result<u64, CacheError> {
    let parsed = match value {
        Value::Integer(number) => u64::try_from(*number).ok(),
        Value::String(text) => text.parse().ok(),
        Value::Bytes(bytes) => std::str::from_utf8(bytes).ok().and_then(|t| t.parse().ok()),
        _ => None,
    };
    parsed.ok_or_else(|| {
        CacheError::Unavailable(format!("redis: unreadable cache generation {value:?}"))
    })
}

/// Bumps the generation after every master (re)connection, and retries failed invalidations,
/// with backoff, until one succeeds; only then are reads trusted again.
async fn keep_generation(
    master: Client,
    mut reconnects: broadcast::Receiver<fred::types::config::Server>,
    state: Arc<State>,
    generation_key: Value,
    confirmations: watch::Sender<u64>,
    (min_delay, max_delay): (Duration, Duration),
) {
    let bump = Script::bump();
    let options = Options {
        timeout: master.perf_config().default_command_timeout.into(),
        max_attempts: Some(1),
        ..Options::default()
    };
    loop {
        tokio::select! {
            event = reconnects.recv() => match event {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    state.generation_confirmed.store(false, Ordering::Release);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            () = state.retry_bump.notified() => {}
        }
        let mut delay = min_delay;
        loop {
            let result = bump
                .run(
                    &master.with_options(&options),
                    std::slice::from_ref(&generation_key),
                    &[Value::Integer(generation_seed())],
                )
                .await;
            let generation = match result {
                Ok(reply) => generation_of(&reply),
                Err(error) => {
                    state.force_reconnection_on_timeout(&master, &error);
                    Err(unavailable(error))
                }
            };
            match generation {
                Ok(generation) => {
                    state.generation_confirmed.store(true, Ordering::Release);
                    confirmations.send_modify(|count| *count += 1);
                    tracing::info!(
                        generation,
                        "redis cache generation bumped; cache reads trusted"
                    );
                    break;
                }
                Err(error) => {
                    // A fresh connection triggers its own bump; retry anyway in case the
                    // failure was not a disconnection.
                    tracing::debug!(%error, "redis cache generation bump failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(max_delay);
                }
            }
        }
    }
}

/// Periodically checks that the replica answers and is linked to its master.
async fn watch_replica(pool: Pool, state: Arc<State>, interval: Duration, timeout: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        check_replica(&pool, &state, timeout).await;
    }
}

/// One replica check: `INFO replication` must say `master_link_status:up` (or that the server
/// is itself a master, as in single-server setups).
async fn check_replica(pool: &Pool, state: &State, timeout: Duration) {
    let options = Options {
        fail_fast: true,
        timeout: Some(timeout),
        max_attempts: Some(1),
        ..Options::default()
    };
    let healthy = match pool
        .next_connected()
        .with_options(&options)
        .info::<String>(Some(InfoKind::Replication))
        .await
    {
        Ok(info) => replica_usable(&info),
        Err(_) => false,
    };
    let was = state.replica_in_use.swap(healthy, Ordering::AcqRel);
    if was != healthy {
        if healthy {
            tracing::info!("redis replica linked; cache reads go to the replica");
        } else {
            tracing::warn!("redis replica down or unlinked; cache reads go to the master");
        }
    }
}

fn replica_usable(info: &str) -> bool {
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    match field("role") {
        Some("master") => true,
        Some("slave") => field("master_link_status") == Some("up"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_is_usable_only_when_linked() {
        assert!(replica_usable(
            "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_link_status:up\r\n"
        ));
        assert!(!replica_usable(
            "# Replication\r\nrole:slave\r\nmaster_link_status:down\r\n"
        ));
        assert!(replica_usable(
            "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
        ));
        assert!(!replica_usable(""));
    }

    #[test]
    fn generations_parse_from_integers_and_strings() {
        assert_eq!(generation_of(&Value::Integer(7)), Ok(7));
        assert_eq!(
            generation_of(&Value::from("1764000000000001")),
            Ok(1_764_000_000_000_001)
        );
        assert!(generation_of(&Value::Null).is_err());
        assert!(generation_of(&Value::Integer(-1)).is_err());
    }

    #[test]
    fn keys_live_under_the_namespace() {
        let keys = Keys::new("ns1");
        assert_eq!(keys.generation, Value::from("ns1:cache:gen"));
        assert_eq!(keys.value_prefix, "ns1:cache:");
        assert_eq!(keys.channel, "ns1:signals");
    }
}
