//! `cargo xtask stack …`: what `deploy/local/stack.sh` computes, in Rust — its settings and derived
//! paths, the generated secrets, the services' environment, the servers' configuration files and
//! the readiness waits. The script keeps the plain process work (chroot, runuser, pg_ctl, kill) and
//! calls these through `xtask` (deploy/local/lib.sh finds or builds the binary).

mod config;
mod contract;
mod host;
mod observability;
mod probe;
mod render;
mod secrets;
#[cfg(test)]
mod tests;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{DB_NAME, DB_USER, StackConfig, Vars};
use contract::{Service, shell_exports, shquote};
use observability::Observability;
use probe::WaitError;
use render::RedisRole;
use secrets::Secrets;

/// Usage of `cargo xtask stack`.
pub const USAGE: &str = "  stack vars [--secrets] [--save]   the stack's settings as shell assignments (stack.sh evals them)
  stack env [--service NAME]        export lines: the contract and the stack's facts, or NAME's share
                                    (migrate, api, ingest: only the secrets it needs)
  stack render FILE                 write postgres | pgbouncer | redis-master | redis-replica's config
  stack userlist                    PgBouncer's auth file from the SCRAM secret on stdin; prints changed|unchanged
  stack summary SECONDS             what `up` prints at the end (URLs, no secrets)
  stack observability vars|render|env   observability.sh's ports (PORT[name]), its ports file and
                                    prometheus.yml, its export lines (TP_PROMETHEUS_URL, TP_METRICS_TARGETS)
  stack mirror                      the Debian mirror apt uses (for the root filesystem)
  stack mounts-under DIR            mount points at or below DIR, deepest first
  stack pids-in DIR                 processes chrooted into DIR
  stack prepare                     create the state folder (marker, run/, logs/, secrets/ 700)
  stack secret NAME                 print secrets/NAME, created (48 hex, mode 600) on first use
  stack probe TARGET                exit 0 when TARGET answers: postgres | pgbouncer | redis-master |
                                    redis-replica | redis-link | api | ingest | api-ready | ingest-ready
                                    (the stack's), or tcp:PORT | postgres:PORT | http:PORT/PATH (200)
  stack wait TARGET [--timeout S] [--pid PID]   probe until it answers (exit 1 on timeout, 3 when PID exits)";

/// Runs `cargo xtask stack ARGS`; `Ok(code)` is the exit code (waits and probes use 1 and 3).
pub fn run(args: &[String]) -> Result<u8, String> {
    let vars: Vars = std::env::vars().collect();
    let config = StackConfig::load(&vars, &local_dir(&vars))?;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let flag = |name: &str| args.contains(&name);
    match args.as_slice() {
        ["vars", ..] => {
            let secrets = flag("--secrets")
                .then(|| Secrets::load(&config))
                .transpose()?;
            if flag("--save") {
                config.save()?;
            }
            print!("{}", shell_vars(&config, secrets.as_ref()));
        }
        ["env"] => {
            let env = contract::contract_env(&config, &Secrets::load(&config)?, &vars);
            print!("{}", shell_exports(&env, &[]));
        }
        ["env", "--service", name] => {
            let service = Service::parse(name)?;
            let (env, unset) =
                contract::service_env(&config, &Secrets::load(&config)?, &vars, service);
            print!("{}", shell_exports(&env, &unset));
        }
        ["render", file] => render_file(&config, file)?,
        ["userlist"] => {
            let mut secret = String::new();
            std::io::stdin()
                .read_to_string(&mut secret)
                .map_err(|e| format!("stdin: {e}"))?;
            let text = render::userlist(&secret)?;
            let path = config.host_stack().join("pgbouncer/userlist.txt");
            let changed = std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str());
            if changed {
                render::write_file(&path, &text, 0o600)?;
            }
            println!("{}", if changed { "changed" } else { "unchanged" });
        }
        ["observability", action, rest @ ..] => observability_task(&config, &vars, action, rest)?,
        ["summary", elapsed] => {
            let secrets = Secrets::load(&config)?;
            print!("{}", summary(&config, &secrets, &local_dir(&vars), elapsed));
        }
        ["mirror"] => {
            let read = |p: &str| std::fs::read_to_string(p).ok();
            let deb822 = read("/etc/apt/sources.list.d/debian.sources");
            let list = read("/etc/apt/sources.list");
            println!(
                "{}",
                host::debian_mirror(deb822.as_deref(), list.as_deref())
            );
        }
        ["mounts-under", dir] => {
            let info = std::fs::read_to_string("/proc/self/mountinfo")
                .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
            for mount in host::mounts_under(&info, dir) {
                println!("{mount}");
            }
        }
        ["pids-in", dir] => {
            for pid in host::pids_rooted_in(Path::new(dir)) {
                println!("{pid}");
            }
        }
        ["prepare"] => secrets::prepare_state_dir(&config.dir)?,
        ["secret", name] => {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err(format!("bad secret name '{name}'"));
            }
            secrets::prepare_state_dir(&config.dir)?;
            let secret = secrets::secret_file(&config.secrets_dir().join(name))?;
            if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!(
                    "secret {name} in {} is not alphanumeric; delete it to regenerate",
                    config.secrets_dir().display()
                ));
            }
            println!("{secret}");
        }
        ["probe", target] => {
            let redis = redis_password(&config, target)?;
            return Ok(u8::from(!probe_once(&config, &redis, target)?.0));
        }
        ["wait", target, options @ ..] => return wait(&config, target, options),
        _ => return Err(format!("usage:\n{USAGE}")),
    }
    Ok(0)
}

