//! `tp-capital-api`, the composition root: read the configuration, connect PostgreSQL (through
//! PgBouncer) and Redis, build the state (`api::wiring`), serve. Redis being down at startup only degrades the
//! service; the database being down makes `/health/ready` answer 503 until it is back.

use std::process::ExitCode;

use api::config::ApiConfig;
use api::{SERVICE, VERSION, app, wiring};
use service_kit::{Metrics, config, telemetry};

/// mimalloc: glibc malloc took ~20 % of the api's CPU on an uncached page (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: tp-capital-api [serve | healthcheck]";

fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    let probe = match command.as_deref() {
        None | Some("serve") => false,
        Some("healthcheck") => true,
        Some("-h" | "--help") => {
            println!(
                "{USAGE}\n  serve        run the HTTP service (the default)\n  healthcheck  exit 0 when the running service answers {}",
                service_kit::probe::READINESS_PATH
            );
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("tp-capital-api: unknown command '{other}'\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match config::load_or_exit::<ApiConfig>(SERVICE) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if probe {
        return match config.bind() {
            Some(bind) => service_kit::probe::run(SERVICE, bind),
            None => {
                eprintln!("{SERVICE}: TP_CAPITAL_API_BIND is not host:port");
                ExitCode::FAILURE
            }
        };
    }
    match actix_web::rt::System::new().block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{SERVICE}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: ApiConfig) -> Result<(), String> {
    let telemetry = telemetry::init(SERVICE, config.log_format).map_err(|e| e.to_string())?;
    let metrics = Metrics::install(SERVICE, VERSION).map_err(|e| e.to_string())?;
    metrics.spawn_upkeep();
    let bind = config
        .bind()
        .ok_or_else(|| "TP_CAPITAL_API_BIND is not host:port".to_owned())?;
    let parts = wiring::parts(&config, bind, metrics).await?;
    tracing::info!(
        %bind,
        cors_origins = parts.cors_origins.len(),
        rate_limit_per_second = config.api_rate_limit_per_second,
        "tp-capital-api starting"
    );
    let http = parts.http.clone();
    let served = service_kit::http::serve(&http, move || app(&parts)).await;
    telemetry.shutdown();
    served.map_err(|e| format!("cannot serve on {bind}: {e}"))
}
