//! The OpenAPI 3.1 document: every path of [`crate::routes::ROUTES`], its parameters, bodies and
//! examples, the API-key security scheme, and every error each route can answer — the shared
//! ones (400, 401, 404, 405, 413, 415, 429, 500, 503 as `application/problem+json`) added to
//! each operation by [`ErrorResponses`] from what the operation declares.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::signals::dto::SignalItem;
use crate::stream::dto::StreamEventBody;
use crate::{channels, export, legacy, logs, messages, meta, signals, stats, stream, sync};
use service_kit::Problem;

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "TP-Capital API",
        description = "Trading signals parsed from Telegram channels (B3 options and stocks), for the \
trading dashboard. Reads are cached (Redis) and invalidated by what each commit changed: never staler than 1 s after a commit. Writes and admin calls need \
an `X-API-Key`. Every error is `application/problem+json` (RFC 9457).",
        license(name = "MIT")
    ),
    paths(
        meta::health, meta::live, meta::ready, meta::metrics, meta::openapi_json,
        signals::handlers::list, stats::handlers::stats, export::handlers::export,
        stream::handlers::stream, signals::handlers::detail, signals::handlers::delete,
        messages::handlers::list, messages::handlers::reparse, messages::handlers::list_legacy,
        channels::handlers::list, channels::handlers::update,
        logs::handlers::list, sync::handlers::sync_messages,
        legacy::handlers::healthz, legacy::handlers::telegram_channels,
        legacy::handlers::delete_signal,
    ),
    components(schemas(Problem, SignalItem, StreamEventBody)),
    modifiers(&ErrorResponses),
    tags(
        (name = "signals", description = "Parsed trading signals: list, detail, stats, export, live stream"),
        (name = "messages", description = "The archive of every delivered message, re-parse, ingestion log"),
        (name = "channels", description = "Telegram channels: labels, default kinds, activity"),
        (name = "health", description = "Probes, metrics and this document"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The document, as served.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// Adds the API-key scheme, the reusable problem responses, and to each operation the error
/// responses it can produce but does not declare itself.
#[derive(Debug)]
pub struct ErrorResponses;

const PROBLEM_JSON: &str = "application/problem+json";

fn problem_response(description: &str, retry_after: bool) -> Response {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(<Problem as ToSchema>::name())))
        .build();
    let mut builder = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, content);
    if retry_after {
        builder = builder.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                ))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    builder.build()
}

/// Shared responses: component name, status, description, whether `Retry-After` is sent.
const SHARED: &[(&str, &str, &str, bool)] = &[
    (
        "BadRequest",
        "400",
        "Invalid parameter or body; `field` names it",
        false,
    ),
    (
        "Unauthorized",
        "401",
        "Missing or invalid `X-API-Key`",
        false,
    ),
    ("NotFound", "404", "No such resource", false),
    (
        "MethodNotAllowed",
        "405",
        "The path exists, not with this method",
        false,
    ),
    (
        "PayloadTooLarge",
        "413",
        "The body exceeds the limit",
        false,
    ),
    (
        "UnsupportedMediaType",
        "415",
        "The body must be application/json",
        false,
    ),
    (
        "TooManyRequests",
        "429",
        "Rate limit exceeded; retry after `Retry-After` seconds",
        true,
    ),
    (
        "InternalError",
        "500",
        "Unexpected failure (logged; no details are returned)",
        false,
    ),
    (
        "Unavailable",
        "503",
        "The database is unavailable or the request took too long; retry after `Retry-After` seconds",
        true,
    ),
];

impl Modify for ErrorResponses {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "Admin key (TP_CAPITAL_API_KEY) for writes and admin calls",
            ))),
        );
        for (name, _, description, retry) in SHARED {
            components.responses.insert(
                (*name).to_owned(),
                RefOr::T(problem_response(description, *retry)),
            );
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            for (p, method) in legacy::DEPRECATED {
                let op = match *method {
                    "get" => item.get.as_mut(),
                    "delete" => item.delete.as_mut(),
                    _ => None,
                };
                if let Some(op) = op.filter(|_| p == path) {
                    op.deprecated = Some(utoipa::openapi::Deprecated::True);
                }
            }
            let probe = path.starts_with("/health") || path == "/metrics";
            let templated = path.contains('{');
            for op in [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                add_errors(op, probe, templated);
            }
        }
    }
}

fn add_errors(op: &mut Operation, probe: bool, templated: bool) {
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has_body = op.request_body.is_some();
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let mut wanted = vec!["405", "500", "503"];
    if !probe {
        wanted.push("429");
    }
    if has_params || has_body {
        wanted.push("400");
    }
    if secured {
        wanted.push("401");
    }
    if templated {
        wanted.push("404");
    }
    if has_body {
        wanted.extend(["413", "415"]);
    }
    for status in wanted {
        if op.responses.responses.contains_key(status) {
            continue;
        }
        let Some((name, ..)) = SHARED.iter().find(|(_, s, ..)| *s == status) else {
            continue;
        };
        op.responses.responses.insert(
            status.to_owned(),
            RefOr::Ref(Ref::new(format!("#/components/responses/{name}"))),
        );
    }
}
