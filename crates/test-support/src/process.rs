//! The real binaries as test servers: spawned on a free local port, ready when their
//! `/health/ready` answers 200, killed when the test ends (pass or fail).

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long a binary may take to become ready.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A child process killed when dropped.
#[derive(Debug)]
pub struct Service(pub Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A local TCP port free right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Spawns `cmd` listening on a free port (its address in the env var `bind_var`) and waits for
/// its `/health/ready`; returns the process and its base URL.
pub async fn spawn_ready(
    http: &reqwest::Client,
    mut cmd: Command,
    bind_var: &str,
) -> (Service, String) {
    let port = free_port();
    cmd.env(bind_var, format!("127.0.0.1:{port}"));
    let name = cmd.get_program().to_string_lossy().into_owned();
    let service = Service(cmd.spawn().expect("spawn"));
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let ready = http.get(format!("{url}/health/ready")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return (service, url);
        }
        assert!(Instant::now() < deadline, "{name} never became ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
