//! Client sessions. rustls cannot serialise a session, so `getSession()` hands out a token
//! naming the tickets kept here, in this process; `setSession(token)` resumes from them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;

const TOKEN_MAGIC: &[u8; 8] = b"bunsock\x01";
/// Sessions kept at once; the oldest go first.
const MAX_SESSIONS: usize = 1024;
/// TLS 1.3 tickets kept per session (each resumes once).
const MAX_TICKETS: usize = 8;

#[derive(Default)]
struct Stored {
  tls13: VecDeque<Tls13ClientSessionValue>,
  tls12: Option<Tls12ClientSessionValue>,
  kx_hint: Option<NamedGroup>,
}

#[derive(Default)]
struct Registry {
  entries: HashMap<u64, Stored>,
  order: VecDeque<u64>,
}

impl Registry {
  fn entry(&mut self, id: u64) -> &mut Stored {
    if !self.entries.contains_key(&id) {
      if self.order.len() >= MAX_SESSIONS {
        if let Some(oldest) = self.order.pop_front() {
          self.entries.remove(&oldest);
        }
      }
      self.order.push_back(id);
    }
    self.entries.entry(id).or_default()
  }
}

fn registry() -> MutexGuard<'static, Registry> {
  static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
  REGISTRY
    .get_or_init(Mutex::default)
    .lock()
    .unwrap_or_else(|poisoned| poisoned.into_inner())
}

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// One client connection's session store: what it learns goes under `own`, what it resumes
/// from comes from `seed`.
#[derive(Debug)]
pub struct ConnSessions {
  own: u64,
  pub(super) seed: AtomicU64,
  /// Sessions learnt since JS last heard of them (Bun's `session` handler).
  pub(super) fresh: AtomicU32,
}

impl ConnSessions {
  pub(super) fn new() -> ConnSessions {
    ConnSessions {
      own: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
      seed: AtomicU64::new(0),
      fresh: AtomicU32::new(0),
    }
  }

  pub(super) fn token(&self) -> Vec<u8> {
    registry().entry(self.own);
    let mut token = TOKEN_MAGIC.to_vec();
    token.extend_from_slice(&self.own.to_le_bytes());
    token
  }

  fn seed(&self) -> Option<u64> {
    Some(self.seed.load(Ordering::Acquire)).filter(|id| *id != 0)
  }
}

/// A server's token: session id 0, which no client session has.
pub(super) fn server_token() -> Vec<u8> {
  let mut token = TOKEN_MAGIC.to_vec();
  token.extend_from_slice(&0u64.to_le_bytes());
  token
}

pub(super) fn parse_token(token: &[u8]) -> Option<u64> {
  let id = token.strip_prefix(TOKEN_MAGIC.as_slice())?;
  Some(u64::from_le_bytes(id.try_into().ok()?))
}

impl ClientSessionStore for ConnSessions {
  fn set_kx_hint(&self, _server_name: ServerName<'static>, group: NamedGroup) {
    registry().entry(self.own).kx_hint = Some(group);
  }

  fn kx_hint(&self, _server_name: &ServerName<'_>) -> Option<NamedGroup> {
    let seed = self.seed()?;
    registry().entries.get(&seed)?.kx_hint
  }

  fn set_tls12_session(&self, _server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
    self.fresh.fetch_add(1, Ordering::AcqRel);
    registry().entry(self.own).tls12 = Some(value);
  }

  fn tls12_session(&self, _server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
    let seed = self.seed()?;
    registry().entries.get(&seed)?.tls12.clone()
  }

  fn remove_tls12_session(&self, _server_name: &ServerName<'static>) {}

  fn insert_tls13_ticket(&self, _server_name: ServerName<'static>, value: Tls13ClientSessionValue) {
    self.fresh.fetch_add(1, Ordering::AcqRel);
    let mut registry = registry();
    let tickets = &mut registry.entry(self.own).tls13;
    if tickets.len() >= MAX_TICKETS {
      tickets.pop_front();
    }
    tickets.push_back(value);
  }

  fn take_tls13_ticket(&self, _server_name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
    let seed = self.seed()?;
    registry().entries.get_mut(&seed)?.tls13.pop_front()
  }
}
