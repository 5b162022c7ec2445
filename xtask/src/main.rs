//! `cargo xtask <task>`: the project's glue that is code rather than configuration, in Rust so that
//! port allocation, environment wiring, configuration files, secrets, readiness waits and teardown
//! are typed and testable instead of embedded in bash. Plain process start/stop stays in the shell
//! scripts under `deploy/` (they are what an operator runs too); they call the `stack` tasks.
//!
//! Tasks:
//! - `ci`: every check and test on a fresh ephemeral stack (what `tests/run.sh` and `.ci/run` run).
//! - `stack …`: what `deploy/local/stack.sh` computes (settings, secrets, environment, config files,
//!   waits); see `local/mod.rs`.
//! - `free-ports N`: N distinct free TCP ports on 127.0.0.1, space-separated.

mod ci;
mod cmd;
mod local;
mod stack;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run().map(|()| 0),
        Some("stack") => local::run(&args[1..]),
        Some("free-ports") => free_ports(args.get(1).map(String::as_str)).map(|()| 0),
        Some("help" | "-h" | "--help") | None => {
            println!("{USAGE}\n{}", local::USAGE);
            Ok(0)
        }
        Some(other) => Err(format!("unknown task `{other}`\n{USAGE}\n{}", local::USAGE)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <task>
  ci              static checks, one build, an ephemeral stack, every test phase, schemathesis,
                  the deployment checks (and the Docker stack unless TP_DOCKER_STACK_TEST=0)
  free-ports N    N free TCP ports on 127.0.0.1";

fn free_ports(n: Option<&str>) -> Result<(), String> {
    let n: usize = n
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=64).contains(n))
        .ok_or("free-ports needs a count from 1 to 64")?;
    let ports = stack::free_ports(n).map_err(|e| format!("free ports: {e}"))?;
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    println!("{}", ports.join(" "));
    Ok(())
}
