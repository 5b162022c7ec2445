//! The circuit breaker in front of the gateway, visible as the old consumer's was not: a gauge
//! (`tpcapital_gateway_breaker_state`), a log line on every transition, and a reason that
//! `/health` shows (degraded) while it is not closed. It opens after a run of consecutive failed
//! polls, lets one probe through after a pause (half-open), and closes on the first success.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Gauge: 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "tpcapital_gateway_breaker_state";

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Polling normally.
    Closed,
    /// One probe allowed; its outcome decides.
    HalfOpen,
    /// Not polling until the pause is over.
    Open,
}

impl BreakerState {
    /// The machine name.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Open => "open",
        }
    }

    fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    failures: u32,
    opened_at: Option<Instant>,
    since: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

/// A circuit breaker shared by the runner (which records outcomes) and `/health` (which reads
/// it).
#[derive(Debug, Clone)]
pub struct Breaker {
    inner: Arc<Mutex<Inner>>,
    threshold: u32,
    pause: Duration,
}

impl Breaker {
    /// Opens after `threshold` consecutive failures, probes again after `pause`.
    pub fn new(threshold: u32, pause: Duration) -> Self {
        metrics::describe_gauge!(
            BREAKER_STATE,
            "Gateway circuit breaker: 0 closed, 1 half-open, 2 open"
        );
        metrics::gauge!(BREAKER_STATE).set(0.0);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                state: BreakerState::Closed,
                failures: 0,
                opened_at: None,
                since: None,
                last_error: None,
            })),
            threshold: threshold.max(1),
            pause,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.lock().state
    }

    /// `None` while closed; otherwise why it is open, for `/health`.
    pub fn reason(&self) -> Option<String> {
        let inner = self.lock();
        if inner.state == BreakerState::Closed {
            return None;
        }
        let since = inner
            .since
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        Some(format!(
            "gateway circuit breaker {} since {since} after {} consecutive failed polls (last: {}); retrying every {} s",
            inner.state.as_str(),
            inner.failures,
            inner.last_error.as_deref().unwrap_or("unknown"),
            self.pause.as_secs()
        ))
    }

    /// Whether a poll may go out now; `Err(wait)` says how long until the next probe. Moves an
    /// open breaker whose pause is over to half-open.
    pub fn permit(&self) -> Result<(), Duration> {
        let mut inner = self.lock();
        match inner.state {
            BreakerState::Closed | BreakerState::HalfOpen => Ok(()),
            BreakerState::Open => {
                let elapsed = inner.opened_at.map_or(self.pause, |t| t.elapsed());
                if elapsed >= self.pause {
                    transition(&mut inner, BreakerState::HalfOpen);
                    Ok(())
                } else {
                    Err(self.pause - elapsed)
                }
            }
        }
    }

    /// A poll reached the gateway.
    pub fn success(&self) {
        let mut inner = self.lock();
        inner.failures = 0;
        inner.last_error = None;
        if inner.state != BreakerState::Closed {
            transition(&mut inner, BreakerState::Closed);
            inner.opened_at = None;
            inner.since = None;
        }
    }

    /// A poll failed because of the gateway (`kind` is the error's kind).
    pub fn failure(&self, kind: &str) {
        let mut inner = self.lock();
        inner.failures = inner.failures.saturating_add(1);
        inner.last_error = Some(kind.to_owned());
        let open = match inner.state {
            BreakerState::Closed => inner.failures >= self.threshold,
            BreakerState::HalfOpen => true,
            BreakerState::Open => false,
        };
        if open {
            transition(&mut inner, BreakerState::Open);
            inner.opened_at = Some(Instant::now());
            if inner.since.is_none() {
                inner.since = Some(Utc::now());
            }
        }
    }
}

fn transition(inner: &mut Inner, to: BreakerState) {
    let from = inner.state;
    inner.state = to;
    metrics::gauge!(BREAKER_STATE).set(to.gauge());
    let last = inner.last_error.as_deref().unwrap_or("-");
    match to {
        BreakerState::Open => tracing::warn!(
            from = from.as_str(),
            to = to.as_str(),
            failures = inner.failures,
            last_error = last,
            "gateway circuit breaker open: polling paused, messages wait in the gateway"
        ),
        BreakerState::HalfOpen => tracing::info!(
            from = from.as_str(),
            to = to.as_str(),
            "gateway circuit breaker half-open: probing the gateway"
        ),
        BreakerState::Closed => tracing::info!(
            from = from.as_str(),
            to = to.as_str(),
            "gateway circuit breaker closed: polling again"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_probes_after_the_pause_and_closes_on_success() {
        let b = Breaker::new(3, Duration::from_millis(30));
        b.failure("unavailable");
        b.failure("unavailable");
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.reason().is_none());
        b.failure("unavailable");
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.permit().is_err());
        assert!(b.reason().unwrap_or_default().contains("open"));
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.permit().is_ok());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.failure("unavailable");
        assert_eq!(b.state(), BreakerState::Open, "a failed probe opens again");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.permit().is_ok());
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.reason().is_none());
    }
}
