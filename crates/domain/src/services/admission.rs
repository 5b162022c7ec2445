//! Which answers are worth a cache write: an answer is cached from its key's second miss (a
//! "doorkeeper", as in TinyLFU, or nginx's `proxy_cache_min_uses 2`). A one-off query (a moving
//! time bound, a filter nobody repeats) then costs no cache write and no replication, while a
//! key read again is cached from its second read on, and at its first miss after each
//! invalidation for as long as it is remembered.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

/// Keys remembered per half of the doorkeeper (two halves: at most ~2.5 MB of hashes).
pub const ADMISSION_KEYS: usize = 65_536;

/// The keys that missed recently, by hash, in two halves: when the current half is full it
/// becomes the previous one and the oldest half is forgotten, so memory stays bounded however
/// many one-off keys arrive.
#[derive(Debug)]
pub struct Admission {
    halves: Mutex<Halves>,
    hasher: RandomState,
    per_half: usize,
}

#[derive(Debug, Default)]
struct Halves {
    current: HashSet<u64>,
    previous: HashSet<u64>,
}

impl Default for Admission {
    fn default() -> Self {
        Self::new(ADMISSION_KEYS)
    }
}

impl Admission {
    /// A doorkeeper remembering up to `per_half` keys per half (at least one).
    pub fn new(per_half: usize) -> Self {
        Self {
            halves: Mutex::default(),
            hasher: RandomState::new(),
            per_half: per_half.max(1),
        }
    }

    /// Whether the answer to `key`, which just missed, should be cached: yes when `key` missed
    /// before and is still remembered; otherwise `key` is remembered and the answer is not cached.
    pub fn admit(&self, key: &str) -> bool {
        let hash = self.hasher.hash_one(key);
        let mut halves = self.halves.lock().unwrap_or_else(|p| p.into_inner());
        if halves.current.contains(&hash) {
            return true;
        }
        let seen = halves.previous.contains(&hash);
        if halves.current.len() >= self.per_half {
            halves.previous = std::mem::take(&mut halves.current);
        }
        halves.current.insert(hash);
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_admitted_from_its_second_miss() {
        let admission = Admission::new(8);
        assert!(!admission.admit("a"), "first miss: not cached");
        assert!(admission.admit("a"), "second miss: cached");
        assert!(admission.admit("a"), "and after");
        assert!(!admission.admit("b"), "another key starts over");
    }

    #[test]
    fn keys_are_forgotten_two_halves_later_and_a_remembered_key_is_kept() {
        let admission = Admission::new(2);
        admission.admit("kept");
        admission.admit("old");
        for key in ["x1", "x2"] {
            assert!(!admission.admit(key));
        }
        assert!(
            admission.admit("kept"),
            "in the previous half: still remembered"
        );
        for key in ["y1", "y2", "y3"] {
            assert!(!admission.admit(key));
        }
        assert!(admission.admit("kept"), "renewed when it was admitted");
        assert!(!admission.admit("old"), "two halves later: forgotten");
        let halves = admission.halves.lock().expect("lock");
        assert!(halves.current.len() <= 2 && halves.previous.len() <= 2);
    }
}
