//! Who is asking: the API key when a valid one is presented, else the client's address. The
//! address is the peer's, unless the peer is a configured trusted proxy: then the nearest
//! address in `Forwarded` (else `X-Forwarded-For`) that is not itself a trusted proxy. Those
//! headers from anyone else are ignored, so a client cannot pick its own bucket.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;

use actix_web::http::header::HeaderMap;

/// A rate-limited client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    /// A valid API key, by a hash of it (the key itself is never stored or sent to Redis).
    Key(u64),
    /// A client address.
    Ip(IpAddr),
}

impl Client {
    /// The client of a valid `key`.
    pub fn key(key: &[u8]) -> Self {
        // The same in every replica of one build: the shared counter's name depends on it.
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        Client::Key(h.finish())
    }

    /// The name of its shared counter.
    pub fn counter_name(&self) -> String {
        match self {
            Client::Key(h) => format!("k:{h:016x}"),
            Client::Ip(ip) => format!("ip:{ip}"),
        }
    }
}

/// Networks whose forwarding headers are believed (`10.0.0.0/8`, `127.0.0.1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDR networks.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (addr, bits) = match item.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (item, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("'{item}' is not an address or a network"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("'{item}' has a bad prefix length"))?,
                None => max,
            };
            // An IPv4-mapped IPv6 network is the IPv4 network it maps.
            let net = match (addr, canonical(addr)) {
                (IpAddr::V6(_), v4 @ IpAddr::V4(_)) => (v4, bits.saturating_sub(96)),
                _ => (addr, bits),
            };
            nets.push(net);
        }
        Ok(Self(nets))
    }

    /// Whether `ip` is in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0
            .iter()
            .any(|(net, bits)| match (canonical(*net), ip) {
                (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), *bits),
                (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), *bits),
                _ => false,
            })
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.0.is_empty() || !self.contains(peer) {
            return peer;
        }
        let chain = forwarded_chain(headers);
        let mut client = peer;
        for hop in chain.iter().rev() {
            match hop {
                Some(ip) if self.contains(*ip) => client = *ip,
                Some(ip) => return *ip,
                // An obfuscated or unreadable hop: the last trusted proxy is all we know.
                None => return client,
            }
        }
        client
    }
}

/// The addresses a request went through, client first: `Forwarded`'s `for=`, else
/// `X-Forwarded-For`. `None` for an entry that is no address.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<Option<IpAddr>> = headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, v)| parse_node(v))
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(parse_node)
        .collect()
}

/// `192.0.2.1`, `"[2001:db8::1]:4711"`, `192.0.2.1:80`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let v = raw.trim().trim_matches('"');
    if let Ok(ip) = v.parse() {
        return Some(ip);
    }
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.rsplit_once(':')?.0.parse().ok()
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}
