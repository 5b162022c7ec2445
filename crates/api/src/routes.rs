//! The one route table: [`configure`] registers exactly the routes [`ROUTES`] lists, and the
//! OpenAPI test compares [`ROUTES`] with the served document, so neither can drift.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use service_kit::Problem;

use crate::{channels, export, legacy, logs, messages, meta, signals, stats, stream, sync};

macro_rules! route_table {
    ($( $path:literal => { $( $method:ident => $handler:path ),+ $(,)? } ),* $(,)?) => {
        /// Every route of the api: its path template and its methods (lower case).
        pub const ROUTES: &[(&str, &[&str])] = &[ $( ($path, &[ $( stringify!($method) ),+ ]) ),* ];

        /// Registers every route of [`ROUTES`]; another method on a known path is a 405 problem.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        $( .route(web::$method().to($handler)) )+
                        .default_service(web::to(|req: HttpRequest| async move {
                            not_allowed(&req, &[ $( stringify!($method) ),+ ])
                        })),
                );
            )*
        }
    };
}

// Literal paths before templates: `/signals/stats` must not be read as `/signals/{id}`.
route_table! {
    "/health" => { get => meta::health },
    "/health/live" => { get => meta::live },
    "/health/ready" => { get => meta::ready },
    "/metrics" => { get => meta::metrics },
    "/api-docs/openapi.json" => { get => meta::openapi_json },
    "/signals" => { get => signals::handlers::list, delete => legacy::handlers::delete_signal },
    "/signals/stats" => { get => stats::handlers::stats },
    "/signals/export" => { get => export::handlers::export },
    "/signals/stream" => { get => stream::handlers::stream },
    "/signals/{id}" => { get => signals::handlers::detail, delete => signals::handlers::delete },
    "/messages" => { get => messages::handlers::list },
    "/messages/reparse" => { post => messages::handlers::reparse },
    "/forwarded-messages" => { get => messages::handlers::list_legacy },
    "/channels" => { get => channels::handlers::list },
    "/channels/{channel_id}" => { put => channels::handlers::update },
    "/logs" => { get => logs::handlers::list },
    "/sync-messages" => { post => sync::handlers::sync_messages },
    "/healthz" => { get => legacy::handlers::healthz },
    "/telegram-channels" => { get => legacy::handlers::telegram_channels },
}

/// 405 with the problem body and the `Allow` header RFC 9110 requires (`HEAD` wherever `GET`
/// is: service-kit serves it).
fn not_allowed(req: &HttpRequest, methods: &[&str]) -> HttpResponse {
    let mut allowed: Vec<String> = methods.iter().map(|m| m.to_ascii_uppercase()).collect();
    if methods.contains(&"get") {
        allowed.push("HEAD".to_owned());
    }
    let allow = allowed.join(", ");
    let mut res = Problem::method_not_allowed(req.method().as_str(), req.path())
        .with_instance(req.path())
        .to_response();
    if let Ok(value) = header::HeaderValue::from_str(&allow) {
        res.headers_mut().insert(header::ALLOW, value);
    }
    res
}

/// Where Swagger UI is served (outside the API table: it is documentation, not API).
pub const SWAGGER_UI: &str = "/swagger-ui/";
