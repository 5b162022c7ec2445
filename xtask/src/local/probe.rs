//! Readiness probes spoken in each server's own protocol (no client tools needed): a TCP accept,
//! PostgreSQL's startup handshake (what `pg_isready` checks), Redis `PING`/`INFO replication` with
//! its password, an HTTP status; and the bounded wait that repeats one while a process lives.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const IO_TIMEOUT: Duration = Duration::from_secs(3);

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// Something accepts TCP connections on 127.0.0.1:`port`.
pub fn tcp_open(port: u16) -> bool {
    connect(port).is_ok()
}

/// PostgreSQL on `port` accepts connections: the startup packet gets an authentication request or
/// an error other than 57P03 "the database system is starting up" (`pg_isready`'s rule).
pub fn postgres_ready(port: u16) -> bool {
    let Ok(mut stream) = connect(port) else {
        return false;
    };
    let params = b"user\0postgres\0database\0postgres\0\0";
    let mut packet = Vec::with_capacity(8 + params.len());
    packet.extend_from_slice(&(8 + params.len() as u32).to_be_bytes());
    packet.extend_from_slice(&196_608u32.to_be_bytes()); // protocol 3.0
    packet.extend_from_slice(params);
    if stream.write_all(&packet).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while answer.len() < 5 || (answer[0] == b'E' && !answer.contains(&0)) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    postgres_answer_is_ready(&answer)
}

/// The rule of [`postgres_ready`] on the server's first message.
pub fn postgres_answer_is_ready(answer: &[u8]) -> bool {
    match answer.first() {
        Some(b'R') => true,
        Some(b'E') => !answer.split(|b| *b == 0).any(|field| field == b"C57P03"),
        _ => false,
    }
}

/// One Redis command (`args`) on `port`, after `AUTH` when `password` is set; the raw reply.
pub fn redis_command(port: u16, password: &str, args: &[&str]) -> Option<String> {
    let mut stream = connect(port).ok()?;
    let mut request = Vec::new();
    if !password.is_empty() {
        request.extend(resp_command(&["AUTH", password]));
    }
    request.extend(resp_command(args));
    stream.write_all(&request).ok()?;
    let mut reply = String::new();
    let mut buf = [0u8; 4096];
    let wanted = if password.is_empty() { 1 } else { 2 };
    loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        reply.push_str(&String::from_utf8_lossy(&buf[..n]));
        if complete_replies(&reply) >= wanted {
            break;
        }
    }
    if !password.is_empty() {
        let rest = reply.strip_prefix("+OK\r\n")?;
        return Some(rest.to_owned());
    }
    Some(reply)
}

/// The RESP encoding of a command.
pub fn resp_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend(format!("${}\r\n{arg}\r\n", arg.len()).into_bytes());
    }
    out
}

/// How many whole replies (simple, error, integer or bulk strings) `text` holds.
fn complete_replies(mut text: &str) -> usize {
    let mut count = 0;
    while let Some((line, rest)) = text.split_once("\r\n") {
        if let Some(len) = line.strip_prefix('$').and_then(|l| l.parse::<usize>().ok()) {
            if rest.len() < len + 2 {
                return count;
            }
            text = &rest[len + 2..];
        } else {
            text = rest;
        }
        count += 1;
    }
    count
}

/// Redis on `port` answers `PING` with `PONG`.
pub fn redis_ping(port: u16, password: &str) -> bool {
    redis_command(port, password, &["PING"]).is_some_and(|r| r.starts_with("+PONG"))
}

/// The Redis replica on `port` reports `master_link_status:up`.
pub fn redis_linked(port: u16, password: &str) -> bool {
    redis_command(port, password, &["INFO", "replication"])
        .is_some_and(|r| r.lines().any(|l| l.trim() == "master_link_status:up"))
}

/// The status code of `GET path` on 127.0.0.1:`port` (none when nothing answers).
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = connect(port).ok()?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        match stream.read(&mut head[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    status_code(&head[..len])
}

/// The code of an HTTP status line (`HTTP/1.1 200 OK`).
pub fn status_code(head: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(head).ok()?;
    let mut words = line.strip_prefix("HTTP/")?.split_whitespace();
    words.next()?;
    words.next()?.get(..3)?.parse().ok()
}

/// A live (not zombie) process.
pub fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
        !matches!(state, Some(Some('Z' | 'X')) | None)
    })
}

/// Why a wait ended without success.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitError {
    /// The probe still failed when the time was up.
    Timeout,
    /// The process that should answer exited.
    Exited,
}

/// Repeats `probe` every `interval` until it succeeds, `timeout` passes, or `pid` (when given) dies.
pub fn wait_until(
    timeout: Duration,
    interval: Duration,
    pid: Option<u32>,
    mut probe: impl FnMut() -> bool,
) -> Result<(), WaitError> {
    let deadline = Instant::now() + timeout;
    loop {
        if probe() {
            return Ok(());
        }
        if pid.is_some_and(|p| !pid_alive(p)) {
            return Err(WaitError::Exited);
        }
        if Instant::now() >= deadline {
            return Err(WaitError::Timeout);
        }
        std::thread::sleep(interval);
    }
}
