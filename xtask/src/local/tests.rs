//! The native stack's computations: settings, secrets, environment, rendered files, probes.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::config::{StackConfig, Vars, realpath_m, stack_id};
use super::contract::{Service, contract_env, service_env, shell_exports};
use super::observability::{self, Observability};
use super::render::{self, RedisRole};
use super::secrets::{STATE_MARKER, Secrets, secret_file};
use super::{host, probe};

/// A fresh folder under the system's temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "xtask-local-{name}-{}-{}",
            std::process::id(),
            secrets_suffix()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn secrets_suffix() -> String {
    super::secrets::random_secret().expect("random")[..8].to_owned()
}

fn vars(pairs: &[(&str, &str)]) -> Vars {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn stack(dir: &Path, extra: &[(&str, &str)]) -> StackConfig {
    let mut v = vars(&[
        ("TP_STACK_DIR", dir.to_str().expect("utf-8")),
        ("TP_ROOTFS_DIR", "/var/cache/tp-capital/trixie-rootfs"),
    ]);
    v.extend(vars(extra));
    StackConfig::load(&v, Path::new("/nonexistent")).expect("config")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_stack_id_is_sha1sum_of_the_folder() {
    // printf '%s' /work/stacks/glue | sha1sum | cut -c1-16
    assert_eq!(stack_id(Path::new("/work/stacks/glue")), "dd579b9ee81216f4");
    assert_eq!(stack_id(Path::new("/tmp/x")).len(), 16);
}

#[test]
fn realpath_m_resolves_dots_and_missing_parts_like_coreutils() {
    let cwd = Path::new("/srv/a");
    assert_eq!(
        realpath_m(cwd, Path::new("b/../c/./d")),
        Path::new("/srv/a/c/d")
    );
    assert_eq!(realpath_m(cwd, Path::new("/x/y/..")), Path::new("/x"));
    assert_eq!(realpath_m(cwd, Path::new("/../..")), Path::new("/"));
}

#[test]
fn ports_come_from_the_variable_then_stack_conf_then_the_default() {
    let tmp = TempDir::new("ports");
    let first = stack(&tmp.0, &[("TP_PG_PORT", "45435"), ("TP_API_PORT", "45005")]);
    assert_eq!(first.ports, [45435, 6435, 6381, 6382, 45005, 4006]);
    first.save().expect("save");
    let text = std::fs::read_to_string(tmp.0.join("stack.conf")).expect("stack.conf");
    assert!(text.contains("TP_PG_PORT=45435\n") && text.contains("TP_ROOTFS_DIR=/var/cache/"));
    let remembered = stack(&tmp.0, &[("TP_API_PORT", "45006")]);
    assert_eq!(remembered.pg_port(), 45435, "stack.conf remembered");
    assert_eq!(remembered.api_port(), 45006, "the variable wins");
}

#[test]
fn bad_settings_are_refused_with_the_variable_named() {
    let tmp = TempDir::new("bad");
    let dir = tmp.0.to_str().expect("utf-8");
    let load = |extra: &[(&str, &str)]| {
        let mut v = vars(&[("TP_STACK_DIR", dir)]);
        v.extend(vars(extra));
        StackConfig::load(&v, Path::new("/nonexistent")).expect_err("refused")
    };
    assert!(load(&[("TP_PG_PORT", "70000")]).contains("TP_PG_PORT must be a TCP port"));
    assert!(load(&[("TP_PG_PORT", "0")]).contains("TP_PG_PORT"));
    assert!(load(&[("TP_REDIS_MASTER_PORT", "6382")]).contains("collides"));
    assert!(load(&[("TP_STACK_SERVICES", "some")]).contains("TP_STACK_SERVICES"));
    assert!(load(&[("TP_APP_STATEMENT_TIMEOUT_MS", "10s")]).contains("milliseconds"));
    assert!(load(&[("TP_REDIS_PASSWORD", "a@b")]).contains("URL-safe"));
}

#[test]
fn secrets_are_random_kept_and_private() {
    let tmp = TempDir::new("secrets");
    let config = stack(&tmp.0, &[]);
    let first = Secrets::load(&config).expect("secrets");
    let again = Secrets::load(&config).expect("secrets again");
    assert_eq!(
        first.db_password, again.db_password,
        "created once, then kept"
    );
    let all = [
        &first.db_password,
        &first.pg_superuser_password,
        &first.gateway_token,
        &first.api_key,
        &first.sync_token,
        &first.redis_password,
    ];
    for s in all {
        assert_eq!(s.len(), 48);
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    let mut unique: Vec<_> = all.to_vec();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 6, "every secret is its own");
    let dir = config.secrets_dir();
    assert_eq!(mode(&dir), 0o700);
    for name in [
        "db_password",
        "pg_superuser_password",
        "gateway_token",
        "api_key",
        "sync_token",
        "redis_password",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    assert!(tmp.0.join(STATE_MARKER).exists());
    assert!(tmp.0.join("run").is_dir() && tmp.0.join("logs").is_dir());
}

#[test]
fn a_tampered_secret_is_refused_and_a_chmod_is_repaired() {
    let tmp = TempDir::new("tampered");
    let config = stack(&tmp.0, &[]);
    Secrets::load(&config).expect("secrets");
    let key = config.secrets_dir().join("api_key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_eq!(secret_file(&key).expect("read").len(), 48);
    assert_eq!(mode(&key), 0o600);
    std::fs::write(&key, "not a secret!\n").expect("write");
    assert!(
        Secrets::load(&config)
            .expect_err("refused")
            .contains("not alphanumeric")
    );
}

#[test]
fn redis_password_follows_the_variable_and_a_stack_without_one_keeps_none() {
    let tmp = TempDir::new("redis");
    let none = stack(&tmp.0, &[("TP_REDIS_PASSWORD", "")]);
    assert_eq!(Secrets::load(&none).expect("secrets").redis_password, "");
    // Its Redis was configured without a password: later calls without the variable keep none.
    std::fs::create_dir_all(tmp.0.join("redis-master")).expect("dir");
    std::fs::write(tmp.0.join("redis-master/redis.conf"), "port 1\n").expect("conf");
    let later = stack(&tmp.0, &[]);
    assert_eq!(Secrets::load(&later).expect("secrets").redis_password, "");
    let chosen = stack(&tmp.0, &[("TP_REDIS_PASSWORD", "s3cr.t")]);
    assert_eq!(
        Secrets::load(&chosen).expect("secrets").redis_password,
        "s3cr.t"
    );
}

#[test]
fn the_contract_names_every_url_port_and_token() {
    let tmp = TempDir::new("contract");
    let config = stack(&tmp.0, &[("TP_PGBOUNCER_PORT", "45436")]);
    let secrets = Secrets::load(&config).expect("secrets");
    let env: Vars = contract_env(
        &config,
        &secrets,
        &vars(&[("TP_CAPITAL_CORS_ORIGINS", "http://x")]),
    )
    .into_iter()
    .collect();
    let pw = &secrets.db_password;
    assert_eq!(
        env["TP_CAPITAL_DATABASE_URL"],
        format!("postgres://tp_capital:{pw}@127.0.0.1:45436/tp_capital_db")
    );
    assert_eq!(
        env["TP_CAPITAL_MIGRATE_DATABASE_URL"],
        format!("postgres://tp_capital:{pw}@127.0.0.1:5435/tp_capital_db")
    );
    let redis = &secrets.redis_password;
    assert_eq!(
        env["TP_CAPITAL_REDIS_REPLICA_URL"],
        format!("redis://:{redis}@127.0.0.1:6382")
    );
    assert_eq!(env["TP_REDIS_PASSWORD"], *redis);
    assert_eq!(env["TP_CAPITAL_API_INGEST_URL"], "http://127.0.0.1:4006");
    assert_eq!(env["TP_CAPITAL_CORS_ORIGINS"], "http://x");
    assert_eq!(env["TP_STACK_ID"], stack_id(&tmp.0));
    assert!(
        env["TP_PG_SUPERUSER_CMD"]
            .contains(&format!("-h /srv/stacks/{}/pg/run -p 5435", config.id))
    );
    for key in [
        "TP_PG_PORT",
        "TP_PGBOUNCER_PORT",
        "TP_REDIS_MASTER_PORT",
        "TP_REDIS_REPLICA_PORT",
        "TP_API_PORT",
        "TP_INGEST_PORT",
        "TP_CAPITAL_SYNC_TOKEN",
        "TP_CAPITAL_GATEWAY_TOKEN",
        "TP_CAPITAL_API_KEY",
    ] {
        assert!(env.contains_key(key), "{key}");
    }
    assert_eq!(env.len(), 25);
}

#[test]
fn each_service_gets_only_the_secrets_it_needs() {
    let tmp = TempDir::new("least");
    let config = stack(&tmp.0, &[]);
    let secrets = Secrets::load(&config).expect("secrets");
    let caller = vars(&[("TP_CAPITAL_API_RATE_LIMIT_BURST", "7")]);
    let share = |service| {
        let (env, unset) = service_env(&config, &secrets, &caller, service);
        let env: Vars = env.into_iter().collect();
        for gone in &unset {
            assert!(!env.contains_key(*gone), "{gone} is both set and unset");
        }
        (env, unset)
    };
    let (api, api_unset) = share(Service::Api);
    assert!(api.contains_key("TP_CAPITAL_API_KEY") && api.contains_key("TP_CAPITAL_DATABASE_URL"));
    assert!(api_unset.contains(&"TP_CAPITAL_GATEWAY_TOKEN"));
    assert!(api_unset.contains(&"TP_CAPITAL_MIGRATE_DATABASE_URL"));
    assert!(
        api_unset.contains(&"TP_PG_SUPERUSER_URL") && api_unset.contains(&"TP_PG_SUPERUSER_CMD")
    );
    assert_eq!(
        api["TP_CAPITAL_API_RATE_LIMIT_BURST"], "7",
        "the caller's value wins"
    );
    assert_eq!(api["TP_CAPITAL_API_RATE_LIMIT_PER_SECOND"], "100000");
    assert_eq!(api["RUST_LOG"], "info");
    let (ingest, ingest_unset) = share(Service::Ingest);
    assert!(ingest.contains_key("TP_CAPITAL_GATEWAY_TOKEN"));
    assert!(ingest_unset.contains(&"TP_CAPITAL_API_KEY"));
    assert_eq!(
        ingest["TP_CAPITAL_MAINTENANCE_DATABASE_URL"],
        format!(
            "postgres://tp_capital:{}@127.0.0.1:5435/tp_capital_db",
            secrets.db_password
        )
    );
    let (migrate, _) = share(Service::Migrate);
    assert!(migrate.contains_key("TP_CAPITAL_MIGRATE_DATABASE_URL"));
    for key in [
        "TP_CAPITAL_GATEWAY_TOKEN",
        "TP_CAPITAL_API_KEY",
        "TP_CAPITAL_SYNC_TOKEN",
        "TP_CAPITAL_REDIS_URL",
        "TP_REDIS_PASSWORD",
    ] {
        assert!(!migrate.contains_key(key), "migrate has {key}");
    }
    let shell = shell_exports(&[("A".into(), "it's".into())], &["B", "C"]);
    assert_eq!(shell, "export A='it'\\''s'\nunset B C\n");
}

#[test]
fn pgbouncer_pools_transactions_with_scram_and_the_statement_timeout() {
    let tmp = TempDir::new("pgb");
    let config = stack(
        &tmp.0,
        &[
            ("TP_PGBOUNCER_PORT", "45436"),
            ("TP_APP_STATEMENT_TIMEOUT_MS", "2500"),
        ],
    );
    let ini = render::pgbouncer_ini(&config);
    let dir = format!("/srv/stacks/{}/pgbouncer", config.id);
    for line in [
        "pool_mode = transaction".to_owned(),
        "auth_type = scram-sha-256".to_owned(),
        "max_prepared_statements = 1000".to_owned(),
        "pkt_buf = 32768".to_owned(),
        "ignore_startup_parameters = extra_float_digits".to_owned(),
        "listen_port = 45436".to_owned(),
        "stats_users = tp_capital".to_owned(),
        format!("auth_file = {dir}/userlist.txt"),
        "tp_capital_db = host=127.0.0.1 port=5435 dbname=tp_capital_db connect_query='SET statement_timeout = 2500'".to_owned(),
    ] {
        assert!(ini.lines().any(|l| l == line), "pgbouncer.ini lacks `{line}`");
    }
}

#[test]
fn the_auth_file_holds_the_app_role_with_its_scram_secret() {
    let secret = "SCRAM-SHA-256$4096:c2FsdA==$a2V5:c2VydmVy";
    assert_eq!(
        render::userlist(&format!("{secret}\n")).expect("userlist"),
        format!("\"tp_capital\" \"{secret}\"\n")
    );
    assert!(render::userlist("md5abc").is_err());
    assert!(render::userlist("").is_err());
}

#[test]
fn postgres_listens_on_its_port_and_socket_with_timescaledb() {
    let tmp = TempDir::new("pg");
    let config = stack(
        &tmp.0,
        &[("TP_PG_PORT", "45435"), ("TP_PG_SHARED_BUFFERS", "256MB")],
    );
    let conf = render::postgres_conf(&config);
    for line in [
        "port = 45435".to_owned(),
        format!(
            "unix_socket_directories = '/srv/stacks/{}/pg/run'",
            config.id
        ),
        "shared_buffers = 256MB".to_owned(),
        "shared_preload_libraries = 'timescaledb, pg_stat_statements'".to_owned(),
        "fsync = on".to_owned(),
        "listen_addresses = '127.0.0.1'".to_owned(),
    ] {
        assert!(
            conf.lines().any(|l| l == line),
            "tp_capital.conf lacks `{line}`"
        );
    }
}

#[test]
fn redis_conf_has_its_port_files_and_password() {
    let tmp = TempDir::new("redisconf");
    let config = stack(&tmp.0, &[("TP_REDIS_REPLICA_PORT", "45382")]);
    let replica = render::redis_conf(&config, RedisRole::Replica, "pw1");
    let dir = tmp.0.display();
    for line in [
        "port 45382".to_owned(),
        format!("pidfile {dir}/run/redis-replica.pid"),
        format!("logfile {dir}/logs/redis-replica.log"),
        format!("dir {dir}/redis-replica"),
        "requirepass pw1".to_owned(),
        "masterauth pw1".to_owned(),
        "bind 127.0.0.1".to_owned(),
    ] {
        assert!(
            replica.lines().any(|l| l == line),
            "redis.conf lacks `{line}`"
        );
    }
    let master = render::redis_conf(&config, RedisRole::Master, "");
    assert!(master.contains("port 6381\n") && !master.contains("requirepass"));
    let file = tmp.0.join("redis.conf");
    render::write_file(&file, &replica, 0o600).expect("write");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), replica);
}

#[test]
fn postgres_answers_are_read_as_pg_isready_does() {
    assert!(probe::postgres_answer_is_ready(
        b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0"
    ));
    assert!(!probe::postgres_answer_is_ready(
        b"E\0\0\0\x50SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0"
    ));
    assert!(probe::postgres_answer_is_ready(
        b"E\0\0\0\x20SFATAL\0C28P01\0Mbad password\0\0"
    ));
    assert!(!probe::postgres_answer_is_ready(b""));
}

#[test]
fn http_and_redis_probes_speak_the_protocol() {
    assert_eq!(
        probe::status_code(b"HTTP/1.1 503 Service Unavailable\r\n"),
        Some(503)
    );
    assert_eq!(probe::status_code(b"garbage"), None);
    assert_eq!(
        probe::resp_command(&["AUTH", "pw"]),
        b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"
    );
    // A one-shot fake Redis that wants the password, then answers PING.
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 256];
        while !String::from_utf8_lossy(&buf).contains("PING\r\n") {
            let n = conn.read(&mut chunk).expect("read");
            buf.extend_from_slice(&chunk[..n]);
        }
        conn.write_all(b"+OK\r\n+PONG\r\n").expect("write");
        String::from_utf8_lossy(&buf).into_owned()
    });
    assert!(probe::redis_ping(port, "pw"));
    assert!(
        server
            .join()
            .expect("server")
            .starts_with("*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n")
    );
}

