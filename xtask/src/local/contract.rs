//! The environment of a stack: the services' contract (URLs, tokens, binds) plus the facts tests
//! need (`stack.sh env`), and each service's share of it (least privilege: only migrate gets the
//! direct owner URL, only ingest the gateway token, only the api its keys, none the superuser's).

use super::config::{CHROOT_PATH, DB_NAME, DB_USER, PG_BIN, StackConfig, Vars};
use super::secrets::Secrets;

/// A service started by `stack.sh` with its own environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `tp-capital-migrate up`.
    Migrate,
    /// `tp-capital-api`.
    Api,
    /// `tp-capital-ingest serve`.
    Ingest,
}

impl Service {
    /// The service named `name` (migrate, api, ingest).
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "migrate" => Ok(Self::Migrate),
            "api" => Ok(Self::Api),
            "ingest" => Ok(Self::Ingest),
            other => Err(format!(
                "unknown service '{other}' (migrate, api or ingest)"
            )),
        }
    }
}

/// `redis://[:password@]127.0.0.1:port`.
pub fn redis_url(password: &str, port: u16) -> String {
    if password.is_empty() {
        format!("redis://127.0.0.1:{port}")
    } else {
        format!("redis://:{password}@127.0.0.1:{port}")
    }
}

/// The contract and the stack's facts, in the order `stack.sh env` prints them.
pub fn contract_env(config: &StackConfig, secrets: &Secrets, vars: &Vars) -> Vec<(String, String)> {
    let c = config;
    let s = secrets;
    let db = |port: u16| {
        format!(
            "postgres://{DB_USER}:{}@127.0.0.1:{port}/{DB_NAME}",
            s.db_password
        )
    };
    let api = format!("http://127.0.0.1:{}", c.api_port());
    let ingest = format!("http://127.0.0.1:{}", c.ingest_port());
    let mut env = vec![
        ("TP_CAPITAL_DATABASE_URL", db(c.pgbouncer_port())),
        ("TP_CAPITAL_MIGRATE_DATABASE_URL", db(c.pg_port())),
        (
            "TP_CAPITAL_REDIS_URL",
            redis_url(&s.redis_password, c.redis_master_port()),
        ),
        (
            "TP_CAPITAL_REDIS_REPLICA_URL",
            redis_url(&s.redis_password, c.redis_replica_port()),
        ),
        ("TP_CAPITAL_GATEWAY_TOKEN", s.gateway_token.clone()),
        ("TP_CAPITAL_API_KEY", s.api_key.clone()),
        ("TP_CAPITAL_API_BIND", format!("127.0.0.1:{}", c.api_port())),
        (
            "TP_CAPITAL_INGEST_BIND",
            format!("127.0.0.1:{}", c.ingest_port()),
        ),
        ("TP_CAPITAL_API_URL", api),
        ("TP_CAPITAL_INGEST_URL", ingest.clone()),
        ("TP_CAPITAL_API_INGEST_URL", ingest),
        ("TP_CAPITAL_SYNC_TOKEN", s.sync_token.clone()),
        (
            "TP_CAPITAL_CORS_ORIGINS",
            vars.get("TP_CAPITAL_CORS_ORIGINS")
                .cloned()
                .unwrap_or_default(),
        ),
        ("TP_STACK_DIR", c.dir.display().to_string()),
        ("TP_STACK_ID", c.id.clone()),
        ("TP_ROOTFS_DIR", c.rootfs.display().to_string()),
    ];
    let ports = super::config::PORTS.iter().zip(c.ports);
    let ports: Vec<(&str, String)> = ports.map(|((k, _), p)| (*k, p.to_string())).collect();
    env.extend(ports);
    env.push((
        "TP_PG_SUPERUSER_URL",
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{DB_NAME}",
            s.pg_superuser_password,
            c.pg_port()
        ),
    ));
    env.push((
        "TP_PG_SUPERUSER_CMD",
        format!(
            "chroot {} /usr/bin/env -i PATH={CHROOT_PATH} LANG=C.UTF-8 runuser -u postgres -- \
             {PG_BIN}/psql -X -h {} -p {} -d {DB_NAME}",
            c.rootfs.display(),
            c.pg_run(),
            c.pg_port()
        ),
    ));
    if !s.redis_password.is_empty() {
        env.push(("TP_REDIS_PASSWORD", s.redis_password.clone()));
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// What a service's shell sets and removes before `exec`: the contract minus what `service` must
/// not hold, plus its own defaults (a caller's value wins).
pub fn service_env(
    config: &StackConfig,
    secrets: &Secrets,
    vars: &Vars,
    service: Service,
) -> (Vec<(String, String)>, Vec<&'static str>) {
    let mut env = contract_env(config, secrets, vars);
    let or_default = |key: &str, default: &str| {
        let value = vars.get(key).filter(|v| !v.is_empty());
        (
            key.to_owned(),
            value.map_or(default, String::as_str).to_owned(),
        )
    };
    env.push(or_default("RUST_LOG", "info"));
    let mut unset = vec!["TP_PG_SUPERUSER_URL", "TP_PG_SUPERUSER_CMD"];
    match service {
        Service::Migrate => unset.extend([
            "TP_CAPITAL_GATEWAY_TOKEN",
            "TP_CAPITAL_API_KEY",
            "TP_CAPITAL_SYNC_TOKEN",
            "TP_CAPITAL_REDIS_URL",
            "TP_CAPITAL_REDIS_REPLICA_URL",
            "TP_REDIS_PASSWORD",
        ]),
        Service::Api => {
            unset.extend([
                "TP_CAPITAL_GATEWAY_TOKEN",
                "TP_CAPITAL_MIGRATE_DATABASE_URL",
            ]);
            // Rate limiting stays on (nothing is exempt), with limits the test suite and the load
            // benchmarks (thousands of requests a second from 127.0.0.1) stay under.
            env.push(or_default("TP_CAPITAL_API_RATE_LIMIT_PER_SECOND", "100000"));
            env.push(or_default("TP_CAPITAL_API_RATE_LIMIT_BURST", "100000"));
            // Probes too: `scripts/bench-api.sh` measures its ceiling on `/health/live`.
            env.push(or_default(
                "TP_CAPITAL_API_RATE_LIMIT_PROBE_PER_SECOND",
                "100000",
            ));
        }
        Service::Ingest => {
            // Its search-index builds go straight to PostgreSQL (same user), where PgBouncer's
            // statement_timeout cannot cancel a large week's CREATE INDEX CONCURRENTLY.
            let direct = env
                .iter()
                .find(|(k, _)| k == "TP_CAPITAL_MIGRATE_DATABASE_URL")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            env.push(("TP_CAPITAL_MAINTENANCE_DATABASE_URL".into(), direct));
            unset.extend(["TP_CAPITAL_API_KEY", "TP_CAPITAL_MIGRATE_DATABASE_URL"]);
        }
    }
    env.retain(|(k, _)| !unset.contains(&k.as_str()));
    (env, unset)
}

/// `value` as one single-quoted shell word.
pub fn shquote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `export NAME='value'` lines, then one `unset` line when `unset` is not empty.
pub fn shell_exports(env: &[(String, String)], unset: &[&str]) -> String {
    let mut out: String = env
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", shquote(v)))
        .collect();
    if !unset.is_empty() {
        out.push_str(&format!("unset {}\n", unset.join(" ")));
    }
    out
}
