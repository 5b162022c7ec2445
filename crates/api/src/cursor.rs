//! Page cursors: the keyset position `(message_date, id)` of the last row of a page, written as
//! `{message time in µs}.{id}`. Clients pass back what they were given; the format is exact
//! ([`PATTERN`]) so every well-formed cursor decodes and anything else is refused.

use chrono::{DateTime, Utc};
use domain::model::SignalId;
use domain::ports::{MessageCursor, SignalCursor};

/// What a cursor looks like (empty = none).
pub const PATTERN: &str = "^(-?[0-9]{1,16}\\.[0-9]{1,18})?$";

/// Encodes a signal-list position.
pub fn encode_signal(c: &SignalCursor) -> String {
    format!("{}.{}", c.message_date.timestamp_micros(), c.id.0)
}

/// Decodes a signal-list position; `None` for anything malformed.
pub fn decode_signal(token: &str) -> Option<SignalCursor> {
    let (at, id) = decode(token)?;
    Some(SignalCursor {
        message_date: at,
        id: SignalId(id),
    })
}

/// Encodes an archive position.
pub fn encode_message(c: &MessageCursor) -> String {
    format!("{}.{}", c.message_date.timestamp_micros(), c.id)
}

/// Decodes an archive position; `None` for anything malformed.
pub fn decode_message(token: &str) -> Option<MessageCursor> {
    let (message_date, id) = decode(token)?;
    Some(MessageCursor { message_date, id })
}

fn decode(token: &str) -> Option<(DateTime<Utc>, i64)> {
    let (micros, id) = token.split_once('.')?;
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    let unsigned = micros.strip_prefix('-').unwrap_or(micros);
    if !digits(unsigned, 16) || !digits(id, 18) {
        return None;
    }
    let at = DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?;
    Some((at, id.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let c = SignalCursor {
            message_date: DateTime::<Utc>::from_timestamp_micros(1_760_954_400_123_456)
                .expect("time"),
            id: SignalId(42),
        };
        let token = encode_signal(&c);
        assert_eq!(token, "1760954400123456.42");
        assert_eq!(decode_signal(&token), Some(c));
        let m = MessageCursor {
            message_date: c.message_date,
            id: 7,
        };
        assert_eq!(decode_message(&encode_message(&m)), Some(m));
        for garbage in [
            "",
            "garbage",
            "1.",
            ".1",
            "1.2.3",
            "+1.2",
            "1.-2",
            "99999999999999999.1",
            "1.9999999999999999999",
            "1 .2",
        ] {
            assert_eq!(decode_signal(garbage), None, "{garbage}");
        }
        assert!(
            decode_signal("-9999999999999999.0").is_some(),
            "every pattern match decodes"
        );
        assert!(decode_signal("9999999999999999.999999999999999999").is_some());
    }
}
