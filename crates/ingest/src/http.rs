//! The ingest HTTP surface: routes, the gateway-token guard and thin handlers
//! (DTO → `try_into_domain` → [`Ingestion`] → DTO), on the shared frame of `service-kit`.

use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, Error, FromRequest, HttpRequest, HttpResponse, web};
use domain::ports::StoreError;
use service_kit::config::SecretList;
use service_kit::extract::{Json, JsonLimit};
use service_kit::health::{self, Health};
use service_kit::http::HttpSettings;
use service_kit::metrics::{Metrics, metrics_endpoint};
use service_kit::problem::{Problem, method_not_allowed};
use service_kit::security::GATEWAY_TOKEN_HEADER;
use utoipa::OpenApi;

use crate::dto::{
    BatchItemResult, BatchRequest, BatchResponse, DeletionRequest, DeletionResponse,
    GatewayMessage, IngestResponse, InvalidItem,
};
use crate::gateway::sync::GatewaySync;
use crate::ingestion::{IngestError, Ingestion, record_invalid};

/// Seconds the gateway should wait after a persistent commit conflict.
const CONFLICT_RETRY_AFTER: u64 = 1;

/// Largest single-message body.
pub const MESSAGE_BODY_LIMIT: usize = 256 * 1024;

/// Who may push messages: the gateway token(s), or anyone in dev mode without a token.
#[derive(Debug, Clone)]
pub struct GatewayTokens {
    tokens: SecretList,
}

impl GatewayTokens {
    /// Accepts any of `tokens`; with none (dev mode only, enforced by the config), anyone.
    pub fn new(tokens: SecretList) -> Self {
        Self { tokens }
    }

    fn admits(&self, presented: Option<&[u8]>) -> bool {
        if self.tokens.is_empty() {
            return true;
        }
        presented.is_some_and(|p| self.tokens.matches_any(p))
    }
}

/// Extractor proving the request carries a valid `X-Gateway-Token` (401 problem otherwise).
/// Declare it first among a handler's arguments so credentials are checked before the body.
#[derive(Debug)]
pub struct GatewayAuth;

impl FromRequest for GatewayAuth {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let presented = req
            .headers()
            .get(GATEWAY_TOKEN_HEADER)
            .map(|v| v.as_bytes());
        let admitted = req
            .app_data::<web::Data<GatewayTokens>>()
            .is_some_and(|t| t.admits(presented));
        ready(if admitted {
            Ok(GatewayAuth)
        } else {
            Err(refused_credential("X-Gateway-Token", presented.is_some()))
        })
    }
}

/// The 401 for a token header that is missing or (when `presented`) not valid.
pub(crate) fn refused_credential(header: &str, presented: bool) -> Problem {
    let detail = if presented {
        format!("the {header} is not valid")
    } else {
        format!("the {header} header is required")
    };
    Problem::unauthorized(header, detail)
}

/// Everything the handlers share; cheap to clone into every worker.
#[derive(Debug, Clone)]
pub struct IngestApp {
    /// The use case.
    pub ingestion: web::Data<Ingestion>,
    /// Accepted gateway tokens.
    pub tokens: web::Data<GatewayTokens>,
    /// Health checks.
    pub health: web::Data<Health>,
    /// The metrics registry.
    pub metrics: web::Data<Metrics>,
    /// Body limit of `/ingest/batch`.
    pub batch_body_limit: usize,
    /// `POST /gateway/sync` (the api's "check messages").
    pub sync: web::Data<GatewaySync>,
}

/// The complete ingest application: the shared frame plus the ingest routes.
pub fn app(
    settings: &HttpSettings,
    state: &IngestApp,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<>>,
        Error = Error,
        InitError = (),
    > + use<>,
> {
    let batch_limit = state.batch_body_limit;
    service_kit::http::app(settings)
        .app_data(state.ingestion.clone())
        .app_data(state.tokens.clone())
        .app_data(state.health.clone())
        .app_data(state.metrics.clone())
        .app_data(state.sync.clone())
        .configure(health::routes)
        .configure(crate::gateway::sync::routes)
        .configure(move |cfg| routes(cfg, batch_limit))
}

/// Registers `/ingest`, `/ingest/batch`, `/ingest/deletions`, `/metrics` and
/// `/api-docs/openapi.json`.
pub fn routes(cfg: &mut web::ServiceConfig, batch_body_limit: usize) {
    cfg.service(
        web::resource("/ingest")
            .app_data(JsonLimit(MESSAGE_BODY_LIMIT))
            .route(web::post().to(ingest_message))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ingest/batch")
            .app_data(JsonLimit(batch_body_limit))
            .route(web::post().to(ingest_batch))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ingest/deletions")
            .app_data(JsonLimit(MESSAGE_BODY_LIMIT))
            .route(web::post().to(ingest_deletions))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(metrics_endpoint))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api-docs/openapi.json")
            .route(web::get().to(openapi))
            .default_service(web::to(method_not_allowed)),
    );
}

