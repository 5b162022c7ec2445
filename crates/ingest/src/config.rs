//! The ingest service's configuration: `TP_CAPITAL_*` variables (or `TP_CAPITAL_CONFIG` TOML,
//! `*_FILE` for secrets) loaded and checked by `service-kit`. It refuses to start without a
//! gateway token unless `TP_CAPITAL_DEV_MODE=true`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use service_kit::config::{
    LogFormat, Secret, SecretList, ServiceConfig, check_backends, check_bind, check_url, var,
};
use service_kit::http::HttpSettings;

pub use crate::gateway::ChannelList;

/// Everything `tp-capital-ingest serve` reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IngestConfig {
    /// `TP_CAPITAL_DATABASE_URL`: through PgBouncer, as the app user.
    pub database_url: Secret,
    /// `TP_CAPITAL_MAINTENANCE_DATABASE_URL` (optional): a session connection for the
    /// maintenance's search-index builds, which no statement timeout may cut short (PgBouncer's
    /// `connect_query` sets one for the pooled connections); unset, they go through the pool.
    pub maintenance_database_url: Secret,
    /// `TP_CAPITAL_REDIS_URL`: the master (publish, invalidation).
    pub redis_url: Secret,
    /// `TP_CAPITAL_REDIS_REPLICA_URL`: the replica (optional; ingest only writes).
    pub redis_replica_url: Secret,
    /// `TP_CAPITAL_REDIS_NAMESPACE`: key and channel prefix, the same as the api's.
    pub redis_namespace: String,
    /// `TP_CAPITAL_GATEWAY_TOKEN`: accepted gateway token(s), comma-separated for rotation.
    pub gateway_token: SecretList,
    /// `TP_CAPITAL_DEV_MODE`: allows starting without a gateway token.
    pub dev_mode: bool,
    /// `TP_CAPITAL_INGEST_BIND`: listen address.
    pub ingest_bind: String,
    /// `TP_CAPITAL_LOG_FORMAT`: `json` or `pretty`.
    pub log_format: LogFormat,
    /// `TP_CAPITAL_INGEST_BATCH_BODY_LIMIT`: largest `/ingest/batch` body, bytes.
    pub ingest_batch_body_limit: usize,
    /// `TP_CAPITAL_INGEST_MAX_TEXT_CHARS`: longest message text (Telegram's 4,096 by default);
    /// a longer one is refused with 413 (per item in a batch).
    pub ingest_max_text_chars: usize,
    /// `TP_CAPITAL_INGEST_MAX_CAPTION_CHARS`: longest media caption (Telegram's 1,024).
    pub ingest_max_caption_chars: usize,
    /// `TP_CAPITAL_INGEST_MAX_AGE_DAYS`: messages dated longer ago are archived as rejected,
    /// never applied (0 = no horizon).
    pub ingest_max_age_days: u32,
    /// `TP_CAPITAL_REQUEST_TIMEOUT_SECS`: deadline of one request.
    pub request_timeout_secs: u64,
    /// `TP_CAPITAL_SHUTDOWN_TIMEOUT_SECS`: grace for in-flight requests on SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// `TP_CAPITAL_WORKERS`: HTTP worker threads (0 = one per core).
    pub workers: usize,
    /// `TP_CAPITAL_DATABASE_POOL_SIZE`: largest number of database connections.
    pub database_pool_size: u32,
    /// `TP_CAPITAL_DATABASE_ACQUIRE_TIMEOUT_MS`: how long a request waits for a connection
    /// before answering 503.
    pub database_acquire_timeout_ms: u64,
    /// `TP_CAPITAL_MAINTENANCE_INTERVAL_SECS`: period of aggregate refresh and retention
    /// (0 = never).
    pub maintenance_interval_secs: u64,
    /// `TP_CAPITAL_MESSAGE_RETENTION_DAYS`: keep raw archived messages and processing stats
    /// this long (0 = forever).
    pub message_retention_days: u32,
    /// `TP_CAPITAL_SIGNAL_RETENTION_DAYS`: drop signals older than this (0 = keep forever).
    pub signal_retention_days: u32,
    /// `TP_CAPITAL_GATEWAY_URL`: the gateway's REST API (`http://gateway:4010`); with
    /// `TP_CAPITAL_GATEWAY_CHANNELS` it turns the pull consumer on.
    pub gateway_url: String,
    /// `TP_CAPITAL_GATEWAY_CHANNELS`: the channel ids pulled, comma-separated.
    pub gateway_channels: ChannelList,
    /// `TP_CAPITAL_GATEWAY_CONSUMER`: our consumer name at the gateway (`<name>:<channel>`).
    pub gateway_consumer: String,
    /// `TP_CAPITAL_GATEWAY_API_TOKEN`: sent as `X-Gateway-Token` when the gateway enforces tokens.
    pub gateway_api_token: Secret,
    /// `TP_CAPITAL_GATEWAY_API_KEY`: sent as `X-API-Key` to the gateway's sync endpoint.
    pub gateway_api_key: Secret,
    /// `TP_CAPITAL_GATEWAY_POLL_INTERVAL_MS`: pause between polls.
    pub gateway_poll_interval_ms: u64,
    /// `TP_CAPITAL_GATEWAY_PAGE_SIZE`: rows asked per request (the gateway caps it too).
    pub gateway_page_size: usize,
    /// `TP_CAPITAL_GATEWAY_TIMEOUT_MS`: deadline of one request to the gateway.
    pub gateway_timeout_ms: u64,
    /// `TP_CAPITAL_GATEWAY_ATTEMPTS`: tries of one request (jittered backoff between them).
    pub gateway_attempts: usize,
    /// `TP_CAPITAL_GATEWAY_BREAKER_FAILURES`: consecutive failed polls that open the breaker.
    pub gateway_breaker_failures: u32,
    /// `TP_CAPITAL_GATEWAY_BREAKER_PAUSE_SECS`: how long the breaker stays open before a probe.
    pub gateway_breaker_pause_secs: u64,
    /// `TP_CAPITAL_GATEWAY_RECONCILE_INTERVAL_SECS`: period of the reconciliation (0 = never).
    pub gateway_reconcile_interval_secs: u64,
    /// `TP_CAPITAL_GATEWAY_SYNC_LIMIT`: recent messages the gateway fetches per `/gateway/sync`.
    pub gateway_sync_limit: usize,
    /// `TP_CAPITAL_SYNC_TOKEN`: accepted `X-Sync-Token` value(s) of `POST /gateway/sync` (the
    /// api's); without one the endpoint is closed outside dev mode.
    pub sync_token: SecretList,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            database_url: Secret::default(),
            maintenance_database_url: Secret::default(),
            redis_url: Secret::default(),
            redis_replica_url: Secret::default(),
            redis_namespace: "tpcapital".to_owned(),
            gateway_token: SecretList::default(),
            dev_mode: false,
            ingest_bind: "127.0.0.1:4006".to_owned(),
            log_format: LogFormat::Json,
            ingest_batch_body_limit: 16 * 1024 * 1024,
            ingest_max_text_chars: 4_096,
            ingest_max_caption_chars: 1_024,
            ingest_max_age_days: 730,
            request_timeout_secs: 30,
            shutdown_timeout_secs: 30,
            workers: 0,
            database_pool_size: 16,
            database_acquire_timeout_ms: 3_000,
            maintenance_interval_secs: 300,
            message_retention_days: 30,
            signal_retention_days: 0,
            gateway_url: String::new(),
            gateway_channels: ChannelList::default(),
            gateway_consumer: "tp-capital".to_owned(),
            gateway_api_token: Secret::default(),
            gateway_api_key: Secret::default(),
            gateway_poll_interval_ms: 5_000,
            gateway_page_size: 200,
            gateway_timeout_ms: 5_000,
            gateway_attempts: 3,
            gateway_breaker_failures: 3,
            gateway_breaker_pause_secs: 30,
            gateway_reconcile_interval_secs: 60,
            gateway_sync_limit: 500,
            sync_token: SecretList::default(),
        }
    }
}

