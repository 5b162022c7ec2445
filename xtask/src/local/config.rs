//! The native stack's settings: ports (the caller's variable, else `stack.conf`, else the default),
//! the state folder, the shared root filesystem and the paths derived from them — what
//! `deploy/local/stack.sh` used to compute in bash on every call.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use sha1::{Digest, Sha1};

/// The caller's environment (a snapshot, so tests can pass their own).
pub type Vars = BTreeMap<String, String>;

/// The database and its owner role, as the services and the migrations know them.
pub const DB_NAME: &str = "tp_capital_db";
/// The application's role (owner of the database; PgBouncer's only user).
pub const DB_USER: &str = "tp_capital";
/// PostgreSQL 17's binaries inside the root filesystem.
pub const PG_BIN: &str = "/usr/lib/postgresql/17/bin";
/// `PATH` of every command run inside the root filesystem.
pub const CHROOT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// The six ports of a stack, with their variables and defaults, in the order `stack.conf` lists them.
pub const PORTS: [(&str, u16); 6] = [
    ("TP_PG_PORT", 5435),
    ("TP_PGBOUNCER_PORT", 6435),
    ("TP_REDIS_MASTER_PORT", 6381),
    ("TP_REDIS_REPLICA_PORT", 6382),
    ("TP_API_PORT", 4005),
    ("TP_INGEST_PORT", 4006),
];

/// Which services `up` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Services {
    /// Servers, migrations, api and ingest.
    All,
    /// Servers and migrations only.
    Infra,
}

/// One stack's settings and derived paths.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// The state folder (`TP_STACK_DIR`, default `deploy/local/.state`), absolute.
    pub dir: PathBuf,
    /// Ports in the order of [`PORTS`].
    pub ports: [u16; 6],
    /// The cached Debian 13 root filesystem.
    pub rootfs: PathBuf,
    /// `TP_STACK_SERVICES`.
    pub services: Services,
    /// `TP_REDIS_PASSWORD` when the caller set it (empty = no password).
    pub redis_password_override: Option<String>,
    /// statement_timeout of the services' pooled connections (`TP_APP_STATEMENT_TIMEOUT_MS`).
    pub app_statement_timeout_ms: u64,
    /// PostgreSQL's `shared_buffers` (`TP_PG_SHARED_BUFFERS`).
    pub pg_shared_buffers: String,
    /// First 16 hex digits of sha1(dir): the stack's folder inside the root filesystem.
    pub id: String,
}

