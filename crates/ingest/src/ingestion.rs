//! The ingest use case as a network service runs it: the domain's [`IngestService`] (which
//! retries a commit conflict once) plus the caller's trace context, the ingest metrics, and group
//! commit: single messages that arrive while a commit is running are committed together by the
//! next one, so one database commit (one fsync) acknowledges many gateway requests. Failures are
//! [`IngestError`]s; the HTTP layer (`crate::http`) turns them into problems.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use domain::model::TraceContext;
use domain::ports::StoreError;
use domain::services::{DeletionReport, Disposition, IngestReceipt, IngestReport, IngestService};
use domain::{ChannelId, Message, MessageId};
use service_kit::telemetry::{continue_trace, current_trace_context};
use tokio::sync::{Mutex, mpsc, oneshot};
use tracing::Instrument;
use tracing::field::Empty;

/// Messages ingested, by `outcome`.
pub const MESSAGES_TOTAL: &str = "tpcapital_ingest_messages_total";
/// Batch items refused as invalid (nothing stored for them).
pub const INVALID_TOTAL: &str = "tpcapital_ingest_invalid_messages_total";
/// New signals stored by this process (the database's count is `tpcapital_signals_total`).
pub const SIGNALS_CREATED: &str = "tpcapital_ingest_signals_created_total";
/// Unix time of the last committed ingest.
pub const LAST_SUCCESS: &str = "tpcapital_ingest_last_success_timestamp_seconds";
/// Events or cache invalidations that failed after a commit (Redis trouble).
pub const SIDE_EFFECT_FAILURES: &str = "tpcapital_ingest_side_effect_failures_total";
/// Store failures, by `kind` (`unavailable`, `conflict`, `internal`).
pub const STORE_ERRORS: &str = "tpcapital_ingest_store_errors_total";
/// Commits retried after a concurrent duplicate.
pub const RETRIES: &str = "tpcapital_ingest_retries_total";
/// Age (since its Telegram date) of each message stored, at its commit.
pub const MESSAGE_AGE: &str = "tpcapital_ingest_message_age_seconds";
/// Time from the start of a batch to its commit (and side effects).
pub const DURATION: &str = "tpcapital_ingest_batch_duration_seconds";
/// Signals cancelled by deletion notices.
pub const CANCELLED: &str = "tpcapital_ingest_cancelled_signals_total";

/// Why an ingest did not commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestError {
    /// The store refused the transaction or cannot be reached (a conflict was already retried
    /// once by the domain service).
    Store(StoreError),
    /// The process is stopping: the message was not taken.
    ShuttingDown,
    /// The service committed but answered no receipt for the message (a bug).
    NoReceipt,
}

impl std::fmt::Display for IngestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IngestError::Store(e) => e.fmt(f),
            IngestError::ShuttingDown => f.write_str("the ingest service is shutting down"),
            IngestError::NoReceipt => f.write_str("the service returned no receipt"),
        }
    }
}

impl std::error::Error for IngestError {}

/// Describes the ingest metrics and creates every labelled series at zero, so dashboards and
/// alerts see them before the first message.
pub fn register_metrics() {
    metrics::describe_counter!(MESSAGES_TOTAL, "Messages ingested, by outcome");
    metrics::describe_counter!(INVALID_TOTAL, "Batch items refused as invalid");
    metrics::describe_counter!(SIGNALS_CREATED, "New signals stored");
    metrics::describe_gauge!(LAST_SUCCESS, "Unix time of the last committed ingest");
    metrics::describe_counter!(
        SIDE_EFFECT_FAILURES,
        "Pub/sub events or cache invalidations that failed after commit"
    );
    metrics::describe_counter!(STORE_ERRORS, "Store failures during ingest, by kind");
    metrics::describe_counter!(RETRIES, "Ingest transactions retried after a conflict");
    metrics::describe_histogram!(DURATION, metrics::Unit::Seconds, "Ingest batch latency");
    metrics::describe_histogram!(
        MESSAGE_AGE,
        metrics::Unit::Seconds,
        "Age of each stored message at its commit, from its Telegram date"
    );
    metrics::describe_counter!(CANCELLED, "Signals cancelled by deletion notices");
    for outcome in Disposition::ALL {
        metrics::counter!(MESSAGES_TOTAL, "outcome" => outcome.as_str()).increment(0);
    }
    for kind in ["unavailable", "conflict", "internal"] {
        metrics::counter!(STORE_ERRORS, "kind" => kind).increment(0);
    }
    for name in [
        INVALID_TOTAL,
        SIGNALS_CREATED,
        SIDE_EFFECT_FAILURES,
        RETRIES,
        CANCELLED,
    ] {
        metrics::counter!(name).increment(0);
    }
}