#[test]
fn a_wait_ends_when_the_probe_answers_or_the_process_exits() {
    let mut calls = 0;
    let ok = probe::wait_until(Duration::from_secs(5), Duration::ZERO, None, || {
        calls += 1;
        calls == 3
    });
    assert_eq!((ok, calls), (Ok(()), 3));
    assert!(probe::pid_alive(std::process::id()));
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let pid = child.id();
    child.wait().expect("wait");
    assert!(!probe::pid_alive(pid));
    let gone = probe::wait_until(Duration::from_secs(5), Duration::ZERO, Some(pid), || false);
    assert_eq!(gone, Err(probe::WaitError::Exited));
    let closed = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let port = closed.local_addr().expect("addr").port();
    assert!(probe::tcp_open(port));
    drop(closed);
    assert!(!probe::tcp_open(port));
}

#[test]
fn the_mirror_is_the_one_apt_uses() {
    let deb822 = "Types: deb\nURIs: http://mirror.example/debian http://other\nSuites: bookworm\n";
    let list = "# deb http://commented\ndeb http://security.debian.org/ bookworm-security main\n\
                deb http://list.example/debian bookworm main\n";
    assert_eq!(
        host::debian_mirror(Some(deb822), Some(list)),
        "http://mirror.example/debian"
    );
    assert_eq!(
        host::debian_mirror(None, Some(list)),
        "http://list.example/debian"
    );
    assert_eq!(
        host::debian_mirror(Some("Types: deb\n"), None),
        "http://deb.debian.org/debian"
    );
}

