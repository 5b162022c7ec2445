//! The ephemeral stack of a CI run: free ports, a temporary state folder, the native stack, Debian's
//! plain PostgreSQL and the observability exporters started by the project's own scripts, their
//! environment collected for the tests, and a teardown that runs once — at the end, on failure (with
//! the logs that say why) or on Ctrl-C/SIGTERM.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cmd::{self, Env};

/// `n` distinct free TCP ports on 127.0.0.1 (all bound at once, then released).
pub fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind(("127.0.0.1", 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// The variables of `export NAME='value'` lines, as the scripts' `env` commands print them.
pub fn parse_exports(text: &str) -> Env {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("export "))
        .filter_map(|assignment| assignment.split_once('='))
        .map(|(name, value)| {
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .map(|v| v.replace("'\\''", "'"))
                .unwrap_or_else(|| value.to_owned());
            (name.to_owned(), value)
        })
        .collect()
}

/// What the teardown needs; registered globally so the signal handler can run it too.
#[derive(Debug, Clone)]
struct Teardown {
    root: PathBuf,
    dir: PathBuf,
    env: Env,
}

static TEARDOWN: Mutex<Option<Teardown>> = Mutex::new(None);

/// A running ephemeral stack; its environment is what the tests get.
#[derive(Debug)]
pub struct Stack {
    root: PathBuf,
    dir: PathBuf,
    /// Ports, URLs and secrets of the stack, for every command run after `up`.
    pub env: Env,
}

impl Stack {
    /// Allocates the ports and the state folder (nothing starts yet) and arms the teardown.
    pub fn new(root: &Path, bin_dir: &Path) -> Result<Self, String> {
        const NAMES: [&str; 13] = [
            "TP_PG_PORT",
            "TP_PGBOUNCER_PORT",
            "TP_REDIS_MASTER_PORT",
            "TP_REDIS_REPLICA_PORT",
            "TP_API_PORT",
            "TP_INGEST_PORT",
            "TP_PLAIN_PG_PORT",
            "TP_PROMETHEUS_PORT",
            "TP_NODE_EXPORTER_PORT",
            "TP_POSTGRES_EXPORTER_PORT",
            "TP_PGBOUNCER_EXPORTER_PORT",
            "TP_REDIS_MASTER_EXPORTER_PORT",
            "TP_REDIS_REPLICA_EXPORTER_PORT",
        ];
        let ports = free_ports(NAMES.len()).map_err(|e| format!("free ports: {e}"))?;
        let dir = temp_dir()?;
        let mut env: Env = NAMES
            .iter()
            .zip(&ports)
            .map(|(name, port)| ((*name).to_owned(), port.to_string()))
            .collect();
        for (name, value) in [
            ("TP_STACK_DIR", dir.display().to_string()),
            ("TP_BIN_DIR", bin_dir.display().to_string()),
            ("TP_STACK_BUILD", "0".into()),
            // deploy/local's scripts run this binary's `stack` tasks rather than building their own.
            ("TP_XTASK", xtask_binary(bin_dir)?),
            ("TP_PG_SHARED_BUFFERS", "256MB".into()),
            // Tests post messages with any date; the archive's retention must not race them.
            ("TP_CAPITAL_MAINTENANCE_INTERVAL_SECS", "0".into()),
        ] {
            env.insert(name.to_owned(), value);
        }
        let stack = Self {
            root: root.to_owned(),
            dir,
            env,
        };
        stack.arm();
        Ok(stack)
    }

    fn script(&self, name: &str) -> PathBuf {
        self.root.join("deploy/local").join(name)
    }

    fn arm(&self) {
        if let Ok(mut slot) = TEARDOWN.lock() {
            *slot = Some(Teardown {
                root: self.root.clone(),
                dir: self.dir.clone(),
                env: self.env.clone(),
            });
        }
    }

    /// Starts everything and collects the environment the tests need.
    pub fn up(&mut self, bin_dir: &Path) -> Result<(), String> {
        let (stack, plain, observability) = (
            self.script("stack.sh"),
            self.script("plain-postgres.sh"),
            self.script("observability.sh"),
        );
        cmd::run(&self.env, &stack, &["up"])?;
        cmd::run(&self.env, &plain, &["up"])?;
        for script in [&stack, &plain] {
            let exports = parse_exports(&cmd::output(&self.env, script, &["env"])?);
            self.env.extend(exports);
        }
        // Prometheus and the exporters scrape the stack: the metric-name check compares their live
        // /metrics with what the alert rules and the dashboard name.
        cmd::run(&self.env, &observability, &["up"])?;
        let exports = parse_exports(&cmd::output(&self.env, &observability, &["env"])?);
        self.env.extend(exports);
        for (name, value) in [
            ("TP_REQUIRE_STACK", "1".to_owned()),
            ("TP_STACK_SCRIPT", stack.display().to_string()),
            ("TP_CAPITAL_BIN_DIR", bin_dir.display().to_string()),
        ] {
            self.env.insert(name.to_owned(), value);
        }
        self.arm();
        cmd::run(&self.env, &stack, &["status"])
    }

    /// Where the run's outputs (schemathesis) go.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops every server (before the Docker run takes the machine); the folder stays.
    pub fn stop_servers(&self) {
        stop_servers(&self.root, &self.env);
    }
}

/// Runs the teardown once: on failure the logs' tails first, then every server stopped and the
/// folder removed.
pub fn teardown(failed: bool) {
    let Some(t) = TEARDOWN.lock().ok().and_then(|mut slot| slot.take()) else {
        return;
    };
    cmd::step("teardown");
    if failed {
        print_failure_logs(&t.dir);
    }
    stop_servers(&t.root, &t.env);
    let _ = std::fs::remove_dir_all(&t.dir);
}

fn stop_servers(root: &Path, env: &Env) {
    for (script, action) in [
        ("observability.sh", "down"),
        ("plain-postgres.sh", "destroy"),
        ("stack.sh", "destroy"),
    ] {
        let path = root.join("deploy/local").join(script);
        if cmd::output(env, &path, &[action]).is_err() {
            eprintln!("teardown: {script} {action} failed");
        }
    }
}

/// Short tails of the services' logs (lines cut at 400 characters), then schemathesis' failures.
fn print_failure_logs(dir: &Path) {
    for name in ["api", "ingest", "migrate"] {
        let log = dir.join("logs").join(format!("{name}.log"));
        if let Ok(text) = std::fs::read_to_string(&log) {
            println!("--- tail {}", log.display());
            let lines: Vec<&str> = text.lines().collect();
            for line in &lines[lines.len().saturating_sub(12)..] {
                println!("{}", line.chars().take(400).collect::<String>());
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("schemathesis.out")) {
        println!("--- schemathesis (failures and summary)");
        let start = text
            .find("FAILURES")
            .or_else(|| text.find("ERRORS"))
            .or_else(|| text.find("SUMMARY"))
            .unwrap_or(text.len());
        let lines: Vec<&str> = text[start..].lines().collect();
        for line in &lines[lines.len().saturating_sub(120)..] {
            println!("{}", line.chars().take(400).collect::<String>());
        }
    }
}

/// The xtask for deploy/local's scripts (their Rust half): the one the build step put in `bin_dir`
/// (that build replaces the running binary's file when its features differ), else this binary.
pub fn xtask_binary(bin_dir: &Path) -> Result<String, String> {
    let built = bin_dir.join("xtask");
    if built.is_file() {
        return Ok(built.display().to_string());
    }
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .map_err(|e| format!("this binary's path: {e}"))
}

fn temp_dir() -> Result<PathBuf, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "tp-capital-test.{}-{nanos:08x}",
        std::process::id()
    ));
    std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_are_read_with_their_quotes_undone() {
        let env = parse_exports(
            "export A='postgres://u:p@h:1/db'\nexport B='it'\\''s'\n# comment\nexport C=plain\n",
        );
        assert_eq!(env["A"], "postgres://u:p@h:1/db");
        assert_eq!(env["B"], "it's");
        assert_eq!(env["C"], "plain");
        assert_eq!(env.len(), 3);
    }

    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let ports = free_ports(13).expect("ports");
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 13);
        assert!(ports.iter().all(|p| *p > 0));
        TcpListener::bind(("127.0.0.1", ports[0])).expect("still free");
    }
}
