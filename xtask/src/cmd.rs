//! Running the tools: every command inherits the terminal, and a failure names the command.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// Variables given to every command on top of this process's environment (the stack's URLs, ports
/// and secrets); kept here rather than set on the process, which is unsafe with threads.
pub type Env = BTreeMap<String, String>;

/// The step being run, for the failure message at the end.
static CURRENT_STEP: Mutex<String> = Mutex::new(String::new());

/// Prints a step header (bold) and remembers it.
pub fn step(name: &str) {
    println!("\n\x1b[1m== {name}\x1b[0m");
    if let Ok(mut current) = CURRENT_STEP.lock() {
        *current = name.to_owned();
    }
}

/// The step being run.
pub fn current_step() -> String {
    CURRENT_STEP.lock().map(|s| s.clone()).unwrap_or_default()
}

/// `program args…` with `env`, inheriting stdio; an error unless it exits 0.
pub fn run(env: &Env, program: impl AsRef<Path>, args: &[&str]) -> Result<(), String> {
    let program = program.as_ref();
    let status = Command::new(program)
        .args(args)
        .envs(env)
        .status()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{} {}` failed ({status})",
            program.display(),
            args.join(" ")
        ))
    }
}

/// `program args…` with `env`, its standard output captured when it exits 0.
pub fn output(env: &Env, program: impl AsRef<Path>, args: &[&str]) -> Result<String, String> {
    let program = program.as_ref();
    let out = Command::new(program)
        .args(args)
        .envs(env)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{} {}` failed ({})",
            program.display(),
            args.join(" "),
            out.status
        ))
    }
}

/// Whether `program args…` runs and exits 0 (output discarded).
pub fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs Debian `packages` quietly (CI machines start without them).
pub fn apt_install(packages: &[&str]) -> Result<(), String> {
    run(&Env::new(), "apt-get", &["update", "-qq"])?;
    let mut args = vec![
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "-o",
        "Dpkg::Use-Pty=0",
    ];
    args.extend_from_slice(packages);
    let status = Command::new("apt-get")
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("apt-get: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("apt-get install {} failed", packages.join(" ")))
}
