//! Shared helpers for the end-to-end tests: where the binaries are, and the stack's environment.
//!
//! `tests/run.sh` starts an ephemeral stack, exports its environment (`deploy/local/stack.sh env`)
//! and sets `TP_REQUIRE_STACK=1`. Run alone, a test that needs the stack says it was skipped;
//! under `TP_REQUIRE_STACK=1` a missing stack is a failure, never a silent pass.

use std::path::PathBuf;

/// The path of one of the project's binaries (`tp-capital-ingest` …): `TP_CAPITAL_BIN_DIR`, else
/// the workspace's `target/debug`.
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("TP_CAPITAL_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/debug")));
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// The value of a stack variable, or `None` (after saying the test is skipped) when the stack is
/// not running. Panics instead under `TP_REQUIRE_STACK=1`.
pub fn stack_var(name: &str) -> Option<String> {
    test_support::stack::env_or_skip(name, "this test")
}

/// The repository's fixture folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"))
}
