//! Stale-if-error: the last good answer of every cached read, kept in process, is served with
//! `Age` and `Warning` when the database is down and the cache holds no current entry, instead
//! of a 503. Bounded in entries' total size; the age counts from when this process last saw the
//! answer (at most the cache TTL younger than its load).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use domain::services::CacheResult;
use hashlink::LinkedHashMap;

use super::CACHE_REQUESTS_TOTAL;

/// Oldest answer served while the database is down.
pub const STALE_IF_ERROR: Duration = Duration::from_secs(3600);
/// Most bytes of last good answers kept.
const MAX_BYTES: usize = 64 * 1024 * 1024;

/// The last good answer per cache key, oldest first, within a byte budget.
#[derive(Debug)]
pub struct LastGood {
    held: Mutex<Held>,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct Held {
    /// Ordered by when each answer was last remembered: evicting the front drops the oldest.
    entries: LinkedHashMap<String, (Bytes, Instant)>,
    bytes: usize,
}

impl Default for LastGood {
    fn default() -> Self {
        Self::with_budget(MAX_BYTES)
    }
}

impl LastGood {
    /// Keeps at most `max_bytes` of answers.
    pub fn with_budget(max_bytes: usize) -> Self {
        Self {
            held: Mutex::default(),
            max_bytes,
        }
    }

    /// Keeps `body` as the last good answer of `key`; `reloaded` says it comes from the
    /// database now (else from the cache: kept only when nothing is). Constant time: a miss
    /// per request must not cost a walk over every kept answer.
    pub fn remember(&self, key: &str, body: &Bytes, reloaded: bool) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if (!reloaded && held.entries.contains_key(key)) || body.len() > self.max_bytes {
            return;
        }
        if let Some((old, _)) = held.entries.remove(key) {
            held.bytes -= old.len();
        }
        while held.bytes + body.len() > self.max_bytes {
            let Some((_, (oldest, _))) = held.entries.pop_front() else {
                break;
            };
            held.bytes -= oldest.len();
        }
        held.entries
            .insert(key.to_owned(), (body.clone(), Instant::now()));
        held.bytes += body.len();
    }

    /// The last good answer of `key` and its age, when younger than `max_age`.
    pub fn recall(&self, key: &str, max_age: Duration) -> Option<(Bytes, Duration)> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let (body, at) = held.entries.get(key)?;
        let age = at.elapsed();
        (age <= max_age).then(|| (body.clone(), age))
    }
}

/// How a cached read was answered.
#[derive(Debug, Clone)]
pub struct Served {
    /// The JSON body, [`pack`](service_kit::compress::pack)ed with its compressed forms.
    pub body: Bytes,
    /// Where it came from.
    pub result: CacheResult,
    /// `Some(age)` when it is a last good answer served because the database is down.
    pub stale_for: Option<Duration>,
}

impl Served {
    /// The 200 response (`X-Cache`, and `Age` + `Warning` when stale), counted for `endpoint`.
    pub fn respond(self, endpoint: &'static str) -> HttpResponse {
        let label = match self.stale_for {
            Some(_) => "stale",
            None => self.result.as_str(),
        };
        metrics::counter!(CACHE_REQUESTS_TOTAL, "result" => label, "endpoint" => endpoint)
            .increment(1);
        let mut res = HttpResponse::Ok();
        res.insert_header((header::CONTENT_TYPE, "application/json"));
        res.insert_header(("X-Cache", HeaderValue::from_static(label)));
        if let Some(age) = self.stale_for {
            res.insert_header((header::AGE, age.as_secs().to_string()));
            res.insert_header((header::WARNING, "111 - \"Revalidation Failed\""));
        }
        let mut res = res.body(self.body);
        service_kit::compress::mark_packed(&mut res);
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_good_answer_is_recalled_until_too_old() {
        let last = LastGood::default();
        assert!(last.recall("k", STALE_IF_ERROR).is_none());
        last.remember("k", &Bytes::from_static(b"v1"), true);
        last.remember("k", &Bytes::from_static(b"hit"), false);
        let (body, age) = last.recall("k", STALE_IF_ERROR).expect("kept");
        assert_eq!(&body[..], b"v1", "a cache hit does not replace a reload");
        assert!(age < Duration::from_secs(5));
        last.remember("k", &Bytes::from_static(b"v2"), true);
        assert_eq!(
            &last.recall("k", STALE_IF_ERROR).expect("kept").0[..],
            b"v2"
        );
    }

    #[test]
    fn over_budget_the_answers_remembered_longest_ago_go_first() {
        let last = LastGood::with_budget(10);
        let four = Bytes::from_static(b"1234");
        last.remember("a", &four, true);
        last.remember("b", &four, true);
        last.remember("a", &four, true); // `a` is now the younger of the two
        last.remember("c", &four, true);
        let kept = |k| last.recall(k, STALE_IF_ERROR).is_some();
        assert_eq!((kept("a"), kept("b"), kept("c")), (true, false, true));
        last.remember("big", &Bytes::from_static(b"12345678901"), true);
        assert!(!kept("big"), "an answer over the whole budget is not kept");
        assert!(kept("a") && kept("c"), "and evicts nothing");
        last.remember("d", &Bytes::from_static(b"123456789"), true);
        assert_eq!((kept("a"), kept("c"), kept("d")), (false, false, true));
    }
}
