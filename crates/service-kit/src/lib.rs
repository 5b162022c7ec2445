//! What the api and ingest binaries share, implemented once: layered configuration with
//! secrets ([`config`]), logs and traces ([`telemetry`]), Prometheus metrics ([`metrics`]),
//! health endpoints ([`health`]), RFC 9457 problem responses ([`problem`]) and the extractors
//! that produce them ([`extract`]), credential checks and hardening ([`security`]), response
//! compression ([`compress`]), `HEAD` ([`head`]), the HTTP frame tying them together
//! ([`http`]) and the containers' `healthcheck` probe ([`probe`]).

pub mod compress;
pub mod config;
pub mod extract;
pub mod head;
pub mod health;
pub mod http;
pub mod metrics;
pub mod probe;
pub mod problem;
pub mod security;
pub mod telemetry;

pub use config::{LogFormat, Secret, SecretList, ServiceConfig};
pub use health::{Component, FnCheck, Health, HealthCheck, HealthReport};
pub use http::HttpSettings;
pub use metrics::Metrics;
pub use problem::{FieldProblem, Problem, ProblemDetails};
