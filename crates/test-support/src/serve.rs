//! A service served in the test's own process (zero2prod's `spawn_app`): its actix server bound
//! to a free port and run on the test's runtime, stopped when the test ends.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};

/// A server running in the test's process; stopped (without waiting) on drop.
#[derive(Debug)]
pub struct Served {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    handle: ServerHandle,
}

/// A listener on a free local port and its base URL, for `HttpServer::listen`.
pub fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("local address").port();
    (listener, format!("http://127.0.0.1:{port}"))
}

/// Runs `server` (already listening on `url`) on the current Tokio runtime.
pub fn run(server: Server, url: String) -> Served {
    let handle = server.handle();
    tokio::spawn(server);
    Served { url, handle }
}

impl Drop for Served {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
