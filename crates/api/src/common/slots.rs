//! Per-client caps on long-lived or costly requests (SSE streams, exports): a client — its valid
//! API key, else its address — holds at most N slots at once, so no single client can take a
//! whole shared pool.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, web};
use service_kit::security::API_KEY_HEADER;

use crate::state::ApiState;

/// Who is asking, for per-client caps: a valid API key (hashed), else the peer address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientId {
    /// A caller with a valid `X-API-Key` (the key's hash).
    Key(u64),
    /// Anyone else, by address.
    Ip(IpAddr),
}

impl ClientId {
    /// The client of `req`.
    pub fn of(req: &HttpRequest) -> Self {
        let valid_key = req.headers().get(API_KEY_HEADER).filter(|k| {
            req.app_data::<web::Data<ApiState>>()
                .is_some_and(|s| s.admin.keys.matches_any(k.as_bytes()))
        });
        match valid_key {
            Some(key) => {
                let mut h = DefaultHasher::new();
                key.as_bytes().hash(&mut h);
                Self::Key(h.finish())
            }
            None => Self::Ip(
                req.peer_addr()
                    .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip()),
            ),
        }
    }

    /// Whether the client presented a valid API key.
    pub fn has_key(&self) -> bool {
        matches!(self, Self::Key(_))
    }
}

/// At most `per_client` concurrent slots per [`ClientId`].
#[derive(Debug, Clone)]
pub struct ClientSlots {
    per_client: usize,
    held: Arc<Mutex<HashMap<ClientId, usize>>>,
}

/// One held slot, released on drop.
#[derive(Debug)]
pub struct Slot {
    client: ClientId,
    held: Arc<Mutex<HashMap<ClientId, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.client);
            }
        }
    }
}

impl ClientSlots {
    /// Caps of `per_client` slots (0 means 1).
    pub fn new(per_client: usize) -> Self {
        Self {
            per_client: per_client.max(1),
            held: Arc::default(),
        }
    }

    /// A slot for `client`, or `None` when it holds them all.
    pub fn acquire(&self, client: ClientId) -> Option<Slot> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(client.clone()).or_insert(0);
        if *n >= self.per_client {
            return None;
        }
        *n += 1;
        Some(Slot {
            client,
            held: self.held.clone(),
        })
    }

    /// Slots `client` holds now.
    pub fn held_by(&self, client: &ClientId) -> usize {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(client).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_its_slots_and_drops_release_them() {
        let slots = ClientSlots::new(2);
        let a = ClientId::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let b = ClientId::Key(7);
        let first = slots.acquire(a.clone()).expect("1st");
        let _second = slots.acquire(a.clone()).expect("2nd");
        assert!(slots.acquire(a.clone()).is_none(), "capped");
        assert!(slots.acquire(b.clone()).is_some(), "others are not");
        drop(first);
        assert_eq!(slots.held_by(&a), 1);
        assert!(slots.acquire(a).is_some(), "released on drop");
        assert_eq!(slots.held_by(&b), 0);
    }
}