/// Stores one message pushed by the gateway.
#[utoipa::path(
    post,
    path = "/ingest",
    tag = "ingest",
    request_body = GatewayMessage,
    params(("X-Gateway-Token" = String, Header, description = "The gateway's token")),
    responses(
        (status = 200, description = "Committed (or recognised as a duplicate)", body = IngestResponse),
        (status = 400, description = "Malformed JSON or an invalid field (named in `field`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong X-Gateway-Token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable: retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn ingest_message(
    _: GatewayAuth,
    ingestion: web::Data<Ingestion>,
    body: Json<GatewayMessage>,
) -> Result<HttpResponse, Problem> {
    let message = body.into_inner().try_into_domain()?;
    let receipt = ingestion.ingest_one(message).await?;
    Ok(HttpResponse::Ok().json(IngestResponse::from(receipt)))
}

/// Stores up to 1,000 messages in one transaction. Invalid items are answered one by one
/// (`success: false` with a problem naming `messages[i].field`) and the valid ones are stored.
#[utoipa::path(
    post,
    path = "/ingest/batch",
    tag = "ingest",
    request_body = BatchRequest,
    params(("X-Gateway-Token" = String, Header, description = "The gateway's token")),
    responses(
        (status = 200, description = "The valid items are committed; one result per item", body = BatchResponse),
        (status = 400, description = "Not a batch, or more than 1,000 items", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong X-Gateway-Token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over the batch limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable: retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn ingest_batch(
    _: GatewayAuth,
    ingestion: web::Data<Ingestion>,
    body: Json<BatchRequest>,
) -> Result<HttpResponse, Problem> {
    let items = body.into_inner().into_items()?;
    let received = items.len();
    let mut valid = Vec::with_capacity(received);
    let mut results: Vec<Option<BatchItemResult>> = Vec::with_capacity(received);
    for item in items {
        match item {
            Ok(message) => {
                valid.push(message);
                results.push(None);
            }
            Err(e) => results.push(Some(BatchItemResult::Invalid(InvalidItem::from(e)))),
        }
    }
    let invalid = received - valid.len();
    record_invalid(invalid);
    let mut receipts = if valid.is_empty() {
        Vec::new()
    } else {
        ingestion.ingest(&valid).await?.receipts
    }
    .into_iter();
    let stored = receipts.as_slice().iter().filter(|r| r.stored).count();
    let results = results
        .into_iter()
        .filter_map(|slot| {
            slot.or_else(|| {
                receipts
                    .next()
                    .map(|r| BatchItemResult::Accepted(IngestResponse::from(r)))
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(BatchResponse {
        success: invalid == 0,
        received,
        stored,
        invalid,
        results,
    }))
}

/// Marks messages deleted in Telegram; their open signals become `cancelled` (never removed).
#[utoipa::path(
    post,
    path = "/ingest/deletions",
    tag = "ingest",
    request_body = DeletionRequest,
    params(("X-Gateway-Token" = String, Header, description = "The gateway's token")),
    responses(
        (status = 200, description = "Committed", body = DeletionResponse),
        (status = 400, description = "Malformed JSON or an invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong X-Gateway-Token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable: retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn ingest_deletions(
    _: GatewayAuth,
    ingestion: web::Data<Ingestion>,
    body: Json<DeletionRequest>,
) -> Result<HttpResponse, Problem> {
    let (channel_id, message_ids) = body.into_inner().try_into_domain()?;
    let report = ingestion.delete(channel_id, &message_ids).await?;
    Ok(HttpResponse::Ok().json(DeletionResponse {
        success: true,
        channel_id: channel_id.0,
        archived_flagged: report.archived_flagged,
        cancelled_signal_ids: report.cancelled.into_iter().map(|s| s.0).collect(),
    }))
}

/// The ingest service's OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "TP-Capital ingest", description = "The Telegram gateway's push endpoint."),
    paths(ingest_message, ingest_batch, ingest_deletions, crate::gateway::sync::sync),
    tags(
        (name = "ingest", description = "Message intake from the Telegram gateway"),
        (name = "gateway", description = "Internal: the api asks for a sync with the gateway")
    )
)]
pub struct IngestApiDoc;

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(IngestApiDoc::openapi())
}

/// The answer to an ingest that did not commit: 503 + `Retry-After` when the database is away,
/// shutting down or a conflict persisted; 500 (details logged, never sent) otherwise.
impl From<IngestError> for Problem {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::ShuttingDown => {
                Problem::unavailable("the ingest service is shutting down", 1)
            }
            IngestError::NoReceipt => {
                Problem::internal("ingest", &"the service returned no receipt")
            }
            IngestError::Store(StoreError::Conflict(_)) => Problem::unavailable(
                "a concurrent delivery of the same message is being stored; retry",
                CONFLICT_RETRY_AFTER,
            ),
            IngestError::Store(StoreError::NotFound) => {
                Problem::internal("ingest", &"store answered not found")
            }
            IngestError::Store(other) => other.into(),
        }
    }
}
