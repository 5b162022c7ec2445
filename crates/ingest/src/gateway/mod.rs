//! The pull side of the existing Telegram gateway (its REST API), healing every push it missed.
//!
//! A module of the ingest service rather than its own crate: the consumer only exists to feed the
//! ingest use case, runs inside `serve` and `backfill`, and shares the push path's wire conversion
//! ([`crate::dto::GatewayMessage`]) so a message received both ways is one delivery. Its policy
//! (paging, ledger, acknowledge after commit, reconciliation) is the domain's
//! [`domain::services::PullConsumer`] over the [`domain::ports::GatewayFeed`] port; here live the
//! adapter ([`client`]: reqwest, timeouts, backon retries, rate limits), the circuit breaker
//! ([`breaker`]) and the background task ([`runner`]).

pub mod backfill;
pub mod breaker;
pub mod client;
pub mod runner;
pub mod sync;
pub mod wire;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::ChannelId;
use domain::Message;
use domain::ports::{Clock, StoreError};
use domain::services::{IngestReport, MessageSink, PullConsumer};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use service_kit::config::{check_url, var};

use crate::config::IngestConfig;
use crate::ingestion::Ingestion;

pub use breaker::{Breaker, BreakerState};
pub use client::{ClientSettings, GatewayClient};

/// Channel ids: `-1001,-1002` in the environment, a number, or a TOML array.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelList(pub Vec<ChannelId>);

impl<'de> Deserialize<'de> for ChannelList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ChannelListVisitor)
    }
}

struct ChannelListVisitor;

impl<'de> Visitor<'de> for ChannelListVisitor {
    type Value = ChannelList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel ids separated by commas")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ChannelList, E> {
        Ok(ChannelList(vec![ChannelId(v)]))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ChannelList, E> {
        i64::try_from(v)
            .map(|v| ChannelList(vec![ChannelId(v)]))
            .map_err(|_| E::custom("channel id out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ChannelList, E> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i64>()
                    .map(ChannelId)
                    .map_err(|_| E::custom(format!("`{s}` is not a channel id")))
            })
            .collect::<Result<Vec<_>, E>>()
            .map(ChannelList)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<ChannelList, A::Error> {
        let mut ids = Vec::new();
        while let Some(id) = seq.next_element::<i64>()? {
            ids.push(ChannelId(id));
        }
        Ok(ChannelList(ids))
    }
}

/// The configuration problems of the gateway settings.
pub fn check_config(c: &IngestConfig) -> Vec<String> {
    let mut problems = Vec::new();
    if c.gateway_url.is_empty() {
        return problems;
    }
    problems.extend(check_url("gateway_url", &c.gateway_url, &["http", "https"]));
    if c.gateway_consumer.trim().is_empty() {
        problems.push(format!("{} must not be empty", var("gateway_consumer")));
    }
    if c.gateway_poll_interval_ms == 0 || c.gateway_timeout_ms == 0 {
        problems.push(format!(
            "{} and {} must be positive",
            var("gateway_poll_interval_ms"),
            var("gateway_timeout_ms")
        ));
    }
    if !(1..=1000).contains(&c.gateway_page_size) {
        problems.push(format!(
            "{} must be between 1 and 1000",
            var("gateway_page_size")
        ));
    }
    if c.gateway_channels.0.iter().any(|c| c.0 == 0) {
        problems.push(format!("{}: 0 is not a channel", var("gateway_channels")));
    }
    problems
}

/// The gateway client of `config`, or `None` when `TP_CAPITAL_GATEWAY_URL` is not set.
pub fn client(config: &IngestConfig) -> Result<Option<GatewayClient>, String> {
    if config.gateway_url.is_empty() {
        return Ok(None);
    }
    GatewayClient::new(ClientSettings {
        url: config.gateway_url.clone(),
        consumer: config.gateway_consumer.clone(),
        token: config.gateway_api_token.clone(),
        api_key: config.gateway_api_key.clone(),
        timeout: Duration::from_millis(config.gateway_timeout_ms),
        sync_timeout: Duration::from_secs(180),
        attempts: config.gateway_attempts.max(1),
    })
    .map(Some)
}

/// The domain consumer over `client` and `ingestion`.
pub fn consumer(
    config: &IngestConfig,
    client: Arc<GatewayClient>,
    ingestion: Ingestion,
    clock: Arc<dyn Clock>,
) -> Arc<PullConsumer> {
    Arc::new(PullConsumer::new(
        client,
        Arc::new(ingestion),
        clock,
        config.gateway_page_size,
    ))
}

/// The breaker of `config`.
pub fn breaker(config: &IngestConfig) -> Breaker {
    Breaker::new(
        config.gateway_breaker_failures,
        Duration::from_secs(config.gateway_breaker_pause_secs.max(1)),
    )
}

/// The runner's settings of `config`.
pub fn runner_settings(config: &IngestConfig) -> runner::RunnerSettings {
    runner::RunnerSettings {
        channels: config.gateway_channels.0.clone(),
        poll_interval: Duration::from_millis(config.gateway_poll_interval_ms),
        reconcile_interval: Duration::from_secs(config.gateway_reconcile_interval_secs),
    }
}

#[async_trait]
impl MessageSink for Ingestion {
    async fn store(&self, messages: &[Message]) -> Result<IngestReport, StoreError> {
        Ingestion::store(self, messages).await
    }
}
