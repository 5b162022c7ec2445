//! NUL characters, handled once: PostgreSQL text and JSONB cannot hold U+0000, so it becomes
//! U+FFFD — a message carrying one is archived (recognisably) instead of failing its
//! transaction on every retry. The gateway's payload is cleaned when it becomes a [`Message`];
//! the PostgreSQL adapter applies the same functions to everything it writes.

use std::borrow::Cow;

use serde_json::Value;

use super::Message;

/// `s` with every NUL replaced by U+FFFD (borrowed when it has none).
pub fn without_nul(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// `v` with every NUL in its strings and keys replaced by U+FFFD (borrowed when it has none).
pub fn json_without_nul(v: &Value) -> Cow<'_, Value> {
    fn has_nul(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(a) => a.iter().any(has_nul),
            Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    fn scrub(v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(without_nul(s).into_owned()),
            Value::Array(a) => a.iter().map(scrub).collect(),
            Value::Object(o) => o
                .iter()
                .map(|(k, v)| (without_nul(k).into_owned(), scrub(v)))
                .collect(),
            other => other.clone(),
        }
    }
    if has_nul(v) {
        Cow::Owned(scrub(v))
    } else {
        Cow::Borrowed(v)
    }
}

impl Message {
    /// This message with no NUL in its text, media type, source or metadata.
    pub fn without_nul(mut self) -> Self {
        fn fix(s: &mut String) {
            if let Cow::Owned(clean) = without_nul(s) {
                *s = clean;
            }
        }
        fix(&mut self.text);
        if let Some(media) = &mut self.media_type {
            fix(media);
        }
        if let Some(source) = &mut self.source {
            fix(source);
        }
        if let Cow::Owned(clean) = json_without_nul(&self.metadata) {
            self.metadata = clean;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nul_becomes_the_replacement_character_everywhere() {
        assert!(matches!(without_nul("Bom dia"), Cow::Borrowed(_)));
        assert_eq!(without_nul("a\0b"), "a\u{FFFD}b");
        let v = json!({"k\u{0}": ["v\u{0}", 1], "ok": "fine"});
        assert_eq!(
            json_without_nul(&v).into_owned(),
            json!({"k\u{FFFD}": ["v\u{FFFD}", 1], "ok": "fine"})
        );
        assert!(matches!(
            json_without_nul(&json!({"a": "b"})),
            Cow::Borrowed(_)
        ));
    }
}