/// Transactions committing single messages at the same time.
const COMMIT_WORKERS: usize = 4;
/// Most single messages committed together.
const MAX_GROUP: usize = 256;
/// Single messages waiting for a commit worker before senders wait too.
const QUEUE_CAPACITY: usize = 4096;

/// A single message waiting for a group commit.
#[derive(Debug)]
struct Queued {
    message: Message,
    received_at: DateTime<Utc>,
    trace: Option<TraceContext>,
    reply: oneshot::Sender<Result<IngestReceipt, IngestError>>,
}

/// The ingest entry point of the HTTP handlers.
#[derive(Debug, Clone)]
pub struct Ingestion {
    service: IngestService,
    singles: mpsc::Sender<Queued>,
}

impl Ingestion {
    /// Wraps the domain service and starts the group-commit workers (needs a Tokio runtime).
    pub fn new(service: IngestService) -> Self {
        let (singles, queue) = mpsc::channel(QUEUE_CAPACITY);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..COMMIT_WORKERS {
            tokio::spawn(group_commit_worker(service.clone(), queue.clone()));
        }
        Self { service, singles }
    }

    /// Ingests one message; it may share its transaction with other single messages arriving
    /// at the same time. `Ok` only after the commit.
    pub async fn ingest_one(&self, message: Message) -> Result<IngestReceipt, IngestError> {
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            message,
            received_at: self.service.receipts().stamp(),
            trace: current_trace_context(),
            reply,
        };
        self.singles
            .send(queued)
            .await
            .map_err(|_| IngestError::ShuttingDown)?;
        answer.await.map_err(|_| IngestError::ShuttingDown)?
    }

    /// Ingests `messages` in one transaction; `Ok` only after the commit. Each is stamped as
    /// received now, in order.
    pub async fn ingest(&self, messages: &[Message]) -> Result<IngestReport, IngestError> {
        let received = self.service.receipts().stamps(messages.len());
        commit(
            &self.service,
            messages,
            &received,
            current_trace_context().as_ref(),
        )
        .await
        .map_err(store_failed)
    }

    /// Ingests `messages` in one transaction for a caller that is not an HTTP request (the
    /// gateway pull consumer): the same retry and metrics, the store's error as is.
    pub async fn store(&self, messages: &[Message]) -> Result<IngestReport, StoreError> {
        let received = self.service.receipts().stamps(messages.len());
        commit(&self.service, messages, &received, None).await
    }

    /// Applies a deletion notice; `Ok` only after the commit.
    pub async fn delete(
        &self,
        channel_id: ChannelId,
        message_ids: &[MessageId],
    ) -> Result<DeletionReport, IngestError> {
        let trace = current_trace_context();
        let result = self
            .service
            .delete(channel_id, message_ids, trace.as_ref())
            .await;
        let report = retried(result.map(|r| (r.retries, r))).map_err(store_failed)?;
        metrics::counter!(CANCELLED).increment(report.cancelled.len() as u64);
        committed(report.side_effect_failures);
        Ok(report)
    }
}

/// Takes every single message waiting (up to [`MAX_GROUP`]) and commits them together. When a
/// group fails for another reason than an unreachable database, its messages are retried one by
/// one, so one message the store refuses cannot fail the others.
async fn group_commit_worker(service: IngestService, queue: Arc<Mutex<mpsc::Receiver<Queued>>>) {
    loop {
        let group = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match queue.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            group
        };
        let (received, group): (Vec<DateTime<Utc>>, Vec<_>) =
            group.into_iter().map(|q| (q.received_at, q)).unzip();
        let (messages, waiting): (Vec<Message>, Vec<_>) = group
            .into_iter()
            .map(|q| (q.message, (q.trace, q.reply)))
            .unzip();
        // One transaction, one trace: the first caller's trace context goes into the events.
        let trace = waiting.iter().find_map(|(t, _)| t.clone());
        match commit(&service, &messages, &received, trace.as_ref()).await {
            Ok(report) => {
                for ((_, reply), receipt) in waiting.into_iter().zip(report.receipts) {
                    let _ = reply.send(Ok(receipt));
                }
            }
            Err(e) if messages.len() == 1 || matches!(e, StoreError::Unavailable(_)) => {
                let error = store_failed(e);
                for (_, reply) in waiting {
                    let _ = reply.send(Err(error.clone()));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = messages.len(), "group commit failed; committing its messages one by one");
                for ((message, received_at), (trace, reply)) in
                    messages.iter().zip(&received).zip(waiting)
                {
                    let result = commit(
                        &service,
                        std::slice::from_ref(message),
                        std::slice::from_ref(received_at),
                        trace.as_ref(),
                    )
                    .await
                    .map_err(store_failed)
                    .and_then(|r| r.receipts.into_iter().next().ok_or(IngestError::NoReceipt));
                    let _ = reply.send(result);
                }
            }
        }
    }
}