impl ServiceConfig for IngestConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.gateway_token.is_empty() && !self.dev_mode {
            problems.push(format!(
                "{} is required (or {}_FILE); set {}=true only for local development",
                var("gateway_token"),
                var("gateway_token"),
                var("dev_mode")
            ));
        }
        problems.extend(check_backends(
            &self.database_url,
            &self.redis_url,
            &self.redis_replica_url,
            true,
        ));
        if !self.maintenance_database_url.is_empty() {
            problems.extend(check_url(
                "maintenance_database_url",
                self.maintenance_database_url.expose(),
                &["postgres", "postgresql"],
            ));
        }
        problems.extend(check_bind("ingest_bind", &self.ingest_bind));
        if self.ingest_batch_body_limit < 64 * 1024 {
            problems.push(format!(
                "{} must be at least 65536",
                var("ingest_batch_body_limit")
            ));
        }
        if self.ingest_max_text_chars == 0 || self.ingest_max_caption_chars == 0 {
            problems.push(format!(
                "{} and {} must be positive",
                var("ingest_max_text_chars"),
                var("ingest_max_caption_chars")
            ));
        }
        if self.request_timeout_secs == 0 {
            problems.push(format!("{} must be positive", var("request_timeout_secs")));
        }
        if self.database_pool_size == 0 {
            problems.push(format!("{} must be positive", var("database_pool_size")));
        }
        problems.extend(crate::gateway::check_config(self));
        problems
    }
}

