//! The trace context a change carries from the request that caused it to the events it
//! publishes, so the subscriber's work joins the same trace. The domain only carries it;
//! `service-kit`'s telemetry makes it from the current span and continues it.

use serde::{Deserialize, Deserializer, Serialize};

/// A W3C trace context (`traceparent`: `version-traceid-parentid-flags`, lowercase hex), opaque
/// to the domain. Only a well-formed value can be built, so a subscriber never continues garbage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TraceContext(String);

impl TraceContext {
    /// `value` when it is a well-formed version-00 `traceparent` (2-32-16-2 lowercase hex digits,
    /// a non-zero trace id and parent id), else `None`.
    pub fn parse(value: &str) -> Option<Self> {
        let hex = |s: &str, len: usize| {
            s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        let non_zero = |s: &str| s.bytes().any(|b| b != b'0');
        let mut fields = value.split('-');
        let (Some(version), Some(trace), Some(parent), Some(flags), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return None;
        };
        let well_formed = hex(version, 2)
            && version != "ff"
            && hex(trace, 32)
            && non_zero(trace)
            && hex(parent, 16)
            && non_zero(parent)
            && hex(flags, 2);
        well_formed.then(|| Self(value.to_owned()))
    }

    /// The `traceparent` value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads an optional trace context leniently: a malformed one is dropped (`None`) rather
    /// than failing what carries it (an event from the broker is worth more than its trace).
    pub fn deserialize_lenient<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Self>, D::Error> {
        let raw = Option::<String>::deserialize(deserializer)?;
        Ok(raw.as_deref().and_then(Self::parse))
    }
}

impl std::fmt::Display for TraceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn only_a_well_formed_traceparent_is_a_trace_context() {
        assert_eq!(
            TraceContext::parse(VALID).map(|t| t.to_string()),
            Some(VALID.into())
        );
        for bad in [
            "",
            "garbage",
            "00-abc-def-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn it_travels_as_the_plain_string_and_a_bad_one_is_dropped() {
        #[derive(Deserialize)]
        struct Carrier {
            #[serde(default, deserialize_with = "TraceContext::deserialize_lenient")]
            trace: Option<TraceContext>,
        }
        let read = |json: &str| serde_json::from_str::<Carrier>(json).expect("json").trace;
        assert_eq!(
            read(&format!(r#"{{"trace":"{VALID}"}}"#)),
            TraceContext::parse(VALID)
        );
        assert_eq!(read(r#"{"trace":"garbage"}"#), None);
        assert_eq!(read(r#"{"trace":null}"#), None);
        assert_eq!(read("{}"), None);
        let written = serde_json::to_string(&TraceContext::parse(VALID)).expect("json");
        assert_eq!(written, format!("\"{VALID}\""));
    }
}
