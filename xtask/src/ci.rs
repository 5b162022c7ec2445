//! `cargo xtask ci`: every check and test of the project on a fresh, ephemeral stack, in order:
//!   1. static checks: rustfmt, clippy -D warnings, the alert rules (promtool), the hexagon
//!      (crates/domain names no infrastructure);
//!   2. one debug build of every binary and test;
//!   3. an ephemeral native stack (TimescaleDB, PgBouncer, Redis master/replica, api, ingest) on free
//!      ports in a temporary folder, Debian's plain PostgreSQL 15 and the exporters, torn down even on
//!      failure or Ctrl-C;
//!   4. the tests in parallel, then the fault-injection tests (names containing `fault_`: they stop
//!      and restart servers) one at a time, then schemathesis against the live api;
//!   5. the deployment files (compose config, Kubernetes manifests), then the compose stack on Docker
//!      under faults with the binaries of step 2 (`deploy/docker/test-stack.sh`, which installs the
//!      engine if absent; `TP_DOCKER_STACK_TEST` says whether it runs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::cmd::{self, Env, current_step, step};
use crate::stack::{self, Stack};

/// Whether the compose stack on Docker runs when `TP_DOCKER_STACK_TEST` is unset (`1` runs it, `0`
/// skips it).
const DOCKER_BY_DEFAULT: bool = true;

/// Crates `crates/domain` must never depend on (the hexagon).
const INFRASTRUCTURE: [&str; 10] = [
    "sea-orm",
    "sea-query",
    "sqlx",
    "fred",
    "redis",
    "reqwest",
    "tonic",
    "hyper",
    "tokio",
    "tokio-postgres",
];