impl IngestConfig {
    /// The HTTP limits and timeouts.
    pub fn http(&self) -> HttpSettings {
        let bind = self
            .ingest_bind
            .parse::<SocketAddr>()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 4006)));
        let mut settings = HttpSettings::new(bind);
        settings.body_limit = crate::http::MESSAGE_BODY_LIMIT;
        settings.request_timeout = Duration::from_secs(self.request_timeout_secs);
        settings.shutdown_timeout = Duration::from_secs(self.shutdown_timeout_secs);
        settings.workers = (self.workers > 0).then_some(self.workers);
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_kit::config::load_from;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const BASE: [(&str, &str); 2] = [
        (
            "TP_CAPITAL_DATABASE_URL",
            "postgres://u:p@127.0.0.1:6435/tp_capital_db",
        ),
        ("TP_CAPITAL_REDIS_URL", "redis://127.0.0.1:6381"),
    ];

    #[test]
    fn refuses_to_start_without_a_token_unless_dev_mode() {
        let e = load_from::<IngestConfig>(vars(&BASE)).expect_err("no token");
        assert!(
            e.to_string()
                .contains("TP_CAPITAL_GATEWAY_TOKEN is required"),
            "{e}"
        );

        let mut dev = BASE.to_vec();
        dev.push(("TP_CAPITAL_DEV_MODE", "true"));
        let c = load_from::<IngestConfig>(vars(&dev)).expect("dev mode");
        assert!(c.gateway_token.is_empty());

        let mut with = BASE.to_vec();
        with.push(("TP_CAPITAL_GATEWAY_TOKEN", "t0k3n"));
        with.push(("TP_CAPITAL_INGEST_BIND", "0.0.0.0:4106"));
        let c = load_from::<IngestConfig>(vars(&with)).expect("token");
        assert!(c.gateway_token.matches_any(b"t0k3n"));
        assert_eq!(c.http().bind.port(), 4106);
        assert!(!format!("{c:?}").contains("t0k3n"));
        assert!(!format!("{c:?}").contains("u:p@"));
    }

    #[test]
    fn bad_urls_are_named() {
        let e = load_from::<IngestConfig>(vars(&[
            ("TP_CAPITAL_DATABASE_URL", "mysql://x"),
            ("TP_CAPITAL_REDIS_URL", "redis://127.0.0.1:6381"),
            ("TP_CAPITAL_DEV_MODE", "1"),
        ]))
        .expect_err("bad url");
        assert!(e.to_string().contains("TP_CAPITAL_DATABASE_URL"), "{e}");

        let mut maintenance = BASE.to_vec();
        maintenance.push(("TP_CAPITAL_DEV_MODE", "1"));
        maintenance.push(("TP_CAPITAL_MAINTENANCE_DATABASE_URL", "127.0.0.1:5435/db"));
        let e = load_from::<IngestConfig>(vars(&maintenance)).expect_err("bad maintenance url");
        assert!(
            e.to_string()
                .contains("TP_CAPITAL_MAINTENANCE_DATABASE_URL"),
            "{e}"
        );
        maintenance.pop();
        maintenance.push((
            "TP_CAPITAL_MAINTENANCE_DATABASE_URL",
            "postgres://u:p@127.0.0.1:5435/tp_capital_db",
        ));
        assert!(load_from::<IngestConfig>(vars(&maintenance)).is_ok());
    }
}
