//! Where Redis is and how patient to be with it: the one place that turns our settings into
//! fred's connection, reconnection and timeout policy.

use std::fmt;
use std::time::Duration;

use fred::prelude::{
    Config, ConnectionConfig, PerformanceConfig, ReconnectPolicy, ServerConfig, TcpConfig,
};
use fred::types::config::UnresponsiveConfig;

/// Connection settings of the Redis adapters.
///
/// Writes, invalidation and pub/sub go to the master; cache reads go to the replica while its
/// link to the master is up, else to the master. Every command is bounded by
/// `command_timeout`, and a disconnected client fails at once instead of queueing, so a dead
/// Redis costs callers nothing but a fast [`domain::ports::CacheError::Unavailable`].
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]` of the master (writes, invalidation, pub/sub).
    pub master_url: String,
    /// URL of the replica used for cache reads; `None` reads from the master.
    pub replica_url: Option<String>,
    /// Prefix of every key and channel (`{namespace}:cache:gen`, `{namespace}:signals`).
    /// Tests use a random one to stay isolated on a shared server.
    pub namespace: String,
    /// Upper bound of one command, round trip included.
    pub command_timeout: Duration,
    /// Upper bound of one TCP connect + handshake, and of how long [`crate::connect`] waits for
    /// the first connection before it returns anyway (degraded).
    pub connect_timeout: Duration,
    /// First delay of the exponential reconnect backoff (attempts are unlimited).
    pub reconnect_min_delay: Duration,
    /// Cap of the reconnect backoff.
    pub reconnect_max_delay: Duration,
    /// Connections to the replica (the hot `get` path). Each one multiplexes many in-flight
    /// commands; 2 is plenty on a 2-core machine.
    pub replica_pool_size: usize,
    /// How often the replica's link to the master is checked; reads move to the master while
    /// the replica is unlinked or down.
    pub replica_check_interval: Duration,
    /// The freshness window of the answers that span channels: their invalidation runs at
    /// once, then at most once per window (the latest commit of a window waits for its end).
    /// 500 ms keeps SPEC §4's "never staler than 1 s after a commit"; zero invalidates at once.
    pub invalidation_window: Duration,
}

impl RedisConfig {
    /// Defaults for everything but the master URL.
    pub fn new(master_url: impl Into<String>) -> Self {
        Self {
            master_url: master_url.into(),
            replica_url: None,
            namespace: "tpcapital".to_owned(),
            command_timeout: Duration::from_millis(300),
            connect_timeout: Duration::from_secs(1),
            reconnect_min_delay: Duration::from_millis(100),
            reconnect_max_delay: Duration::from_secs(2),
            replica_pool_size: 2,
            replica_check_interval: Duration::from_millis(500),
            invalidation_window: Duration::from_millis(500),
        }
    }

    /// Reads cache values from this replica.
    #[must_use]
    pub fn with_replica(mut self, replica_url: impl Into<String>) -> Self {
        self.replica_url = Some(replica_url.into());
        self
    }

    /// Prefixes every key and channel with `namespace`.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Parses one URL into fred's client settings with our policies applied.
    pub(crate) fn client_settings(
        &self,
        url: &str,
        role: &str,
    ) -> Result<ClientSettings, ConfigError> {
        if !url.starts_with("redis://") {
            return Err(ConfigError::InvalidUrl {
                role: role.to_owned(),
                url: redact(url),
                reason: "expected redis://[:password@]host:port[/db]".into(),
            });
        }
        let mut config = Config::from_url(url).map_err(|error| ConfigError::InvalidUrl {
            role: role.to_owned(),
            url: redact(url),
            reason: error.details().to_owned(),
        })?;
        if !matches!(config.server, ServerConfig::Centralized { .. }) {
            return Err(ConfigError::InvalidUrl {
                role: role.to_owned(),
                url: redact(url),
                reason: "only a single (non-cluster, non-sentinel) server is supported".into(),
            });
        }
        // Never fail at startup: keep retrying in the background, callers see `Unavailable`.
        config.fail_fast = false;
        let min = millis_u32(self.reconnect_min_delay).max(1);
        let max = millis_u32(self.reconnect_max_delay).max(min);
        let policy = ReconnectPolicy::new_exponential(0, min, max, 2);
        let connection = ConnectionConfig {
            connection_timeout: self.connect_timeout,
            internal_command_timeout: self.connect_timeout,
            max_command_attempts: 2,
            unresponsive: UnresponsiveConfig {
                max_timeout: Some((self.command_timeout * 4).max(Duration::from_secs(1))),
                interval: Duration::from_millis(250),
            },
            tcp: TcpConfig {
                nodelay: Some(true),
                ..TcpConfig::default()
            },
            ..ConnectionConfig::default()
        };
        let performance = PerformanceConfig {
            default_command_timeout: self.command_timeout,
            ..PerformanceConfig::default()
        };
        Ok(ClientSettings {
            config,
            connection,
            performance,
            policy,
        })
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, reason: &str| {
            Err(ConfigError::Invalid {
                field: field.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if self.namespace.is_empty() || self.namespace.contains(char::is_whitespace) {
            return invalid("namespace", "must be non-empty without whitespace");
        }
        if self.command_timeout.is_zero() {
            return invalid("command_timeout", "must be > 0");
        }
        if self.connect_timeout.is_zero() {
            return invalid("connect_timeout", "must be > 0");
        }
        if self.replica_pool_size == 0 || self.replica_pool_size > 64 {
            return invalid("replica_pool_size", "must be in 1..=64");
        }
        if self.invalidation_window > Duration::from_secs(1) {
            return invalid("invalidation_window", "must be <= 1 s (SPEC §4 freshness)");
        }
        if self.replica_check_interval < Duration::from_millis(10) {
            return invalid("replica_check_interval", "must be >= 10 ms");
        }
        Ok(())
    }
}

impl Default for RedisConfig {
    /// The local stack's topology: master 6381, replica 6382.
    fn default() -> Self {
        Self::new("redis://127.0.0.1:6381").with_replica("redis://127.0.0.1:6382")
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("master_url", &redact(&self.master_url))
            .field("replica_url", &self.replica_url.as_deref().map(redact))
            .field("namespace", &self.namespace)
            .field("command_timeout", &self.command_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_min_delay", &self.reconnect_min_delay)
            .field("reconnect_max_delay", &self.reconnect_max_delay)
            .field("replica_pool_size", &self.replica_pool_size)
            .field("replica_check_interval", &self.replica_check_interval)
            .field("invalidation_window", &self.invalidation_window)
            .finish()
    }
}

/// A configuration that cannot work whatever the state of the servers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A URL that fred cannot use (the password is never shown).
    #[error("invalid redis {role} url {url}: {reason}")]
    InvalidUrl {
        /// `master` or `replica`.
        role: String,
        /// The URL with its password replaced by `***`.
        url: String,
        /// Why.
        reason: String,
    },
    /// A setting out of range.
    #[error("invalid redis setting {field}: {reason}")]
    Invalid {
        /// The field of [`RedisConfig`].
        field: String,
        /// Why.
        reason: String,
    },
}

/// fred's pieces for one client.
pub(crate) struct ClientSettings {
    pub config: Config,
    pub connection: ConnectionConfig,
    pub performance: PerformanceConfig,
    pub policy: ReconnectPolicy,
}

fn millis_u32(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

/// The URL with any password replaced by `***`, for logs and errors.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or("", |(user, _)| user);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_owned()
            };
            format!("{scheme}://{masked}{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("redis://:s3cret@127.0.0.1:6381"),
            "redis://:***@127.0.0.1:6381"
        );
        assert_eq!(
            redact("redis://app:s3cret@host:6381/0"),
            "redis://app:***@host:6381/0"
        );
        assert_eq!(redact("redis://127.0.0.1:6381"), "redis://127.0.0.1:6381");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn debug_never_prints_the_password() {
        let config = RedisConfig::new("redis://:hunter2@127.0.0.1:1")
            .with_replica("redis://:hunter2@127.0.0.1:2");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("127.0.0.1:2"), "{shown}");
    }

    #[test]
    fn bad_urls_and_settings_are_rejected() {
        let config = RedisConfig::new("http://nope");
        assert!(matches!(
            config.client_settings(&config.master_url, "master"),
            Err(ConfigError::InvalidUrl { .. })
        ));
        let mut config = RedisConfig::new("redis://127.0.0.1:6381");
        assert_eq!(config.validate(), Ok(()));
        config.replica_pool_size = 0;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid { ref field, .. }) if field == "replica_pool_size"
        ));
        let config = RedisConfig::new("redis://127.0.0.1:6381").with_namespace("");
        assert!(config.validate().is_err());
    }

    #[test]
    fn settings_apply_our_policy() {
        let config = RedisConfig::new("redis://:pw@127.0.0.1:6381");
        let settings = config
            .client_settings(&config.master_url, "master")
            .expect("valid url");
        assert!(!settings.config.fail_fast);
        assert_eq!(settings.config.password.as_deref(), Some("pw"));
        assert_eq!(
            settings.performance.default_command_timeout,
            Duration::from_millis(300)
        );
        assert_eq!(
            settings.policy.max_attempts(),
            0,
            "reconnects are unlimited"
        );
    }
}
