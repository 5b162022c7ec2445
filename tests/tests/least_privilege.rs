//! The native stack hands each service only the secrets it needs, and Redis wants a password:
//! the api never holds the gateway token or the direct (migrate) URL, the ingest service never the
//! api keys, and neither the superuser's.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use e2e::stack_var;

/// The environment of the running `service` (api or ingest), read from /proc.
fn service_env(stack_dir: &str, service: &str) -> BTreeMap<String, String> {
    let pid = std::fs::read_to_string(format!("{stack_dir}/run/{service}.pid"))
        .unwrap_or_else(|e| panic!("{service}.pid: {e}"));
    let raw = std::fs::read(format!("/proc/{}/environ", pid.trim()))
        .unwrap_or_else(|e| panic!("environment of {service} (pid {}): {e}", pid.trim()));
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

#[test]
fn each_service_gets_only_its_secrets() {
    let Some(stack_dir) = stack_var("TP_STACK_DIR") else {
        return;
    };
    let api = service_env(&stack_dir, "api");
    let ingest = service_env(&stack_dir, "ingest");
    for (name, env) in [("api", &api), ("ingest", &ingest)] {
        assert!(
            env.contains_key("TP_CAPITAL_DATABASE_URL"),
            "{name} has a database"
        );
        for secret in [
            "TP_CAPITAL_MIGRATE_DATABASE_URL",
            "TP_PG_SUPERUSER_URL",
            "TP_PG_SUPERUSER_CMD",
        ] {
            assert!(!env.contains_key(secret), "{name} was handed {secret}");
        }
    }
    assert!(api.contains_key("TP_CAPITAL_API_KEY"));
    assert!(
        !api.contains_key("TP_CAPITAL_GATEWAY_TOKEN"),
        "api has the gateway token"
    );
    assert!(ingest.contains_key("TP_CAPITAL_GATEWAY_TOKEN"));
    assert!(
        !ingest.contains_key("TP_CAPITAL_API_KEY"),
        "ingest has the api keys"
    );
}

#[test]
fn redis_refuses_a_client_without_the_password() {
    let Some(port) = stack_var("TP_REDIS_MASTER_PORT") else {
        return;
    };
    let url = stack_var("TP_CAPITAL_REDIS_URL").unwrap_or_default();
    assert!(
        url.contains('@'),
        "the stack's Redis URL carries a password"
    );
    let mut conn = TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("port")))
        .expect("connect to the Redis master");
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
    conn.write_all(b"PING\r\n").expect("send PING");
    let mut answer = [0u8; 128];
    let n = conn.read(&mut answer).expect("read the answer");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("-NOAUTH"), "Redis answered {answer:?}");
}
