//! The api's typed configuration: defaults, then the optional TOML file, then `TP_CAPITAL_*`
//! variables (service-kit's layering). Variables shared with the ingest service keep their
//! common names (`TP_CAPITAL_DATABASE_URL`, `TP_CAPITAL_DEV_MODE` …); the api's own are
//! prefixed `TP_CAPITAL_API_`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use service_kit::config::{check_backends, check_bind, var};
use service_kit::{LogFormat, Secret, SecretList, ServiceConfig};

use crate::rate_limit::{RateLimitSettings, TrustedProxies};

/// Everything `tp-capital-api` reads at startup.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    /// `TP_CAPITAL_API_BIND`: where to listen.
    pub api_bind: String,
    /// `TP_CAPITAL_API_WORKERS`: HTTP worker threads (0 = one per core).
    pub api_workers: usize,
    /// `TP_CAPITAL_DATABASE_URL`: PostgreSQL through PgBouncer, as the app user.
    pub database_url: Secret,
    /// `TP_CAPITAL_API_DB_MAX_CONNECTIONS`: database pool size.
    pub api_db_max_connections: u32,
    /// `TP_CAPITAL_API_DB_TIMEOUT_MS`: how long one database operation of a request may take;
    /// past it the request answers from a stale cache entry or 503 with `Retry-After` instead of
    /// waiting on a database that is down (PgBouncer holds queries while it reconnects).
    pub api_db_timeout_ms: u64,
    /// `TP_CAPITAL_REDIS_URL`: the Redis master (cache writes, invalidation, pub/sub).
    pub redis_url: Secret,
    /// `TP_CAPITAL_REDIS_REPLICA_URL`: the Redis replica (cache reads); optional.
    pub redis_replica_url: Secret,
    /// `TP_CAPITAL_REDIS_NAMESPACE`: key and channel prefix shared with the ingest service.
    pub redis_namespace: String,
    /// `TP_CAPITAL_API_KEY`: admin keys (`k1,k2`), required unless in dev mode.
    pub api_key: SecretList,
    /// `TP_CAPITAL_DEV_MODE`: allows running without API keys (admin calls are then open) and
    /// without database or Redis (in-memory adapters).
    pub dev_mode: bool,
    /// `TP_CAPITAL_CORS_ORIGINS`: browser origins allowed to call the api (`https://a,https://b`);
    /// empty = the api's own origin only (see `api_public_url`).
    pub cors_origins: String,
    /// `TP_CAPITAL_API_PUBLIC_URL`: the origin browsers reach the api at
    /// (`https://api.example.com`), allowed like the CORS list so Swagger UI's own calls work;
    /// empty = taken from the bind address (a loopback or any-address bind: `http://127.0.0.1`,
    /// `http://localhost` and `http://[::1]` on its port). Never taken from a request's `Host`.
    pub api_public_url: String,
    /// `TP_CAPITAL_API_RATE_LIMIT_PER_SECOND`: sustained requests per second per API key or
    /// client IP; 0 disables rate limiting.
    pub api_rate_limit_per_second: u32,
    /// `TP_CAPITAL_API_RATE_LIMIT_BURST`: requests a client may send at once.
    pub api_rate_limit_burst: u32,
    /// `TP_CAPITAL_API_RATE_LIMIT_EXEMPT`: client IPs never limited (none by default, loopback
    /// included).
    pub api_rate_limit_exempt: String,
    /// `TP_CAPITAL_API_RATE_LIMIT_TRUSTED_PROXIES`: proxies (`10.0.0.0/8,127.0.0.1`) whose
    /// `Forwarded` / `X-Forwarded-For` name the client; from anyone else they are ignored.
    pub api_rate_limit_trusted_proxies: String,
    /// `TP_CAPITAL_API_RATE_LIMIT_WINDOW_SECONDS`: the window the replicas share through Redis
    /// (a client may send `per_second × window`, at least `burst`, in one).
    pub api_rate_limit_window_seconds: u64,
    /// `TP_CAPITAL_API_RATE_LIMIT_PROBE_PER_SECOND`: `/health*` and `/metrics` requests per
    /// second per client (burst three times that); 0 = not limited.
    pub api_rate_limit_probe_per_second: u32,
    /// `TP_CAPITAL_API_CACHE_TTL_SECONDS`: how long a cached answer may live (invalidation on
    /// ingest is what keeps answers fresh; this is a safety net).
    pub api_cache_ttl_seconds: u64,
    /// `TP_CAPITAL_API_BODY_LIMIT`: largest request body, in bytes.
    pub api_body_limit: usize,
    /// `TP_CAPITAL_API_REQUEST_TIMEOUT_SECONDS`: deadline of one request (to its first byte).
    pub api_request_timeout_seconds: u64,
    /// `TP_CAPITAL_API_SSE_MAX_CLIENTS`: concurrent `/signals/stream` subscribers.
    pub api_sse_max_clients: usize,
    /// `TP_CAPITAL_DESK_TIME_ZONE`: the IANA zone whose days date-only `from`/`to` mean.
    pub desk_time_zone: String,
    /// `TP_CAPITAL_API_INGEST_URL`: the ingest service (`http://127.0.0.1:4006`) that
    /// `POST /sync-messages` asks to sync with the gateway; empty = no sync (503).
    pub api_ingest_url: String,
    /// `TP_CAPITAL_SYNC_TOKEN`: sent as `X-Sync-Token` to the ingest's `/gateway/sync`.
    pub sync_token: Secret,
    /// `TP_CAPITAL_LOG_FORMAT`: `json` or `pretty`.
    pub log_format: LogFormat,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            api_bind: "127.0.0.1:4005".to_owned(),
            api_workers: 0,
            database_url: Secret::default(),
            api_db_max_connections: 16,
            api_db_timeout_ms: 10_000,
            redis_url: Secret::default(),
            redis_replica_url: Secret::default(),
            redis_namespace: "tpcapital".to_owned(),
            api_key: SecretList::default(),
            dev_mode: false,
            cors_origins: String::new(),
            api_public_url: String::new(),
            api_rate_limit_per_second: 50,
            api_rate_limit_burst: 200,
            api_rate_limit_exempt: String::new(),
            api_rate_limit_trusted_proxies: String::new(),
            api_rate_limit_window_seconds: 10,
            api_rate_limit_probe_per_second: 20,
            api_cache_ttl_seconds: 30,
            api_body_limit: 64 * 1024,
            api_request_timeout_seconds: 15,
            api_sse_max_clients: 2000,
            desk_time_zone: "America/Sao_Paulo".to_owned(),
            api_ingest_url: String::new(),
            sync_token: Secret::default(),
            log_format: LogFormat::Json,
        }
    }
}

