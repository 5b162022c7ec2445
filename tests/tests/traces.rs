//! OTLP export end to end: an OTLP/gRPC receiver (the collector's `TraceService`, from the
//! `opentelemetry-proto` types) runs in the test; an ingest and an api of the test stack export to
//! it. A message posted with the gateway's W3C `traceparent` and delivered on the api's live
//! stream is one trace: gateway → ingest request → commit → parse, database writes, Redis
//! publish, and the api's delivery — with the right parents, and no message text in attributes.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use test_support::api_client::*;
use tokio::process::{Child, Command};

/// One received span and the service that sent it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    span: Span,
}

impl Received {
    fn attr(&self, key: &str) -> Option<String> {
        self.span
            .attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.as_ref()?.value.as_ref())
            .map(|v| match v {
                AnyValue::StringValue(s) => s.clone(),
                AnyValue::IntValue(i) => i.to_string(),
                other => format!("{other:?}"),
            })
    }
}

#[derive(Debug, Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().expect("collector lock");
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                    AnyValue::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push(Received {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn start_collector() -> (Collector, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let collector = Collector::default();
    let service = TraceServiceServer::new(collector.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .expect("OTLP receiver");
    });
    (collector, port)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A service of the stack's own binaries, on its own port, exporting to `otlp_port`.
async fn spawn(binary: &str, args: &[&str], bind_var: &str, otlp_port: u16) -> (Child, String) {
    let port = free_port();
    let child = Command::new(e2e::binary(binary))
        .args(args)
        .env(bind_var, format!("127.0.0.1:{port}"))
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{otlp_port}"),
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .env("TP_CAPITAL_MAINTENANCE_INTERVAL_SECS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{url}/health/live")).await.is_err() {
        assert!(Instant::now() < deadline, "{binary} did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (child, url)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Posts a call in `channel` to the ingest and reads the api's stream until its event arrives.
/// Untraced (warm-up) posts are repeated every 3 s with a new message id until one comes back.
async fn deliver(
    s: &Stack,
    ingest_url: &str,
    stream: &mut reqwest::Response,
    seen: &mut String,
    channel: i64,
    traceparent: Option<&str>,
) {
    let needle = format!("\"channel_id\":{channel}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut message_id = 0;
    let mut next_post = Instant::now();
    while !seen.contains(&needle) {
        assert!(
            Instant::now() < deadline,
            "no live event for {channel}: {seen}"
        );
        if Instant::now() >= next_post && (traceparent.is_none() || message_id == 0) {
            message_id += 1;
            let mut req = s
                .http
                .post(format!("{ingest_url}/ingest"))
                .header("X-Gateway-Token", &s.token)
                .json(&serde_json::json!({
                    "channelId": channel.to_string(), "messageId": message_id, "text": BOVAW32,
                    "timestamp": chrono::Utc::now().to_rfc3339(),
                }));
            if let Some(parent) = traceparent {
                req = req.header("traceparent", parent);
            }
            assert_eq!(req.send().await.expect("ingest").status(), 200);
            next_post = Instant::now() + Duration::from_secs(3);
        }
        match tokio::time::timeout(Duration::from_secs(3), stream.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(other) => panic!("stream stopped: {other:?}; got {seen}"),
            Err(_) => {}
        }
    }
}

#[tokio::test]
async fn one_message_is_one_trace_from_the_gateway_to_the_live_stream() {
    let Some(s) = stack() else { return };
    let (collector, otlp) = start_collector().await;
    let (_ingest, ingest_url) = spawn(
        "tp-capital-ingest",
        &["serve"],
        "TP_CAPITAL_INGEST_BIND",
        otlp,
    )
    .await;
    let (_api, api_url) = spawn("tp-capital-api", &[], "TP_CAPITAL_API_BIND", otlp).await;

    let mut stream = s
        .http
        .get(format!("{api_url}/signals/stream"))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("stream");
    // The api subscribes to Redis in the background once it serves: a warm-up message whose
    // event comes back proves the subscription is live before the traced message is sent.
    let mut seen = String::new();
    let warm = unique_channel();
    deliver(&s, &ingest_url, &mut stream, &mut seen, warm, None).await;
    // A trace id of this run only: other tests' events on the shared Redis channel reach this
    // api too.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(1);
    let trace = format!("{:024x}{:08x}", nanos, std::process::id());
    let trace = trace.as_str();
    let gateway_span = "00f067aa0ba902b7";
    let ch = unique_channel();
    let traceparent = format!("00-{trace}-{gateway_span}-01");
    deliver(
        &s,
        &ingest_url,
        &mut stream,
        &mut seen,
        ch,
        Some(&traceparent),
    )
    .await;

    // Spans of this trace, by name, once both services have exported theirs.
    let wanted = [
        "POST /ingest",
        "ingest commit",
        "parse",
        "db",
        "redis publish",
        "signal event",
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    let spans: Vec<Received> = loop {
        let spans: Vec<Received> = collector
            .spans
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| hex(&r.span.trace_id) == trace)
            .cloned()
            .collect();
        let named = |n: &str| spans.iter().any(|r| r.span.name == n);
        if wanted.iter().all(|n| named(n)) {
            break spans;
        }
        let names: Vec<&str> = spans.iter().map(|r| r.span.name.as_str()).collect();
        assert!(
            Instant::now() < deadline,
            "spans of the trace so far: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let by_name: HashMap<&str, &Received> =
        spans.iter().map(|r| (r.span.name.as_str(), r)).collect();
    let id = |n: &str| hex(&by_name[n].span.span_id);
    let parent = |n: &str| hex(&by_name[n].span.parent_span_id);

    let request = by_name["POST /ingest"];
    assert_eq!(request.service, "tp-capital-ingest");
    assert_eq!(
        parent("POST /ingest"),
        gateway_span,
        "the gateway's span is the parent"
    );
    assert_eq!(parent("ingest commit"), id("POST /ingest"));
    assert_eq!(parent("parse"), id("ingest commit"));
    assert_eq!(parent("redis publish"), id("ingest commit"));
    let db = |service: &str| -> Vec<&Received> {
        spans
            .iter()
            .filter(|r| r.span.name == "db" && r.service == service)
            .collect()
    };
    let writes = db("tp-capital-ingest");
    assert!(
        writes
            .iter()
            .all(|r| hex(&r.span.parent_span_id) == id("ingest commit")),
        "every database operation of the commit is its child"
    );
    let reads = db("tp-capital-api");
    assert!(
        !reads.is_empty()
            && reads
                .iter()
                .all(|r| hex(&r.span.parent_span_id) == id("signal event")),
        "the api reads the changed signal inside its delivery"
    );
    assert!(
        writes
            .iter()
            .any(|r| r.attr("db.operation").as_deref() == Some("commit")),
        "{:?}",
        writes
            .iter()
            .map(|r| r.attr("db.operation"))
            .collect::<Vec<_>>()
    );
    let delivery = by_name["signal event"];
    assert_eq!(delivery.service, "tp-capital-api");
    assert_eq!(
        parent("signal event"),
        id("POST /ingest"),
        "the api continues the ingest's trace"
    );
    assert_eq!(delivery.attr("channel"), Some(ch.to_string()));

    let commit = by_name["ingest commit"];
    assert_eq!(commit.attr("channel"), Some(ch.to_string()));
    assert_eq!(commit.attr("message").as_deref(), Some("1"));
    assert_eq!(commit.attr("outcome").as_deref(), Some("signal"));
    for r in &spans {
        for a in &r.span.attributes {
            let value = format!("{:?}", a.value);
            assert!(
                !value.contains("Compra") && !value.contains(&s.token) && !value.contains(&s.key),
                "{} carries message text or a secret in {}: {value}",
                r.span.name,
                a.key
            );
        }
    }
    let tree: Vec<String> = spans
        .iter()
        .map(|r| {
            format!(
                "{} {} span={} parent={}",
                r.service,
                r.span.name,
                hex(&r.span.span_id),
                hex(&r.span.parent_span_id)
            )
        })
        .collect();
    eprintln!("trace {trace}:\n{}", tree.join("\n"));
}