/// `observability vars|render|env`: deploy/local/observability.sh's settings and files.
fn observability_task(
    c: &StackConfig,
    vars: &Vars,
    action: &str,
    rest: &[&str],
) -> Result<(), String> {
    let obs = Observability::load(vars, &c.dir)?;
    let var = |key: &str| {
        vars.get(key)
            .cloned()
            .ok_or(format!("{key} is not set: eval the stack's env first"))
    };
    match (action, rest) {
        ("vars", []) => {
            println!("OBS_DIR={}", shquote(&obs.dir.display().to_string()));
            println!(
                "PORTS_FILE={}",
                shquote(&obs.dir.join("ports").display().to_string())
            );
            for ((name, _, _, _), port) in observability::COMPONENTS.iter().zip(obs.ports) {
                println!("PORT[{name}]={port}");
            }
        }
        ("render", []) => {
            let targets =
                obs.metrics_targets(&var("TP_CAPITAL_API_URL")?, &var("TP_CAPITAL_INGEST_URL")?);
            let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
                .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
            let mount = observability::mount_point_of(&mountinfo, &c.rootfs);
            let rules = Path::new(&var("TP_REPO_ROOT")?).join("deploy/observability/rules");
            std::fs::create_dir_all(&obs.dir).map_err(|e| format!("{}: {e}", obs.dir.display()))?;
            render::write_file(&obs.dir.join("ports"), &obs.ports_file(), 0o644)?;
            let yml = observability::prometheus_yml(&rules, &targets, &mount);
            render::write_file(&obs.dir.join("prometheus.yml"), &yml, 0o644)?;
        }
        ("env", []) => {
            let targets =
                obs.metrics_targets(&var("TP_CAPITAL_API_URL")?, &var("TP_CAPITAL_INGEST_URL")?);
            let list: Vec<String> = targets
                .iter()
                .map(|(job, url)| format!("{job}={url}"))
                .collect();
            let prometheus = obs.port("prometheus").unwrap_or_default();
            let env = [
                (
                    "TP_PROMETHEUS_URL".to_owned(),
                    format!("http://127.0.0.1:{prometheus}"),
                ),
                ("TP_METRICS_TARGETS".to_owned(), list.join(" ")),
            ];
            print!("{}", shell_exports(&env, &[]));
        }
        _ => return Err(format!("usage:\n{USAGE}")),
    }
    Ok(())
}

