//! The project's running stack as tests see it, once for every crate: its variables (a test
//! skips loudly without them, and fails instead under `TP_REQUIRE_STACK=1`, so the suite never
//! passes by skipping) and its components stopped and started through the stack script.

use std::time::{Duration, Instant};

/// How long a component may take to start again (a server killed a moment ago may still hold
/// its pid file or port).
const START_WITHIN: Duration = Duration::from_secs(45);

/// Whether a missing stack is a failure (`TP_REQUIRE_STACK=1`, as `tests/run.sh` sets it).
pub fn required() -> bool {
    std::env::var("TP_REQUIRE_STACK").as_deref() == Ok("1")
}

/// The value of the stack variable `name`, or `None` after a loud skip notice naming `test`.
/// Under `TP_REQUIRE_STACK=1` a missing variable panics instead.
pub fn env_or_skip(name: &str, test: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            assert!(
                !required(),
                "{test}: {name} is not set but TP_REQUIRE_STACK=1: start the stack (tests/run.sh)"
            );
            eprintln!(
                "\n*** skipped {test}: {name} not set (tests/run.sh runs the full suite) ***\n"
            );
            None
        }
    }
}

/// A stack component as `deploy/local/stack.sh` names it.
pub type Component = &'static str;

/// What [`component`] does to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `stop-component`.
    Stop,
    /// `start-component`.
    Start,
}

/// Runs `$TP_STACK_SCRIPT stop-component|start-component name` once; the error carries the
/// script's output.
pub fn component(action: Action, name: &str) -> Result<(), String> {
    let script = std::env::var("TP_STACK_SCRIPT")
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or("TP_STACK_SCRIPT is not set")?;
    let verb = match action {
        Action::Stop => "stop-component",
        Action::Start => "start-component",
    };
    let out = std::process::Command::new(&script)
        .args([verb, name])
        .output()
        .map_err(|e| format!("{script}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{verb} {name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Stops `name`; panics when the script fails.
pub fn stop(name: &str) {
    if let Err(e) = component(Action::Stop, name) {
        panic!("{e}");
    }
}

/// Starts `name`, trying again for a while; panics when it never starts.
pub fn start(name: &str) {
    if let Err(e) = start_patiently(name) {
        panic!("{e}");
    }
}

/// `start-component`, tried again until [`START_WITHIN`].
fn start_patiently(name: &str) -> Result<(), String> {
    let deadline = Instant::now() + START_WITHIN;
    loop {
        match component(Action::Start, name) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(e) => {
                eprintln!("start {name} failed, trying again: {e}");
                std::thread::sleep(Duration::from_millis(1500));
            }
        }
    }
}

/// A stack component stopped by a test; started again by [`Stopped::restart`] or, whatever
/// happens to the test, when the guard is dropped.
#[derive(Debug)]
#[must_use = "dropping the guard starts the component again"]
pub struct Stopped {
    name: Component,
    running: bool,
}

impl Stopped {
    /// Stops `name` (`postgres`, `pgbouncer`, `redis-master` …); panics when the script fails.
    pub fn stop(name: Component) -> Self {
        let guard = Self {
            name,
            running: false,
        };
        stop(name);
        guard
    }

    /// Starts the component again now.
    pub fn restart(&mut self) {
        if !self.running {
            start(self.name);
            self.running = true;
        }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if !self.running
            && let Err(e) = start_patiently(self.name)
        {
            eprintln!("could not restart {}: {e}", self.name);
        }
    }
}
