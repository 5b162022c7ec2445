//! The generation bump as a Lua script: atomic, and never reusing an old number even when the
//! counter was lost.

use std::time::{SystemTime, UNIX_EPOCH};

use fred::prelude::{ClientLike, Error, Value};
use fred::types::{ClusterHash, CustomCommand};

/// Moves every generation in `KEYS` on, returning the new value of `KEYS[1]`: the new value is
/// the current time in microseconds (`ARGV[1]`), or the old one plus one if that is not more, so
/// a number is never handed out twice — even when the counter was lost (evicted, flushed, lost
/// in a restart) and a value is still cached under an old number — and a generation tells when
/// it began. The generation it ended is kept at `{key}:prev`.
const BUMP: &str = "local first
for i, key in ipairs(KEYS) do
  local old = tonumber(redis.call('GET', key) or '0')
  local new = math.max(old + 1, tonumber(ARGV[1]))
  redis.call('SET', key, string.format('%.0f', new))
  redis.call('SET', key .. ':prev', string.format('%.0f', old))
  if i == 1 then first = new end
end
return first
";

/// A script run by SHA1, re-sent in full when the server does not know it (after a restart).
#[derive(Debug)]
pub(crate) struct Script {
    body: &'static str,
    sha1: Value,
}

impl Script {
    /// The generation bump script (one or more counters).
    pub fn bump() -> Self {
        Self {
            body: BUMP,
            sha1: Value::from(fred::util::sha1_hash(BUMP)),
        }
    }

    /// Runs the script: `EVALSHA`, then `EVAL` on `NOSCRIPT`.
    pub async fn run<C: ClientLike>(
        &self,
        client: &C,
        keys: &[Value],
        args: &[Value],
    ) -> Result<Value, Error> {
        let call = |script: Value| {
            let mut argv = Vec::with_capacity(2 + keys.len() + args.len());
            argv.push(script);
            argv.push(Value::Integer(keys.len() as i64));
            argv.extend_from_slice(keys);
            argv.extend_from_slice(args);
            argv
        };
        let command =
            |name: &'static str| CustomCommand::new_static(name, ClusterHash::Offset(2), false);
        match client
            .custom::<Value, Value>(command("EVALSHA"), call(self.sha1.clone()))
            .await
        {
            Err(error) if error.details().starts_with("NOSCRIPT") => {
                client
                    .custom::<Value, Value>(command("EVAL"), call(Value::from(self.body)))
                    .await
            }
            other => other,
        }
    }
}

/// Now in microseconds since the epoch: the restart point of a lost generation counter.
pub(crate) fn generation_seed() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |elapsed| {
            i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX)
        })
}
