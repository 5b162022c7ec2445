//! Legacy `channel` values to channel ids: a numeric id as is, a title through
//! `telegram_channels`, the placeholder for an unknown channel to one explicit id, anything else
//! to a stable synthetic id.

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::parse_integer;

/// Synthetic channel ids live in `[-5·10^18, -4·10^18)`, far from Telegram's `-100…` ids.
const SYNTHETIC_CHANNEL_BASE: i64 = 4_000_000_000_000_000_000;
const SYNTHETIC_CHANNEL_SPAN: u64 = 1_000_000_000_000_000_000;

/// The channel of legacy rows whose channel was unknown to the legacy system (its placeholder
/// title "Desconhecido"): one explicit id, outside the synthetic range and Telegram's ids.
pub const UNKNOWN_CHANNEL_ID: i64 = -3_000_000_000_000_000_000;
/// Its label in `signals.channels`.
pub const UNKNOWN_CHANNEL_LABEL: &str = "Canal desconhecido (legado)";
/// The legacy placeholder titles (compared trimmed, ignoring case).
const UNKNOWN_PLACEHOLDERS: [&str; 1] = ["desconhecido"];

/// How a legacy `channel` value was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelHow {
    /// The value is a numeric Telegram id.
    NumericId,
    /// The value is the label of exactly one row of `telegram_channels`.
    Label,
    /// No id could be found: a stable synthetic id derived from the name.
    Synthetic,
    /// The value is the label of several channels: synthetic id, reported.
    AmbiguousLabel,
    /// The legacy placeholder for an unknown channel: [`UNKNOWN_CHANNEL_ID`].
    Unknown,
}

/// One resolved legacy channel value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelResolution {
    /// The legacy value (trimmed).
    pub legacy: String,
    /// The id used in the new schema.
    pub channel_id: i64,
    /// The label recorded in `signals.channels` when the channel is new there.
    pub label: Option<String>,
    /// How it was found.
    pub how: ChannelHow,
}

/// One row of `telegram_channels` (only these columns are ever read: no tokens).
#[derive(Debug, Clone)]
pub struct TelegramChannel {
    /// `btrim(channel_id::text)`.
    pub channel_id: Option<String>,
    /// `label`.
    pub label: Option<String>,
}

/// Resolves every distinct legacy channel value: a numeric id as is; a label through
/// `telegram_channels` (case-insensitive, trimmed); otherwise a synthetic id.
pub fn resolve_channels(
    values: &[String],
    telegram: &[TelegramChannel],
) -> HashMap<String, ChannelResolution> {
    let mut labels_by_id: HashMap<i64, String> = HashMap::new();
    let mut ids_by_label: HashMap<String, Vec<i64>> = HashMap::new();
    for t in telegram {
        let Some(id) = t.channel_id.as_deref().and_then(parse_integer) else {
            continue;
        };
        if let Some(label) = t.label.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            labels_by_id.entry(id).or_insert_with(|| label.to_owned());
            let ids = ids_by_label.entry(label.to_lowercase()).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    let mut out = HashMap::new();
    for value in values {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            continue;
        }
        let resolution = if UNKNOWN_PLACEHOLDERS.contains(&trimmed.to_lowercase().as_str()) {
            ChannelResolution {
                legacy: trimmed.to_owned(),
                channel_id: UNKNOWN_CHANNEL_ID,
                label: Some(UNKNOWN_CHANNEL_LABEL.to_owned()),
                how: ChannelHow::Unknown,
            }
        } else if let Some(id) = parse_integer(trimmed) {
            ChannelResolution {
                legacy: trimmed.to_owned(),
                channel_id: id,
                label: labels_by_id.get(&id).cloned(),
                how: ChannelHow::NumericId,
            }
        } else {
            match ids_by_label.get(&trimmed.to_lowercase()).map(Vec::as_slice) {
                Some([id]) => ChannelResolution {
                    legacy: trimmed.to_owned(),
                    channel_id: *id,
                    label: labels_by_id.get(id).cloned(),
                    how: ChannelHow::Label,
                },
                Some([_, _, ..]) => ChannelResolution {
                    legacy: trimmed.to_owned(),
                    channel_id: synthetic_channel_id(trimmed),
                    label: Some(trimmed.to_owned()),
                    how: ChannelHow::AmbiguousLabel,
                },
                _ => ChannelResolution {
                    legacy: trimmed.to_owned(),
                    channel_id: synthetic_channel_id(trimmed),
                    label: Some(trimmed.to_owned()),
                    how: ChannelHow::Synthetic,
                },
            }
        };
        out.insert(value.clone(), resolution);
    }
    out
}

/// A stable negative id for a channel known only by name: the same name (ignoring case and
/// surrounding blanks) gives the same id on every run and every machine.
pub fn synthetic_channel_id(name: &str) -> i64 {
    let digest = Sha256::digest(name.trim().to_lowercase().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let offset = (u64::from_be_bytes(first) % SYNTHETIC_CHANNEL_SPAN) as i64;
    -(SYNTHETIC_CHANNEL_BASE + offset)
}