/// [`commit_measured`] in an `ingest commit` span that continues the caller's trace; for one
/// message it names the channel, the message and the outcome (never the text).
async fn commit(
    service: &IngestService,
    messages: &[Message],
    received: &[DateTime<Utc>],
    trace: Option<&TraceContext>,
) -> Result<IngestReport, StoreError> {
    let span = tracing::info_span!(
        "ingest commit",
        messages = messages.len(),
        channel = Empty,
        message = Empty,
        outcome = Empty
    );
    if let [one] = messages {
        span.record("channel", one.channel_id.0);
        span.record("message", one.message_id.0);
    }
    if let Some(parent) = trace {
        continue_trace(&span, parent);
    }
    let result = commit_measured(service, messages, received, trace)
        .instrument(span.clone())
        .await;
    if let Ok(IngestReport { receipts, .. }) = &result
        && let [one] = receipts.as_slice()
    {
        span.record("outcome", one.outcome.as_str());
    }
    result
}

/// One ingest (the service retries a conflict once) and its metrics.
async fn commit_measured(
    service: &IngestService,
    messages: &[Message],
    received: &[DateTime<Utc>],
    trace: Option<&TraceContext>,
) -> Result<IngestReport, StoreError> {
    let started = Instant::now();
    let result = service.ingest_received(messages, received, trace).await;
    let report = retried(result.map(|r| (r.retries, r)))?;
    metrics::histogram!(DURATION).record(started.elapsed().as_secs_f64());
    let now = chrono::Utc::now();
    for (message, receipt) in messages.iter().zip(&report.receipts) {
        if receipt.stored {
            let age = (now - message.date).as_seconds_f64();
            metrics::histogram!(MESSAGE_AGE).record(age.max(0.0));
        }
    }
    for receipt in &report.receipts {
        metrics::counter!(MESSAGES_TOTAL, "outcome" => receipt.outcome.as_str()).increment(1);
    }
    metrics::counter!(SIGNALS_CREATED).increment(u64::from(report.stats.signals));
    committed(report.side_effect_failures);
    Ok(report)
}

/// Counts invalid batch items.
pub fn record_invalid(count: usize) {
    if count > 0 {
        metrics::counter!(INVALID_TOTAL).increment(count as u64);
    }
}

fn committed(side_effect_failures: u32) {
    if side_effect_failures > 0 {
        tracing::warn!(
            failures = side_effect_failures,
            "committed, but publishing events or invalidating the cache failed"
        );
        metrics::counter!(SIDE_EFFECT_FAILURES).increment(u64::from(side_effect_failures));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics::gauge!(LAST_SUCCESS).set(now);
}

/// Counts the retries the service made: the ones a report says, and the one behind a
/// conflict that persisted.
fn retried<T>(result: Result<(u32, T), StoreError>) -> Result<T, StoreError> {
    let retries = match &result {
        Ok((retries, _)) => *retries,
        Err(StoreError::Conflict(_)) => 1,
        Err(_) => 0,
    };
    if retries > 0 {
        metrics::counter!(RETRIES).increment(u64::from(retries));
    }
    result.map(|(_, value)| value)
}

/// Counts a store failure answered to a caller, by kind.
fn store_failed(e: StoreError) -> IngestError {
    let kind = match &e {
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Conflict(_) => "conflict",
        StoreError::Internal(_) | StoreError::NotFound => "internal",
    };
    metrics::counter!(STORE_ERRORS, "kind" => kind).increment(1);
    if let StoreError::Conflict(why) = &e {
        tracing::warn!(error = %why, "commit conflict persisted after a retry");
    }
    IngestError::Store(e)
}