#[test]
fn mounts_below_a_folder_come_deepest_first_and_its_siblings_never() {
    let info = "22 1 0:21 / /proc rw - proc proc rw\n\
                90 30 0:50 / /var/cache/r/proc rw - proc proc rw\n\
                91 30 0:51 / /var/cache/r/dev/shm rw - tmpfs tmpfs rw\n\
                92 30 0:52 / /var/cache/r2/proc rw - proc proc rw\n\
                93 30 0:53 / /var/cache/r/a\\040b rw - tmpfs tmpfs rw\n";
    assert_eq!(
        host::mounts_under(info, "/var/cache/r"),
        [
            "/var/cache/r/proc",
            "/var/cache/r/dev/shm",
            "/var/cache/r/a b"
        ]
    );
    assert!(host::mounts_under(info, "/nothing").is_empty());
    assert!(host::pids_rooted_in(Path::new("/nonexistent-root")).is_empty());
}

#[test]
fn observability_ports_and_targets_follow_the_stack() {
    let tmp = TempDir::new("obs");
    let caller = vars(&[("TP_PROMETHEUS_PORT", "45090")]);
    let obs = Observability::load(&caller, &tmp.0).expect("ports");
    assert_eq!(obs.port("prometheus"), Some(45090));
    assert_eq!(obs.port("node-exporter"), Some(9100));
    std::fs::create_dir_all(&obs.dir).expect("dir");
    std::fs::write(obs.dir.join("ports"), obs.ports_file()).expect("ports file");
    let again = Observability::load(&Vars::new(), &tmp.0).expect("saved ports");
    assert_eq!(again.port("prometheus"), Some(45090), "remembered");
    let bad = vars(&[("TP_NODE_EXPORTER_PORT", "x")]);
    assert!(
        Observability::load(&bad, &tmp.0)
            .expect_err("refused")
            .contains("TP_NODE_EXPORTER_PORT")
    );
    let targets = obs.metrics_targets("http://127.0.0.1:45005", "http://127.0.0.1:45006");
    let jobs: Vec<&str> = targets.iter().map(|(job, _)| job.as_str()).collect();
    assert_eq!(
        jobs,
        [
            "tp-capital-api",
            "tp-capital-ingest",
            "node",
            "postgres",
            "pgbouncer",
            "redis-master",
            "redis-replica"
        ]
    );
    assert_eq!(targets[0].1, "http://127.0.0.1:45005/metrics");
    assert_eq!(targets[2].1, "http://127.0.0.1:9100/metrics");
}