impl ApiConfig {
    /// The listening address (validated by [`ServiceConfig::validate`]).
    pub fn bind(&self) -> Option<SocketAddr> {
        self.api_bind.parse().ok()
    }

    /// The CORS origins, trimmed, without empty entries.
    pub fn cors_origins(&self) -> Vec<String> {
        split_list(&self.cors_origins)
    }

    /// Every origin CORS allows: the configured list and the api's own origin(s).
    pub fn allowed_origins(&self) -> Vec<String> {
        let mut origins = self.cors_origins();
        for own in self.own_origins() {
            if !origins.contains(&own) {
                origins.push(own);
            }
        }
        origins
    }

    /// The api's own origin(s): the public URL, else what the bind address implies.
    fn own_origins(&self) -> Vec<String> {
        let public = self.api_public_url.trim();
        if !public.is_empty() {
            return vec![public.to_owned()];
        }
        let Some(bind) = self.bind() else {
            return Vec::new();
        };
        let (ip, port) = (bind.ip(), bind.port());
        if ip.is_loopback() || ip.is_unspecified() {
            ["127.0.0.1", "localhost", "[::1]"]
                .iter()
                .map(|host| format!("http://{host}:{port}"))
                .collect()
        } else {
            vec![format!("http://{bind}")]
        }
    }

    /// The rate limits.
    pub fn rate_limits(&self) -> RateLimitSettings {
        RateLimitSettings {
            per_second: self.api_rate_limit_per_second,
            burst: self.api_rate_limit_burst,
            exempt: self.rate_limit_exempt(),
            trusted_proxies: TrustedProxies::parse(&self.api_rate_limit_trusted_proxies)
                .unwrap_or_default(),
            probe_per_second: self.api_rate_limit_probe_per_second,
            window: Duration::from_secs(self.api_rate_limit_window_seconds.max(1)),
        }
    }

    /// Client IPs exempt from rate limiting.
    pub fn rate_limit_exempt(&self) -> Vec<IpAddr> {
        split_list(&self.api_rate_limit_exempt)
            .iter()
            .filter_map(|ip| ip.parse().ok())
            .collect()
    }

    /// The desk's time zone (validated by [`ServiceConfig::validate`]).
    pub fn desk_zone(&self) -> chrono_tz::Tz {
        self.desk_time_zone
            .trim()
            .parse()
            .unwrap_or(crate::common::instant::DEFAULT_DESK_ZONE)
    }