/// What `stack.sh up` prints at the end: the URLs, where the secrets are, how to get the environment.
fn summary(c: &StackConfig, s: &Secrets, local_dir: &Path, elapsed: &str) -> String {
    let mut hint = "deploy/local/stack.sh env".to_owned();
    if c.dir != local_dir.join(".state") {
        hint = format!(
            "TP_STACK_DIR={} {hint}",
            shquote(&c.dir.display().to_string())
        );
    }
    let password = if s.redis_password.is_empty() {
        ""
    } else {
        ", password in secrets/redis_password"
    };
    format!(
        "
TP-Capital local stack is up ({elapsed}s), state in {dir}
  api        http://127.0.0.1:{api}
  swagger    http://127.0.0.1:{api}/swagger-ui/
  ingest     http://127.0.0.1:{ingest}
  database   postgres://{DB_USER}:***@127.0.0.1:{pgb}/{DB_NAME} (PgBouncer; direct PostgreSQL on {pg})
  redis      redis://127.0.0.1:{master} (master), redis://127.0.0.1:{replica} (replica){password}
  secrets    {secrets}
Environment for tools and tests:
  eval \"$({hint})\"
",
        dir = c.dir.display(),
        api = c.api_port(),
        ingest = c.ingest_port(),
        pgb = c.pgbouncer_port(),
        pg = c.pg_port(),
        master = c.redis_master_port(),
        replica = c.redis_replica_port(),
        secrets = c.secrets_dir().display(),
    )
}

/// `deploy/local` (lib.sh exports it; else beside this crate).
fn local_dir(vars: &Vars) -> PathBuf {
    vars.get("TP_LOCAL_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local"),
        PathBuf::from,
    )
}

/// The shell variables stack.sh works with.
fn shell_vars(c: &StackConfig, secrets: Option<&Secrets>) -> String {
    let host = c.host_stack();
    let mut vars = vec![
        ("STACK_DIR", c.dir.display().to_string()),
        (
            "CONFIG_FILE",
            c.dir.join("stack.conf").display().to_string(),
        ),
        ("RUN_DIR", c.run_dir().display().to_string()),
        ("LOG_DIR", c.log_dir().display().to_string()),
        ("SECRETS_DIR", c.secrets_dir().display().to_string()),
        ("PG_PORT", c.pg_port().to_string()),
        ("PGB_PORT", c.pgbouncer_port().to_string()),
        ("REDIS_MASTER_PORT", c.redis_master_port().to_string()),
        ("REDIS_REPLICA_PORT", c.redis_replica_port().to_string()),
        ("API_PORT", c.api_port().to_string()),
        ("INGEST_PORT", c.ingest_port().to_string()),
        ("ROOTFS", c.rootfs.display().to_string()),
        (
            "SERVICES",
            match c.services {
                config::Services::All => "all".into(),
                config::Services::Infra => "infra".into(),
            },
        ),
        ("STACK_ID", c.id.clone()),
        ("IN_STACK", c.in_stack()),
        ("HOST_STACK", host.display().to_string()),
        ("PG_DATA", format!("{}/pg/data", c.in_stack())),
        ("PG_RUN", c.pg_run()),
        ("PG_LOG", format!("{}/pg/postgres.log", c.in_stack())),
        ("PGB_DIR", c.pgbouncer_dir()),
        (
            "REDIS_PASSWORD",
            secrets.map_or_else(
                || c.redis_password_override.clone().unwrap_or_default(),
                |s| s.redis_password.clone(),
            ),
        ),
    ];
    if let Some(s) = secrets {
        vars.push(("DB_PASSWORD", s.db_password.clone()));
        vars.push(("PG_SUPER_PASSWORD", s.pg_superuser_password.clone()));
    }
    vars.iter()
        .map(|(k, v)| format!("{k}={}\n", shquote(v)))
        .collect()
}