/// Runs the whole CI; the stack is torn down whatever happens.
pub fn run() -> Result<(), String> {
    let root = repo_root()?;
    std::env::set_current_dir(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    ctrlc::set_handler(|| {
        stack::teardown(true);
        std::process::exit(130);
    })
    .map_err(|e| format!("signal handler: {e}"))?;
    let result = phases(&root);
    stack::teardown(result.is_err());
    match &result {
        Ok(()) => step("all green"),
        Err(e) => println!("cargo xtask ci: FAILED in step: {} ({e})", current_step()),
    }
    result
}

fn phases(root: &Path) -> Result<(), String> {
    let mut env = Env::new();
    // No incremental caches: a one-off build does not reuse them, and they double the target's size.
    if std::env::var_os("CARGO_INCREMENTAL").is_none() {
        env.insert("CARGO_INCREMENTAL".into(), "0".into());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    tools(&env, &cargo)?;
    static_checks(&env, &cargo)?;

    step("build");
    cmd::run(
        &env,
        &cargo,
        &["build", "--workspace", "--bins", "--locked"],
    )?;
    cmd::run(
        &env,
        &cargo,
        &["nextest", "run", "--workspace", "--locked", "--no-run"],
    )?;

    step("ephemeral stack");
    let bin_dir = bin_dir(&env, &cargo)?;
    for bin in ["tp-capital-api", "tp-capital-ingest", "tp-capital-migrate"] {
        if !bin_dir.join(bin).is_file() {
            return Err(format!("{}/{bin} was not built", bin_dir.display()));
        }
    }
    let mut stack = Stack::new(root, &bin_dir)?;
    stack.env.extend(env);
    stack.up(&bin_dir)?;
    let env = &stack.env;

    step("tests (parallel)");
    let nextest = [
        "nextest",
        "run",
        "--workspace",
        "--locked",
        "--profile",
        "ci",
    ];
    cmd::run(
        env,
        &cargo,
        &[&nextest[..], &["-E", "not test(/fault_/)"]].concat(),
    )?;
    step("fault-injection tests (one at a time)");
    let faults = [
        "-E",
        "test(/fault_/)",
        "--test-threads",
        "1",
        "--no-tests",
        "warn",
    ];
    cmd::run(env, &cargo, &[&nextest[..], &faults[..]].concat())?;
    cmd::run(env, root.join("deploy/local/stack.sh"), &["status"])?;

    step("schemathesis against the live api");
    schemathesis(env, root, stack.dir())?;

    step("deployment files: compose config (and a missing secret), Kubernetes manifests");
    cmd::run(env, root.join("deploy/docker/check-config.sh"), &[])?;
    cmd::run(env, root.join("deploy/observability/check-compose.sh"), &[])?;
    cmd::run(env, root.join("tests/k8s-validate.sh"), &[])?;

    let docker = std::env::var("TP_DOCKER_STACK_TEST").map_or(DOCKER_BY_DEFAULT, |v| v == "1");
    if !docker {
        println!("skipped: the compose stack on Docker (TP_DOCKER_STACK_TEST=0)");
        return Ok(());
    }
    step("the compose stack on Docker under faults (deploy/docker/test-stack.sh)");
    // The native stack is done: its CPU and memory go to the containers.
    stack.stop_servers();
    let mut docker = Env::new();
    docker.insert("TP_DOCKER_BIN_DIR".into(), bin_dir.display().to_string());
    docker.insert("TP_XTASK".into(), stack::xtask_binary(&bin_dir)?);
    // Our images, containers and volumes are removed at the end, the base image too (finite disk).
    docker.insert("TP_DOCKER_PRUNE_BASE".into(), "1".into());
    cmd::run(&docker, root.join("deploy/docker/test-stack.sh"), &[])
}

fn tools(env: &Env, cargo: &str) -> Result<(), String> {
    step("tools");
    if !cmd::succeeds(cargo, &["nextest", "--version"]) {
        cmd::run(env, cargo, &["install", "cargo-nextest", "--locked"])?;
    }
    if !cmd::succeeds("python3", &["--version"]) {
        cmd::apt_install(&["python3", "python3-venv"])?;
    }
    if !cmd::succeeds("promtool", &["--version"]) {
        cmd::apt_install(&["prometheus"])?;
    }
    Ok(())
}

fn static_checks(env: &Env, cargo: &str) -> Result<(), String> {
    step("rustfmt");
    cmd::run(env, cargo, &["fmt", "--all", "--", "--check"])?;
    step("clippy");
    let clippy = [
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ];
    cmd::run(env, cargo, &clippy)?;
    step("alert rules: promtool check and unit tests");
    let rules = "deploy/observability/rules/tp-capital.rules.yml";
    cmd::run(env, "promtool", &["check", "rules", rules])?;
    let status = std::process::Command::new("promtool")
        .args(["test", "rules", "tp-capital.test.yml"])
        .current_dir("deploy/observability/rules")
        .status()
        .map_err(|e| format!("promtool: {e}"))?;
    if !status.success() {
        return Err("promtool test rules failed".into());
    }
    step("hexagon: crates/domain depends on no infrastructure");
    let tree = |edges: &str| {
        cmd::output(
            env,
            cargo,
            &["tree", "-p", "domain", "--prefix", "none", "-e", edges],
        )
    };
    let bad = infrastructure_in(&tree("normal,build,dev")?);
    if !bad.is_empty() {
        return Err(format!("crates/domain depends on infrastructure: {bad:?}"));
    }
    let crates: BTreeSet<String> = tree("normal")?.lines().map(str::to_owned).collect();
    println!("ok: {} crates, none of them infrastructure", crates.len());
    Ok(())
}

/// The infrastructure crates named in `cargo tree --prefix none` output.
fn infrastructure_in(tree: &str) -> BTreeSet<String> {
    tree.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| {
            INFRASTRUCTURE.contains(name)
                || name.starts_with("actix")
                || name.starts_with("opentelemetry")
        })
        .map(str::to_owned)
        .collect()
}

/// Where cargo put the debug binaries (`CARGO_TARGET_DIR` or the build config may move them).
fn bin_dir(env: &Env, cargo: &str) -> Result<PathBuf, String> {
    let metadata = cmd::output(
        env,
        cargo,
        &["metadata", "--format-version", "1", "--no-deps"],
    )?;
    let metadata: serde_json::Value =
        serde_json::from_str(&metadata).map_err(|e| format!("cargo metadata: {e}"))?;
    metadata["target_directory"]
        .as_str()
        .map(|dir| Path::new(dir).join("debug"))
        .ok_or_else(|| "cargo metadata has no target_directory".into())
}

/// schemathesis, its output also kept in the stack's folder for the failure report.
fn schemathesis(env: &Env, root: &Path, dir: &Path) -> Result<(), String> {
    let script = root.join("tests/schemathesis.sh");
    let out = dir.join("schemathesis.out");
    let line = format!(
        "set -o pipefail; '{}' 2>&1 | tee '{}'",
        script.display(),
        out.display()
    );
    cmd::run(env, "bash", &["-c", &line])
}

fn repo_root() -> Result<PathBuf, String> {
    let manifest =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    Path::new(&manifest)
        .parent()
        .map(Path::to_owned)
        .ok_or_else(|| "xtask has no parent folder".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hexagon_check_names_infrastructure_and_nothing_else() {
        let tree = "domain v0.1.0 (/x)\nchrono v0.4.42\nsqlx v0.8.6\nopentelemetry_sdk v0.31.0\n\
                    actix-rt v2\nserde v1\n";
        let bad: Vec<String> = infrastructure_in(tree).into_iter().collect();
        assert_eq!(bad, ["actix-rt", "opentelemetry_sdk", "sqlx"]);
        assert!(infrastructure_in("domain v0.1.0\nthiserror v2\n").is_empty());
    }
}