#[test]
fn prometheus_scrapes_every_target_and_marks_the_database_volume() {
    let targets = vec![
        (
            "tp-capital-api".to_owned(),
            "http://127.0.0.1:45005/metrics".to_owned(),
        ),
        (
            "node".to_owned(),
            "http://127.0.0.1:9100/metrics".to_owned(),
        ),
    ];
    let yml = observability::prometheus_yml(Path::new("/repo/rules"), &targets, "/var/cache");
    assert!(yml.contains("rule_files:\n  - /repo/rules/tp-capital.rules.yml\n"));
    assert!(yml.contains(
        "  - job_name: tp-capital-api\n    static_configs: [{targets: [\"127.0.0.1:45005\"]}]\n"
    ));
    assert!(yml.contains("  - job_name: node\n    static_configs: [{targets: [\"127.0.0.1:9100\"]}]\n    metric_relabel_configs:\n"));
    assert!(yml.contains("        regex: '/var/cache'\n        target_label: tp_capital_volume\n"));
    assert_eq!(
        yml.matches("metric_relabel_configs").count(),
        1,
        "only node_exporter's series"
    );
    let info = "1 0 0:1 / / rw - ext4 /dev/a rw\n2 1 0:2 / /var rw - ext4 /dev/b rw\n\
                3 1 0:3 / /var/cache/r/proc rw - proc proc rw\n4 1 0:4 / /variable rw - ext4 /dev/c rw\n";
    assert_eq!(
        observability::mount_point_of(info, Path::new("/var/cache/r")),
        "/var"
    );
    assert_eq!(
        observability::mount_point_of(info, Path::new("/variable/x")),
        "/variable"
    );
    assert_eq!(observability::mount_point_of(info, Path::new("/srv")), "/");
}

#[test]
fn the_summary_names_the_urls_and_never_a_secret() {
    let tmp = TempDir::new("summary");
    let config = stack(&tmp.0, &[("TP_API_PORT", "45005")]);
    let secrets = Secrets::load(&config).expect("secrets");
    let text = super::summary(&config, &secrets, Path::new("/repo/deploy/local"), "7");
    assert!(
        text.contains("is up (7s)")
            && text.contains("swagger    http://127.0.0.1:45005/swagger-ui/")
    );
    assert!(text.contains(&format!(
        "eval \"$(TP_STACK_DIR='{}' deploy/local/stack.sh env)\"",
        tmp.0.display()
    )));
    assert!(text.contains("password in secrets/redis_password"));
    for secret in [
        &secrets.db_password,
        &secrets.redis_password,
        &secrets.api_key,
    ] {
        assert!(!text.contains(secret.as_str()));
    }
}
