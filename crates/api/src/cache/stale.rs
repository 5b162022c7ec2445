//! Stale-if-error: the last good answer of every cached read, kept in process, is served with
//! `Age` and `Warning` when the database is down and the cache holds no current entry, instead
//! of a 503. Bounded in entries' total size; the age counts from when this process last saw the
//! answer (at most the cache TTL younger than its load).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use domain::services::CacheResult;

use super::CACHE_REQUESTS_TOTAL;

/// Oldest answer served while the database is down.
pub const STALE_IF_ERROR: Duration = Duration::from_secs(3600);
/// Most bytes of last good answers kept.
const MAX_BYTES: usize = 64 * 1024 * 1024;

/// The last good answer per cache key.
#[derive(Debug, Default)]
pub struct LastGood {
    entries: Mutex<HashMap<String, (Bytes, Instant)>>,
}

impl LastGood {
    /// Keeps `body` as the last good answer of `key`; `reloaded` says it comes from the
    /// database now (else from the cache: kept only when nothing is).
    pub fn remember(&self, key: &str, body: &Bytes, reloaded: bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if !reloaded && entries.contains_key(key) {
            return;
        }
        let held: usize = entries.values().map(|(b, _)| b.len()).sum();
        if held + body.len() > MAX_BYTES {
            // Make room by dropping the oldest answers.
            let mut by_age: Vec<(Instant, String)> = entries
                .iter()
                .map(|(k, (_, at))| (*at, k.clone()))
                .collect();
            by_age.sort();
            let mut freed = 0;
            for (_, old) in by_age {
                if held + body.len() - freed <= MAX_BYTES {
                    break;
                }
                if let Some((b, _)) = entries.remove(&old) {
                    freed += b.len();
                }
            }
        }
        if body.len() <= MAX_BYTES {
            entries.insert(key.to_owned(), (body.clone(), Instant::now()));
        }
    }

    /// The last good answer of `key` and its age, when younger than `max_age`.
    pub fn recall(&self, key: &str, max_age: Duration) -> Option<(Bytes, Duration)> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (body, at) = entries.get(key)?;
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
}
