//! How large one message may be: Telegram's own limits (4,096 characters of text, 1,024 of
//! caption) by default, the same for `/ingest`, every `/ingest/batch` item and a pulled row, so
//! one oversized message cannot bloat every page of its channel. Set once at startup from the
//! configuration (the wire conversion has no other way to reach it); unset, the defaults hold.

use std::sync::OnceLock;

/// The largest text and caption accepted, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLimits {
    /// Characters of `text`.
    pub max_text_chars: usize,
    /// Characters of `caption`.
    pub max_caption_chars: usize,
}

impl Default for MessageLimits {
    fn default() -> Self {
        Self {
            max_text_chars: 4_096,
            max_caption_chars: 1_024,
        }
    }
}

static LIMITS: OnceLock<MessageLimits> = OnceLock::new();

impl MessageLimits {
    /// Makes `self` the process's limits; the first call wins (the service calls it once).
    pub fn install(self) {
        let _ = LIMITS.set(self);
    }

    /// The installed limits, else the defaults.
    pub fn current() -> MessageLimits {
        LIMITS.get().copied().unwrap_or_default()
    }

    /// `Err(detail)` when `value` of `field` is longer than `max` characters.
    pub fn check(field: &str, value: Option<&str>, max: usize) -> Result<(), String> {
        match value {
            Some(v) if v.len() > max && v.chars().count() > max => Err(format!(
                "{field} has {} characters, more than the {max} accepted",
                v.chars().count()
            )),
            _ => Ok(()),
        }
    }
}