fn render_file(c: &StackConfig, file: &str) -> Result<(), String> {
    let host = c.host_stack();
    let redis = |role: RedisRole| -> Result<(), String> {
        let secrets = Secrets::load(c)?;
        let dir = role.dir(c);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        secrets::set_mode(&dir, 0o700)?;
        let text = render::redis_conf(c, role, &secrets.redis_password);
        render::write_file(&dir.join("redis.conf"), &text, 0o600)
    };
    match file {
        "postgres" => render::write_file(
            &host.join("pg/data/tp_capital.conf"),
            &render::postgres_conf(c),
            0o644,
        ),
        "pgbouncer" => render::write_file(
            &host.join("pgbouncer/pgbouncer.ini"),
            &render::pgbouncer_ini(c),
            0o644,
        ),
        "redis-master" => redis(RedisRole::Master),
        "redis-replica" => redis(RedisRole::Replica),
        other => Err(format!(
            "unknown file '{other}' (postgres, pgbouncer, redis-master, redis-replica)"
        )),
    }
}

/// Redis' password when `target` is one of the stack's Redis (the secrets are read only then).
fn redis_password(c: &StackConfig, target: &str) -> Result<String, String> {
    if target.starts_with("redis") {
        Ok(Secrets::load(c)?.redis_password)
    } else {
        Ok(String::new())
    }
}

/// One probe of `target`: whether it answered, and what it said (HTTP status) for messages.
fn probe_once(c: &StackConfig, redis: &str, target: &str) -> Result<(bool, String), String> {
    let http = |port: u16, path: &str| {
        let code = probe::http_status(port, path);
        let said = code.map_or_else(|| "none".to_owned(), |c| c.to_string());
        (code == Some(200), said)
    };
    let plain = |ok: bool| (ok, String::new());
    Ok(match target {
        "postgres" => plain(probe::postgres_ready(c.pg_port())),
        "pgbouncer" => plain(probe::tcp_open(c.pgbouncer_port())),
        "redis-master" => plain(probe::redis_ping(c.redis_master_port(), redis)),
        "redis-replica" => plain(probe::redis_ping(c.redis_replica_port(), redis)),
        "redis-link" => plain(probe::redis_linked(c.redis_replica_port(), redis)),
        "api" => http(c.api_port(), "/health/live"),
        "ingest" => http(c.ingest_port(), "/health/live"),
        "api-ready" => http(c.api_port(), "/health/ready"),
        "ingest-ready" => http(c.ingest_port(), "/health/ready"),
        other => match other.split_once(':') {
            Some(("tcp", port)) => plain(probe::tcp_open(config::port_number(other, port)?)),
            Some(("postgres", port)) => {
                plain(probe::postgres_ready(config::port_number(other, port)?))
            }
            Some(("http", rest)) => {
                let (port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let path = if path.is_empty() { "/" } else { path };
                http(config::port_number(other, port)?, path)
            }
            _ => return Err(format!("unknown probe target '{other}'")),
        },
    })
}

/// `wait TARGET [--timeout S] [--pid PID]`: on failure prints what the target last said.
fn wait(c: &StackConfig, target: &str, options: &[&str]) -> Result<u8, String> {
    let mut timeout = Duration::from_secs(60);
    let mut pid = None;
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        let value = rest.next().ok_or(format!("{option} needs a value"))?;
        match *option {
            "--timeout" => {
                let secs: f64 = value.parse().map_err(|_| "--timeout takes seconds")?;
                timeout = Duration::from_secs_f64(secs);
            }
            "--pid" => pid = Some(value.parse().map_err(|_| "--pid takes a process id")?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let redis = redis_password(c, target)?;
    probe_once(c, &redis, target)?;
    let mut last = String::new();
    let result = probe::wait_until(timeout, Duration::from_millis(200), pid, || {
        let (ok, said) = probe_once(c, &redis, target).unwrap_or_default();
        last = said;
        ok
    });
    match result {
        Ok(()) => Ok(0),
        Err(e) => {
            print!("{last}");
            Ok(if e == WaitError::Exited { 3 } else { 1 })
        }
    }
}