impl StackConfig {
    /// Reads the settings from `vars` and the stack's `stack.conf`; `local_dir` is `deploy/local`.
    pub fn load(vars: &Vars, local_dir: &Path) -> Result<Self, String> {
        let cwd = std::env::current_dir().map_err(|e| format!("current folder: {e}"))?;
        let dir = match vars.get("TP_STACK_DIR").filter(|d| !d.is_empty()) {
            Some(d) => realpath_m(&cwd, Path::new(d)),
            None => realpath_m(&cwd, &local_dir.join(".state")),
        };
        let saved = read_saved(&dir.join("stack.conf"));
        let pick = |key: &str| vars.get(key).filter(|v| !v.is_empty()).or(saved.get(key));
        let mut ports = [0u16; 6];
        for (slot, (key, default)) in ports.iter_mut().zip(PORTS) {
            *slot = match pick(key) {
                Some(value) => port_number(key, value)?,
                None => default,
            };
        }
        for (i, (key, _)) in PORTS.iter().enumerate() {
            if ports[..i].contains(&ports[i]) {
                return Err(format!(
                    "{key}={} collides with another port of this stack",
                    ports[i]
                ));
            }
        }
        let rootfs = match pick("TP_ROOTFS_DIR") {
            Some(r) => realpath_m(&cwd, Path::new(r)),
            None => {
                let cache = vars
                    .get("TP_CACHE_DIR")
                    .filter(|c| !c.is_empty())
                    .map_or("/var/cache/tp-capital", String::as_str);
                realpath_m(&cwd, &Path::new(cache).join("trixie-rootfs"))
            }
        };
        let services = match vars.get("TP_STACK_SERVICES").map(String::as_str) {
            None | Some("" | "all") => Services::All,
            Some("infra") => Services::Infra,
            Some(other) => {
                return Err(format!(
                    "TP_STACK_SERVICES must be 'all' or 'infra', got '{other}'"
                ));
            }
        };
        let timeout = vars
            .get("TP_APP_STATEMENT_TIMEOUT_MS")
            .filter(|v| !v.is_empty())
            .map_or("10000", String::as_str);
        let app_statement_timeout_ms = timeout
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| timeout.parse().ok())
            .flatten()
            .ok_or("TP_APP_STATEMENT_TIMEOUT_MS must be milliseconds")?;
        let redis_password_override = vars.get("TP_REDIS_PASSWORD").cloned();
        if let Some(p) = &redis_password_override
            && !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
        {
            return Err("TP_REDIS_PASSWORD must be URL-safe ([A-Za-z0-9._~-])".into());
        }
        let pg_shared_buffers = vars
            .get("TP_PG_SHARED_BUFFERS")
            .filter(|v| !v.is_empty())
            .map_or("1GB", String::as_str)
            .to_owned();
        Ok(Self {
            id: stack_id(&dir),
            dir,
            ports,
            rootfs,
            services,
            redis_password_override,
            app_statement_timeout_ms,
            pg_shared_buffers,
        })
    }

    /// PostgreSQL's port.
    pub fn pg_port(&self) -> u16 {
        self.ports[0]
    }
    /// PgBouncer's port.
    pub fn pgbouncer_port(&self) -> u16 {
        self.ports[1]
    }
    /// The Redis master's port.
    pub fn redis_master_port(&self) -> u16 {
        self.ports[2]
    }
    /// The Redis replica's port.
    pub fn redis_replica_port(&self) -> u16 {
        self.ports[3]
    }
    /// The api's port.
    pub fn api_port(&self) -> u16 {
        self.ports[4]
    }
    /// The ingest's port.
    pub fn ingest_port(&self) -> u16 {
        self.ports[5]
    }

    /// The stack's server data as seen inside the root filesystem.
    pub fn in_stack(&self) -> String {
        format!("/srv/stacks/{}", self.id)
    }
    /// The same folder from the host.
    pub fn host_stack(&self) -> PathBuf {
        PathBuf::from(format!("{}{}", self.rootfs.display(), self.in_stack()))
    }
    /// PostgreSQL's socket folder inside the root filesystem.
    pub fn pg_run(&self) -> String {
        format!("{}/pg/run", self.in_stack())
    }
    /// PgBouncer's folder inside the root filesystem.
    pub fn pgbouncer_dir(&self) -> String {
        format!("{}/pgbouncer", self.in_stack())
    }
    /// `run/` (pid files, `*.wanted`, the lock).
    pub fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }
    /// `logs/`.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }
    /// `secrets/`.
    pub fn secrets_dir(&self) -> PathBuf {
        self.dir.join("secrets")
    }

    /// Writes `stack.conf` (the ports and the rootfs), so later calls find the same stack.
    pub fn save(&self) -> Result<(), String> {
        let mut text = String::from(
            "# Remembered by deploy/local/stack.sh up; an explicit environment variable wins.\n",
        );
        for ((key, _), port) in PORTS.iter().zip(self.ports) {
            text.push_str(&format!("{key}={port}\n"));
        }
        text.push_str(&format!("TP_ROOTFS_DIR={}\n", self.rootfs.display()));
        let file = self.dir.join("stack.conf");
        let tmp = self.dir.join("stack.conf.tmp");
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &file).map_err(|e| format!("{}: {e}", file.display()))
    }
}

/// `TP_*` keys of a `KEY=value` file (missing file: none).
fn read_saved(path: &Path) -> Vars {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(key, _)| {
            key.strip_prefix("TP_").is_some_and(|rest| {
                !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            })
        })
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A TCP port number (1-65535), or a message naming `key`.
pub fn port_number(key: &str, value: &str) -> Result<u16, String> {
    value
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| value.parse::<u16>().ok())
        .flatten()
        .filter(|p| *p >= 1)
        .ok_or_else(|| format!("{key} must be a TCP port number, got '{value}'"))
}

/// First 16 hex digits of sha1 of the folder's path: the stack's id (as the bash version computed
/// it, so existing stacks keep their data).
pub fn stack_id(dir: &Path) -> String {
    Sha1::digest(dir.as_os_str().as_encoded_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `realpath -m`: absolute, symbolic links of the existing part resolved, `.` and `..` removed.
pub fn realpath_m(cwd: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    let full = if path.is_absolute() {
        path.to_owned()
    } else {
        cwd.join(path)
    };
    for component in full.components() {
        match component {
            Component::Normal(part) => {
                out.push(part);
                if out.symlink_metadata().is_ok_and(|m| m.is_symlink())
                    && let Ok(real) = out.canonicalize()
                {
                    out = real;
                }
            }
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}
