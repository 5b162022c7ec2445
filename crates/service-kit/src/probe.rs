//! The `healthcheck` subcommand both binaries offer: one HTTP round trip to the service's own
//! readiness endpoint, so that a container healthcheck needs no shell, curl or wget in the image.
//! Exit 0 when the endpoint answers 200, 1 otherwise (with the reason on stderr).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

/// The endpoint a container healthcheck asks: readiness (the real path, database included).
pub const READINESS_PATH: &str = "/health/ready";

/// How long the whole round trip may take.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The address to connect to for a service listening on `bind`: a wildcard bind is asked on
/// the loopback of the same family.
pub fn local_target(bind: SocketAddr) -> SocketAddr {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bind.port())
}

/// `GET path` on `target`; the HTTP status code, or why there is none.
pub fn http_status(target: SocketAddr, path: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect_timeout(&target, TIMEOUT)
        .map_err(|e| format!("cannot connect to {target}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\nAccept: */*\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send to {target}: {e}"))?;
    let mut head = [0_u8; 64];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) => return Err(format!("no answer from {target}: {e}")),
        }
        if head[..read].contains(&b'\n') {
            break;
        }
    }
    parse_status_line(&head[..read]).ok_or_else(|| format!("{target} did not answer HTTP"))
}

fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(head).ok()?.lines().next()?;
    let mut words = line.split_whitespace();
    words.next().filter(|v| v.starts_with("HTTP/"))?;
    words.next()?.parse().ok()
}

/// Runs the probe for `program` listening on `bind` and turns the outcome into an exit code.
pub fn run(program: &str, bind: SocketAddr) -> ExitCode {
    let target = local_target(bind);
    match http_status(target, READINESS_PATH) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("{program} healthcheck: {READINESS_PATH} on {target} answered {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{program} healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_are_asked_on_loopback() {
        let v4: SocketAddr = "0.0.0.0:4005".parse().unwrap();
        assert_eq!(local_target(v4), "127.0.0.1:4005".parse().unwrap());
        let v6: SocketAddr = "[::]:4006".parse().unwrap();
        assert_eq!(local_target(v6), "[::1]:4006".parse().unwrap());
        let fixed: SocketAddr = "10.1.2.3:4005".parse().unwrap();
        assert_eq!(local_target(fixed), fixed);
    }

    #[test]
    fn status_lines_are_read() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.1 503 Service Unavailable"),
            Some(503)
        );
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(b""), None);
    }

    #[test]
    fn a_closed_port_is_a_failure() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert!(http_status(addr, READINESS_PATH).is_err());
    }

    #[test]
    fn a_live_endpoint_is_read() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0_u8; 512];
            let n = conn.read(&mut buf).unwrap();
            assert!(
                std::str::from_utf8(&buf[..n])
                    .unwrap()
                    .starts_with("GET /health/ready ")
            );
            conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
        });
        assert_eq!(http_status(addr, READINESS_PATH), Ok(503));
        server.join().unwrap();
    }
}
