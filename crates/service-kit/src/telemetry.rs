//! Logs and traces: `tracing` with an env filter (`RUST_LOG`) written as JSON or pretty text,
//! OpenTelemetry spans exported over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and
//! W3C trace context carried across process boundaries — extracted from incoming `traceparent`
//! headers by [`request_tracing`], carried by the domain as a [`TraceContext`] from
//! [`current_trace_context`] into pub/sub events, and continued there by [`continue_trace`].
//!
//! Spans always get OpenTelemetry ids (even without an exporter) so a gateway's trace id
//! reaches the api through Redis whether or not a collector is running.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use domain::model::TraceContext;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, global};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder, TracingLogger};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Environment variable that turns OTLP export on.
pub const OTLP_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    /// `RUST_LOG` does not parse.
    #[error("RUST_LOG is invalid: {0}")]
    Filter(String),
    /// A global subscriber is already installed.
    #[error("a tracing subscriber is already installed: {0}")]
    AlreadyInstalled(String),
}

/// Keeps the tracer provider alive; [`TelemetryGuard::shutdown`] (or drop) flushes pending
/// spans to the collector.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    exporting: bool,
}

impl TelemetryGuard {
    /// Whether spans are exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.exporting
    }

    /// Flushes and stops the exporter. Called on graceful shutdown.
    pub fn shutdown(mut self) {
        self.flush();
    }

    fn flush(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown_with_timeout(Duration::from_secs(5))
        {
            eprintln!("telemetry: flushing spans failed: {e}");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Installs the global subscriber and propagator for `service`. Call once, inside the tokio
/// runtime (the gRPC exporter needs it), before serving.
pub fn init(service: &'static str, format: LogFormat) -> Result<TelemetryGuard, TelemetryError> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let exporting = std::env::var(OTLP_ENDPOINT_VAR).is_ok_and(|v| !v.trim().is_empty());
    let resource = Resource::builder().with_service_name(service).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if exporting {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    global::set_tracer_provider(provider.clone());
    let tracer = provider.tracer(service);

    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => {
            EnvFilter::try_new(&spec).map_err(|e| TelemetryError::Filter(e.to_string()))?
        }
        _ => EnvFilter::new("info"),
    };
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
    });
    let pretty = (format == LogFormat::Pretty).then(tracing_subscriber::fmt::layer);
    tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(pretty)
        .with(spans(tracer, exporting))
        .try_init()
        .map_err(|e| TelemetryError::AlreadyInstalled(e.to_string()))?;
    Ok(TelemetryGuard {
        provider: Some(provider),
        exporting,
    })
}

/// The layer that gives every span its OpenTelemetry context. What only an exported trace
/// shows (source locations) is recorded only when exporting; nothing reads the busy/idle times,
/// the thread attributes or the context activated at each poll (trace contexts are read from
/// the span); the tracing layers were a tenth of the api's samples on an uncached page.
fn spans<S>(tracer: opentelemetry_sdk::trace::Tracer, exporting: bool) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(exporting)
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_context_activation(false)
}

/// Installs, once per process, a global subscriber that gives spans W3C trace contexts
/// without logging or exporting anything: for tests that check propagation. Later calls (and
/// calls after [`init`]) do nothing.
pub fn init_silent() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let tracer = SdkTracerProvider::builder().build().tracer("silent");
        let _ = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer))
            .try_init();
    });
}

/// The request-tracing middleware: one root span per request, continuing the caller's trace.
pub fn request_tracing() -> TracingLogger<TraceContextRootSpan> {
    TracingLogger::<TraceContextRootSpan>::new()
}

/// Root span builder that makes an incoming W3C `traceparent` the parent of the request span.
#[derive(Debug, Clone, Copy)]
pub struct TraceContextRootSpan;

impl RootSpanBuilder for TraceContextRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let span = tracing_actix_web::root_span!(request);
        let parent = extract_context(request.headers());
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
        let trace_id = span.context().span().span_context().trace_id();
        if trace_id != opentelemetry::trace::TraceId::INVALID {
            span.record("trace_id", tracing::field::display(trace_id));
        }
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The trace context carried by request headers (empty when there is none).
pub fn extract_context(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// The trace context of the current span, for the domain to carry into what leaves the
/// process (pub/sub events). `None` when the current span has no trace context.
pub fn current_trace_context() -> Option<TraceContext> {
    let context = Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier
        .remove("traceparent")
        .as_deref()
        .and_then(TraceContext::parse)
}

/// Makes `span` continue a trace received from elsewhere (a pub/sub event). Returns whether
/// OpenTelemetry accepted it as a valid parent.
pub fn continue_trace(span: &Span, trace: &TraceContext) -> bool {
    let carrier: HashMap<String, String> =
        HashMap::from([("traceparent".to_owned(), trace.as_str().to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    if !context.span().span_context().is_valid() {
        return false;
    }
    span.set_parent(context).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_span_no_trace_context() {
        assert!(current_trace_context().is_none(), "no span, no context");
    }

    #[test]
    fn a_remote_parent_is_continued() {
        init_silent();
        let span = tracing::info_span!("work");
        let parent = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("a trace context");
        assert!(continue_trace(&span, &parent));
        let _entered = span.enter();
        let tp = current_trace_context().expect("traceparent").to_string();
        assert!(
            tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{tp}"
        );
        assert!(!tp.contains("00f067aa0ba902b7"), "a child span id: {tp}");
    }
}
