//! `POST /gateway/sync`: the internal endpoint behind the dashboard's "Checar Mensagens". The api
//! calls it (with `X-Sync-Token`, a secret that allows nothing else), so the gateway's own token
//! and key stay in this service. It asks the gateway to fetch recent history from Telegram and
//! drains every configured channel through the running consumer
//! ([`domain::services::PullConsumer::sync`]); the work runs in its own task, so a caller that
//! gives up does not cut a sync in half.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use domain::ChannelId;
use domain::ports::FeedError;
use domain::services::{PullConsumer, PullError, SyncSummary};
use serde::Serialize;
use service_kit::config::SecretList;
use service_kit::problem::{Problem, method_not_allowed};

use crate::http::refused_credential;

/// Header carrying the sync token (`TP_CAPITAL_SYNC_TOKEN`).
pub const SYNC_TOKEN_HEADER: &str = "x-sync-token";
/// The route.
pub const SYNC_PATH: &str = "/gateway/sync";
/// Most pages one channel drains per sync.
const MAX_PAGES: u32 = 50;

/// What the endpoint needs: the consumer (when a gateway and channels are configured) and who
/// may call it.
#[derive(Clone)]
pub struct GatewaySync {
    /// The running consumer and its channels; `None` without a gateway.
    pub consumer: Option<(Arc<PullConsumer>, Vec<ChannelId>)>,
    /// How many recent messages the gateway is asked to fetch.
    pub limit: usize,
    /// Accepted sync tokens; none means the endpoint is open only in dev mode.
    pub tokens: SecretList,
    /// Dev mode: without tokens anyone may call it.
    pub dev_mode: bool,
}

impl std::fmt::Debug for GatewaySync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewaySync")
            .field("configured", &self.consumer.is_some())
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// Proof that the request carries a valid `X-Sync-Token`.
#[derive(Debug)]
pub struct SyncAuth;

impl FromRequest for SyncAuth {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(sync) = req.app_data::<web::Data<GatewaySync>>() else {
            return ready(Err(unconfigured()));
        };
        let presented = req.headers().get(SYNC_TOKEN_HEADER).map(|v| v.as_bytes());
        ready(match presented {
            _ if sync.tokens.is_empty() && sync.dev_mode => Ok(SyncAuth),
            Some(p) if sync.tokens.matches_any(p) => Ok(SyncAuth),
            p => Err(refused_credential("X-Sync-Token", p.is_some())),
        })
    }
}

/// The answer: the shape the dashboard reads (`data.messagesSynced`), with the details.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncResponse {
    /// Always true (failures are problems).
    pub success: bool,
    /// What happened, for a person.
    pub message: String,
    /// The counts.
    pub data: SyncData,
}

/// The counts of one sync.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncData {
    /// Messages newly stored by this sync.
    pub messages_synced: u64,
    /// Messages the gateway says it fetched from Telegram, when it says so.
    pub gateway_fetched: Option<u64>,
    /// Messages pulled that were already stored.
    pub duplicates: u64,
    /// Unreadable rows acknowledged without storing.
    pub invalid: u64,
    /// Channels drained.
    pub channels: usize,
}

/// Registers [`SYNC_PATH`].
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(SYNC_PATH)
            .route(web::post().to(sync))
            .default_service(web::to(method_not_allowed)),
    );
}

/// Asks the gateway to sync, then drains every configured channel.
#[utoipa::path(
    post,
    path = "/gateway/sync",
    tag = "gateway",
    params(("X-Sync-Token" = String, Header, description = "TP_CAPITAL_SYNC_TOKEN (the api's)")),
    responses(
        (status = 200, description = "Synced; `data.messagesSynced` new messages stored", body = SyncResponse),
        (status = 401, description = "Missing or wrong X-Sync-Token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The gateway asked us to slow down", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The gateway refused the request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No gateway configured, gateway or database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sync(_: SyncAuth, state: web::Data<GatewaySync>) -> Result<HttpResponse, Problem> {
    let Some((consumer, channels)) = state.consumer.clone() else {
        return Err(unconfigured());
    };
    let count = channels.len();
    let limit = state.limit;
    let summary = tokio::spawn(async move { consumer.sync(&channels, limit, MAX_PAGES).await })
        .await
        .map_err(|e| Problem::internal("gateway sync", &e))?
        .map_err(problem)?;
    tracing::info!(
        stored = summary.pulled.stored,
        fetched = summary.gateway.fetched,
        "gateway sync asked through the api"
    );
    Ok(HttpResponse::Ok().json(response(&summary, count)))
}

fn response(s: &SyncSummary, channels: usize) -> SyncResponse {
    let stored = s.pulled.stored;
    let mut message = format!("{stored} new message(s) stored from {channels} channel(s)");
    if let Some(fetched) = s.gateway.fetched {
        message.push_str(&format!("; the gateway fetched {fetched} from Telegram"));
    }
    SyncResponse {
        success: true,
        message,
        data: SyncData {
            messages_synced: stored,
            gateway_fetched: s.gateway.fetched,
            duplicates: s.pulled.duplicates,
            invalid: s.pulled.invalid,
            channels,
        },
    }
}

fn unconfigured() -> Problem {
    Problem::unavailable(
        "no Telegram gateway is configured on the ingest service: set TP_CAPITAL_GATEWAY_URL and TP_CAPITAL_GATEWAY_CHANNELS",
        60,
    )
}

fn problem(e: PullError) -> Problem {
    match e {
        PullError::Feed(FeedError::RateLimited { retry_after }) => {
            Problem::too_many_requests(retry_after.map_or(5, |d| d.as_secs().max(1)))
                .with_detail("the Telegram gateway asked us to slow down; retry later")
        }
        PullError::Feed(FeedError::Unavailable(why)) => {
            tracing::warn!(error = %why, "gateway sync: gateway unavailable");
            Problem::unavailable("the Telegram gateway is unavailable; retry later", 10)
        }
        PullError::Feed(FeedError::Refused(why)) => {
            tracing::warn!(error = %why, "gateway sync: refused by the gateway");
            Problem::new(
                actix_web::http::StatusCode::BAD_GATEWAY,
                "gateway-refused",
                "The gateway refused the request",
            )
            .with_detail(format!("the Telegram gateway refused the sync: {why}"))
        }
        PullError::Store(e) => e.into(),
    }
}