    /// The deadline of one database operation (validated: at least 100 ms).
    pub fn db_timeout(&self) -> Duration {
        Duration::from_millis(self.api_db_timeout_ms)
    }

    /// The cache TTL.
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.api_cache_ttl_seconds.max(1))
    }
}

fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn check_origin(field: &str, origin: &str) -> Option<String> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let ok = rest.is_some_and(|host| !host.is_empty() && !host.contains('/') && host != "*");
    (!ok).then(|| {
        format!(
            "{}: '{origin}' must be an origin such as https://dashboard.example.com (scheme and host, no path, no wildcard)",
            var(field)
        )
    })
}

impl ServiceConfig for ApiConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        problems.extend(check_bind("api_bind", &self.api_bind));
        if self.api_key.is_empty() && !self.dev_mode {
            problems.push(format!(
                "{} is required (admin calls need a key); set {}=true to run without one in development",
                var("api_key"),
                var("dev_mode")
            ));
        }
        // In dev mode a missing database or Redis means the in-memory adapters.
        problems.extend(check_backends(
            &self.database_url,
            &self.redis_url,
            &self.redis_replica_url,
            !self.dev_mode,
        ));
        for origin in self.cors_origins() {
            problems.extend(check_origin("cors_origins", &origin));
        }
        if !self.api_public_url.trim().is_empty() {
            problems.extend(check_origin("api_public_url", self.api_public_url.trim()));
        }
        for ip in split_list(&self.api_rate_limit_exempt) {
            if ip.parse::<IpAddr>().is_err() {
                problems.push(format!(
                    "{}: '{ip}' is not an IP address",
                    var("api_rate_limit_exempt")
                ));
            }
        }
        if let Err(e) = TrustedProxies::parse(&self.api_rate_limit_trusted_proxies) {
            problems.push(format!("{}: {e}", var("api_rate_limit_trusted_proxies")));
        }
        if self.api_rate_limit_window_seconds == 0 {
            problems.push(format!(
                "{} must be at least 1",
                var("api_rate_limit_window_seconds")
            ));
        }
        if self.api_rate_limit_per_second > 0 && self.api_rate_limit_burst == 0 {
            problems.push(format!(
                "{} must be at least 1 when rate limiting is on",
                var("api_rate_limit_burst")
            ));
        }
        if self.api_db_max_connections == 0 {
            problems.push(format!(
                "{} must be at least 1",
                var("api_db_max_connections")
            ));
        }
        if self.api_db_timeout_ms < 100 {
            problems.push(format!(
                "{} must be at least 100 (milliseconds)",
                var("api_db_timeout_ms")
            ));
        }
        if self.desk_time_zone.trim().parse::<chrono_tz::Tz>().is_err() {
            problems.push(format!(
                "{}: '{}' is not an IANA time zone such as America/Sao_Paulo",
                var("desk_time_zone"),
                self.desk_time_zone
            ));
        }
        if !self.api_ingest_url.is_empty() {
            problems.extend(service_kit::config::check_url(
                "api_ingest_url",
                &self.api_ingest_url,
                &["http", "https"],
            ));
        }
        if self.api_body_limit < 1024 {
            problems.push(format!("{} must be at least 1024", var("api_body_limit")));
        }
        problems
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

    #[test]
    fn refuses_to_start_without_keys_outside_dev_mode() {
        let err = load_from::<ApiConfig>(vars(&[
            ("TP_CAPITAL_DATABASE_URL", "postgres://u:p@h/db"),
            ("TP_CAPITAL_REDIS_URL", "redis://h:1"),
        ]))
        .expect_err("no key");
        assert!(
            err.to_string().contains("TP_CAPITAL_API_KEY is required"),
            "{err}"
        );
        let dev: ApiConfig =
            load_from(vars(&[("TP_CAPITAL_DEV_MODE", "true")])).expect("dev mode needs nothing");
        assert!(dev.api_key.is_empty());
    }

    #[test]
    fn reads_the_contract_variables() {
        let c: ApiConfig = load_from(vars(&[
            ("TP_CAPITAL_DATABASE_URL", "postgres://u:p@h/db"),
            ("TP_CAPITAL_REDIS_URL", "redis://h:1"),
            ("TP_CAPITAL_API_KEY", "k1,k2"),
            ("TP_CAPITAL_API_BIND", "127.0.0.1:9999"),
            (
                "TP_CAPITAL_CORS_ORIGINS",
                "http://localhost:3103, https://dash.example.com",
            ),
            ("TP_CAPITAL_API_RATE_LIMIT_PER_SECOND", "0"),
            ("TP_CAPITAL_API_DB_TIMEOUT_MS", "2000"),
        ]))
        .expect("loads");
        assert_eq!(c.db_timeout(), Duration::from_secs(2));
        assert_eq!(c.bind().map(|b| b.port()), Some(9999));
        assert_eq!(c.cors_origins().len(), 2);
        assert!(c.api_key.matches_any(b"k2"));
        assert_eq!(c.api_rate_limit_per_second, 0);
        assert!(!format!("{c:?}").contains("u:p@"), "secrets never print");
    }

    #[test]
    fn allowed_origins_are_the_list_and_the_api_s_own_never_a_request_s_host() {
        let local: ApiConfig = load_from(vars(&[
            ("TP_CAPITAL_DEV_MODE", "true"),
            ("TP_CAPITAL_API_BIND", "0.0.0.0:4005"),
            ("TP_CAPITAL_CORS_ORIGINS", "https://dash.example.com"),
        ]))
        .expect("loads");
        assert_eq!(
            local.allowed_origins(),
            [
                "https://dash.example.com",
                "http://127.0.0.1:4005",
                "http://localhost:4005",
                "http://[::1]:4005"
            ]
        );
        let public: ApiConfig = load_from(vars(&[
            ("TP_CAPITAL_DEV_MODE", "true"),
            ("TP_CAPITAL_API_BIND", "10.1.2.3:4005"),
            ("TP_CAPITAL_API_PUBLIC_URL", "https://api.example.com"),
        ]))
        .expect("loads");
        assert_eq!(public.allowed_origins(), ["https://api.example.com"]);
        let lan: ApiConfig = load_from(vars(&[
            ("TP_CAPITAL_DEV_MODE", "true"),
            ("TP_CAPITAL_API_BIND", "10.1.2.3:4005"),
        ]))
        .expect("loads");
        assert_eq!(lan.allowed_origins(), ["http://10.1.2.3:4005"]);
        let err = load_from::<ApiConfig>(vars(&[
            ("TP_CAPITAL_DEV_MODE", "true"),
            ("TP_CAPITAL_API_PUBLIC_URL", "https://api.example.com/v1"),
        ]))
        .expect_err("a path is not an origin");
        assert!(
            err.to_string().contains("TP_CAPITAL_API_PUBLIC_URL"),
            "{err}"
        );
    }

    #[test]
    fn a_database_deadline_under_100_ms_is_refused() {
        let err = load_from::<ApiConfig>(vars(&[
            ("TP_CAPITAL_DEV_MODE", "true"),
            ("TP_CAPITAL_API_DB_TIMEOUT_MS", "50"),
        ]))
        .expect_err("too short");
        assert!(
            err.to_string().contains("TP_CAPITAL_API_DB_TIMEOUT_MS"),
            "{err}"
        );
        let dev: ApiConfig = load_from(vars(&[("TP_CAPITAL_DEV_MODE", "true")])).expect("dev");
        assert_eq!(dev.db_timeout(), Duration::from_secs(10));
    }

    #[test]
    fn rejects_wildcard_origins_and_bad_urls() {
        let err = load_from::<ApiConfig>(vars(&[
            ("TP_CAPITAL_DEV_MODE", "true"),
            ("TP_CAPITAL_CORS_ORIGINS", "*"),
            ("TP_CAPITAL_DATABASE_URL", "mysql://x"),
        ]))
        .expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("TP_CAPITAL_CORS_ORIGINS"), "{text}");
        assert!(text.contains("TP_CAPITAL_DATABASE_URL"), "{text}");
    }

    #[test]
    fn the_desk_zone_defaults_to_sao_paulo_and_is_checked() {
        let dev: ApiConfig = load_from(vars(&[("TP_CAPITAL_DEV_MODE", "true")])).expect("dev");
        assert_eq!(dev.desk_zone(), chrono_tz::America::Sao_Paulo);
        let lisbon: ApiConfig = load_from(vars(&[
            ("TP_CAPITAL_DEV_MODE", "true"),
            ("TP_CAPITAL_DESK_TIME_ZONE", "Europe/Lisbon"),
        ]))
        .expect("lisbon");
        assert_eq!(lisbon.desk_zone(), chrono_tz::Europe::Lisbon);
        let err = load_from::<ApiConfig>(vars(&[
            ("TP_CAPITAL_DEV_MODE", "true"),
            ("TP_CAPITAL_DESK_TIME_ZONE", "Mars/Olympus"),
        ]))
        .expect_err("unknown zone");
        assert!(
            err.to_string().contains("TP_CAPITAL_DESK_TIME_ZONE"),
            "{err}"
        );
    }
}
