//! The TLS half of a connection: a rustls session behind a mutex, shared by the JS thread
//! (writes, introspection) and the connection's task (reads, the handshake).
//!
//! A client session is created only when JS starts it (after `open` and the connect promise's
//! callbacks ran), so that `setSession()` and `setVerifyMode()` there still apply, as in Bun. A
//! server session is created once its ClientHello is read (`tls::Hello`), after JS chose for it
//! when the listener asks to.

mod sessions;

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, Connection, HandshakeKind, NamedGroup, ProtocolVersion};
use socket2::Socket;

use crate::error::{SocketError, TlsFailure};
use crate::net::secure::sessions::{parse_token, server_token, ConnSessions};
use crate::net::tls::{
  self, Answer, ClientTls, HandshakeOutcome, Hello, KeyLines, ServerTls, Step, TlsNote, VerifyMode,
};

/// Plaintext encrypted per step of a write: four full records, sent with one `sendmsg`.
const WRITE_BATCH: usize = 64 * 1024;

// `phase` values.
const PENDING: u8 = 0;
const HANDSHAKING: u8 = 1;
const ESTABLISHED: u8 = 2;
const FAILED: u8 = 3;

/// Which end we are, with what the verdict after the handshake needs.
pub enum Role {
  Server(Arc<ServerTls>),
  Client {
    tls: Arc<ClientTls>,
    name: ServerName<'static>,
    /// False for `serverName: ''`: verify against the host, send no SNI.
    sni: bool,
  },
}

pub struct Secure {
  role: Role,
  session: Mutex<Option<Connection>>,
  phase: AtomicU8,
  /// Client only: this connection's resumption state.
  sessions: Option<Arc<ConnSessions>>,
  /// The server certificate a strict client refused.
  refused: Mutex<Option<Vec<u8>>>,
  /// Made by `upgradeTLS`: the records also go to the `raw` socket, as in Bun.
  tapped: std::sync::atomic::AtomicBool,
  /// Server: the ClientHello stage, until the session exists.
  hello: Option<Box<Mutex<Hello>>>,
  /// `VERIFY_*` bits: the verify mode this connection's handshake follows.
  verify: AtomicU8,
  /// Client: `keylog` and `session` handlers to feed (set by `start`).
  keylog: OnceLock<Arc<KeyLines>>,
  notify_sessions: AtomicBool,
}

// `verify` bits.
const VERIFY_REQUEST: u8 = 1;
const VERIFY_REJECT: u8 = 2;

/// What feeding received bytes produced, in the order to report it.
#[derive(Default)]
pub struct Fed {
  pub handshake: Option<HandshakeOutcome>,
  /// The session failed; `phase` tells whether during the handshake.
  pub failure: Option<SocketError>,
  /// The peer sent close_notify.
  pub closed: bool,
  /// Records to send wait for the kernel.
  pub backlog: bool,
  /// For JS after the handshake's end (if any), before the plaintext.
  pub notes: Vec<TlsNote>,
}

/// What a write did.
pub enum Written {
  /// `taken` plaintext bytes became records; `pending` when some of those still wait for the
  /// kernel (at most one batch).
  Took {
    taken: usize,
    pending: bool,
  },
  /// Not before the handshake finished (Bun drops such writes).
  NotReady,
  Closed,
}

/// Why `export_keying_material` gave nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyingError {
  NotEstablished,
  /// More than the key schedule can give (BoringSSL: OUTPUT_TOO_LARGE).
  TooLarge,
  NoMemory,
}

/// Introspection that needs no copying of certificates.
pub struct Info {
  pub version: Option<&'static str>,
  pub cipher: Option<&'static str>,
  pub alpn: Option<Vec<u8>>,
  pub resumed: bool,
  pub group: Option<String>,
  pub servername: Option<String>,
}

impl Secure {
  /// A server session, handshaking as soon as the client speaks.
  pub fn server(tls: Arc<ServerTls>) -> Result<Secure, SocketError> {
    let verify = verify_bits(tls.mode());
    Ok(Secure {
      role: Role::Server(tls),
      session: Mutex::new(None),
      phase: AtomicU8::new(HANDSHAKING),
      sessions: None,
      refused: Mutex::new(None),
      tapped: Default::default(),
      hello: Some(Box::default()),
      verify: AtomicU8::new(verify),
      keylog: OnceLock::new(),
      notify_sessions: AtomicBool::new(false),
    })
  }

  /// A client session, waiting for `start`.
  pub fn client(tls: Arc<ClientTls>, name: ServerName<'static>, sni: bool) -> Secure {
    let verify = verify_bits(VerifyMode {
      request_cert: false,
      reject_unauthorized: tls.reject_unauthorized(),
    });
    Secure {
      role: Role::Client { tls, name, sni },
      session: Mutex::new(None),
      phase: AtomicU8::new(PENDING),
      sessions: Some(Arc::new(ConnSessions::new())),
      refused: Mutex::new(None),
      tapped: Default::default(),
      hello: None,
      verify: AtomicU8::new(verify),
      keylog: OnceLock::new(),
      notify_sessions: AtomicBool::new(false),
    }
  }

  /// Bun's `setVerifyMode()`: for a client, before `start`; for a server, JS passes it with its
  /// answer to the ClientHello.
  pub fn set_verify_mode(&self, mode: VerifyMode) {
    self.verify.store(verify_bits(mode), Ordering::Release);
  }

  /// Client, before `start`: which of Bun's `keylog` and `session` handlers exist.
  pub fn set_handlers(&self, keylog: bool, sessions: bool) {
    if keylog {
      let _ = self.keylog.set(Arc::default());
    }
    self.notify_sessions.store(sessions, Ordering::Release);
  }

  /// Server: JS's choice for the ClientHello it was shown; `start` then goes on. False when no
  /// ClientHello waits (the connection closed meanwhile).
  pub fn answer_hello(&self, answer: Answer) -> bool {
    self.set_verify_mode(answer.mode);
    match &self.hello {
      Some(hello) => lock(hello).answer(answer),
      None => false,
    }
  }

  pub fn is_pending(&self) -> bool {
    self.phase.load(Ordering::Acquire) == PENDING
  }

  pub fn is_handshaking(&self) -> bool {
    self.phase.load(Ordering::Acquire) == HANDSHAKING
  }

  pub fn is_established(&self) -> bool {
    self.phase.load(Ordering::Acquire) == ESTABLISHED
  }

  pub fn set_tapped(&self) {
    self.tapped.store(true, Ordering::Release);
  }

  pub fn is_tapped(&self) -> bool {
    self.tapped.load(Ordering::Acquire)
  }

  /// Client: creates the session (its ClientHello waits in the session for `flush`). Server:
  /// builds the session for a ClientHello JS answered, sending a refusal's alert on `out`.
  /// Returns what JS is to hear of it.
  pub fn start(&self, out: &Socket) -> Result<Vec<TlsNote>, SocketError> {
    let (tls, name, sni) = match &self.role {
      Role::Client { tls, name, sni } => (tls, name, sni),
      Role::Server(tls) => return self.resume_server(tls, out),
    };
    if self.phase.load(Ordering::Acquire) != PENDING {
      return Ok(Vec::new());
    }
    let mode = self.verify_mode();
    let mut config = tls.connection_config(mode.reject_unauthorized, self.keylog.get().cloned());
    config.enable_sni = *sni;
    if let Some(sessions) = &self.sessions {
      config.resumption = Resumption::store(sessions.clone());
    }
    let mut session =
      ClientConnection::new(Arc::new(config), name.clone()).map_err(|err| tls::protocol_error(&err))?;
    session.set_buffer_limit(None);
    *self.lock() = Some(Connection::Client(session));
    self.phase.store(HANDSHAKING, Ordering::Release);
    Ok(Vec::new())
  }

  /// The server half of `start`.
  fn resume_server(&self, tls: &ServerTls, out: &Socket) -> Result<Vec<TlsNote>, SocketError> {
    let Some(hello) = &self.hello else {
      return Ok(Vec::new());
    };
    let Some((step, mode)) = lock(hello).resume(tls) else {
      return Ok(Vec::new());
    };
    self.set_verify_mode(mode);
    let mut guard = self.lock();
    let mut notes = Vec::new();
    match self.begin_server(step, &mut guard, out, &mut notes) {
      Ok(Some(leftover)) => {
        self.phase.store(HANDSHAKING, Ordering::Release);
        // What arrived after the ClientHello while JS chose: nothing the peer may send yet
        // but garbage, which fails the handshake here.
        if let Some(session) = guard.as_mut() {
          let mut rest = leftover.as_slice();
          while !rest.is_empty() {
            let read = session
              .read_tls(&mut rest)
              .map_err(|err| SocketError::tls(TlsFailure::Protocol, err.to_string()));
            if let Err(err) = read.and_then(|_| {
              session
                .process_new_packets()
                .map_err(|err| tls::handshake_error(&err))
            }) {
              self.phase.store(FAILED, Ordering::Release);
              return Err(err);
            }
          }
        }
        self.take_keylog(&mut notes);
        Ok(notes)
      }
      Ok(None) => Ok(notes),
      Err(err) => {
        self.phase.store(FAILED, Ordering::Release);
        Err(err)
      }
    }
  }

  /// Acts on a step of the ClientHello stage: a session goes into `guard` (returns the bytes
  /// it has yet to read), a question for JS into `notes` (the connection waits: `PENDING`
  /// stops its reads), a failure sends its alert.
  fn begin_server(
    &self,
    step: Step,
    guard: &mut Option<Connection>,
    out: &Socket,
    notes: &mut Vec<TlsNote>,
  ) -> Result<Option<Vec<u8>>, SocketError> {
    match step {
      Step::Wait => Ok(None),
      Step::Ask(note) => {
        self.phase.store(PENDING, Ordering::Release);
        notes.push(note);
        Ok(None)
      }
      Step::Session(session, leftover) => {
        if let Some(keylog) = self
          .hello
          .as_ref()
          .and_then(|hello| lock(hello).keylog().cloned())
        {
          let _ = self.keylog.set(keylog);
        }
        *guard = Some(Connection::Server(*session));
        Ok(Some(leftover))
      }
      Step::Failed(err, alert) => {
        if let Some(mut alert) = alert {
          let mut out = SocketWriter(out);
          while let Ok(n) = alert.write(&mut out) {
            if n == 0 {
              break;
            }
          }
        }
        Err(err)
      }
    }
  }

  /// The verify mode the handshake follows.
  pub fn verify_mode(&self) -> VerifyMode {
    let bits = self.verify.load(Ordering::Acquire);
    VerifyMode {
      request_cert: bits & VERIFY_REQUEST != 0,
      reject_unauthorized: bits & VERIFY_REJECT != 0,
    }
  }

  /// Key log lines rustls wrote since the last call, for JS.
  fn take_keylog(&self, notes: &mut Vec<TlsNote>) {
    if let Some(keylog) = self.keylog.get() {
      notes.extend(keylog.take().into_iter().map(TlsNote::Keylog));
    }
  }

  /// Feeds received bytes, appends the plaintext they carried to `plain`, and sends on `out`
  /// what the session has to answer.
  pub fn feed(&self, data: &[u8], plain: &mut Vec<u8>, out: &Socket) -> Fed {
    let mut fed = Fed::default();
    let mut guard = self.lock();
    // A server's session exists once its ClientHello was read: until then the bytes go there.
    let leftover;
    let mut data: &[u8] = data;
    let mut fresh = false;
    if let (None, Some(hello), Role::Server(tls)) = (guard.as_ref(), &self.hello, &self.role) {
      let step = lock(hello).read(tls, data);
      match self.begin_server(step, &mut guard, out, &mut fed.notes) {
        Ok(Some(rest)) => {
          leftover = rest;
          data = &leftover;
          fresh = true;
        }
        Ok(None) => return fed,
        Err(err) => {
          self.phase.store(FAILED, Ordering::Release);
          fed.failure = Some(err);
          return fed;
        }
      }
    }
    let Some(session) = guard.as_mut() else {
      return fed;
    };
    let was_handshaking = session.is_handshaking();
    plain.reserve(data.len());
    // A session just built may hold records beyond its ClientHello: process once regardless.
    while !data.is_empty() || std::mem::take(&mut fresh) {
      // Reading nothing would tell rustls that the peer closed.
      let read = if data.is_empty() {
        Ok(0)
      } else {
        session.read_tls(&mut data)
      };
      if let Err(err) = read {
        fed.failure = Some(SocketError::tls(TlsFailure::Protocol, err.to_string()));
        break;
      }
      match session.process_new_packets() {
        Ok(state) => {
          if state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() {
            match session.reader().read_to_end(plain) {
              Ok(_) => fed.closed = true,
              Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
              Err(_) => fed.closed = true,
            }
          }
        }
        Err(err) => {
          if let Some(leaf) = tls::refused_certificate(&err) {
            *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(leaf);
          }
          fed.failure = Some(if session.is_handshaking() {
            tls::handshake_error(&err)
          } else {
            tls::protocol_error(&err)
          });
          break;
        }
      }
    }
    if fed.failure.is_some() {
      self.phase.store(FAILED, Ordering::Release);
      if matches!(self.role, Role::Client { .. })
        && was_handshaking
        && fed.failure.as_ref().is_some_and(is_certificate_error)
      {
        // Bun's client hangs up on a refused certificate without an alert: drop ours.
        *guard = None;
      }
    } else if was_handshaking && !session.is_handshaking() {
      let peer = session.peer_certificates();
      let mode = self.verify_mode();
      fed.handshake = Some(match &self.role {
        Role::Server(tls) => tls.outcome(peer, mode),
        Role::Client { tls, name, .. } => tls.outcome(peer, name, mode.reject_unauthorized),
      });
      self.phase.store(ESTABLISHED, Ordering::Release);
    }
    self.take_keylog(&mut fed.notes);
    if let (Some(sessions), true) = (&self.sessions, self.notify_sessions.load(Ordering::Acquire)) {
      for _ in 0..sessions.fresh.swap(0, Ordering::AcqRel) {
        fed.notes.push(TlsNote::Session(sessions.token()));
      }
    }
    // Handshake messages and alerts the records called for, sent under the same lock.
    fed.backlog = guard.as_mut().is_some_and(|session| !flush_session(session, out));
    fed
  }

  /// The handshake cannot finish (the peer closed): marks it failed.
  pub fn fail(&self) {
    self.phase.store(FAILED, Ordering::Release);
  }

  /// Writes pending records to `out` without blocking; true once none are left.
  pub fn flush(&self, out: &Socket) -> bool {
    match self.lock().as_mut() {
      Some(session) => flush_session(session, out),
      None => true,
    }
  }

  /// Encrypts `data` a batch at a time while the kernel takes the records, as Bun's write takes
  /// what the socket can take now: never more than one batch of ciphertext waits here (for
  /// `flush`), so a huge write to a peer that does not read costs no memory.
  pub fn write(&self, data: &[u8], out: &Socket) -> Written {
    match self.phase.load(Ordering::Acquire) {
      ESTABLISHED => {}
      FAILED => return Written::Closed,
      _ => return Written::NotReady,
    }
    let mut guard = self.lock();
    let Some(session) = guard.as_mut() else {
      return Written::NotReady;
    };
    if session.wants_write() && !flush_session(session, out) {
      return Written::Took {
        taken: 0,
        pending: true,
      };
    }
    let mut taken = 0;
    while taken < data.len() {
      let batch = &data[taken..data.len().min(taken + WRITE_BATCH)];
      match session.writer().write(batch) {
        Ok(n) => taken += n,
        Err(_) => return Written::Closed,
      }
      if !flush_session(session, out) {
        return Written::Took { taken, pending: true };
      }
    }
    Written::Took {
      taken,
      pending: false,
    }
  }

  /// Queues close_notify and sends it if the kernel takes it now.
  pub fn close_notify(&self, out: &Socket) {
    if let Some(session) = self.lock().as_mut() {
      session.send_close_notify();
      flush_session(session, out);
    }
  }

  /// None before the session exists.
  pub fn info(&self) -> Option<Info> {
    let guard = self.lock();
    let session = guard.as_ref()?;
    let established = self.is_established();
    let servername = match (session, &self.role) {
      (Connection::Server(server), _) => server.server_name().map(str::to_owned),
      (Connection::Client(_), Role::Client { name, sni: true, .. }) => Some(name.to_str().into_owned()),
      _ => None,
    };
    Some(Info {
      version: session
        .protocol_version()
        .filter(|_| established)
        .map(|v| match v {
          ProtocolVersion::TLSv1_3 => "TLSv1.3",
          ProtocolVersion::TLSv1_2 => "TLSv1.2",
          _ => "unknown",
        }),
      cipher: session
        .negotiated_cipher_suite()
        .filter(|_| established)
        .and_then(|suite| suite.suite().as_str()),
      alpn: session.alpn_protocol().map(<[u8]>::to_vec),
      resumed: session.handshake_kind() == Some(HandshakeKind::Resumed),
      group: session
        .negotiated_key_exchange_group()
        .map(|group| group_name(group.name())),
      servername,
    })
  }

  /// The peer's chain in DER, leaf first; after a refused server certificate, that one.
  pub fn peer_certificates(&self) -> Option<Vec<Vec<u8>>> {
    if let Some(leaf) = self.refused.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
      return Some(vec![leaf.clone()]);
    }
    let guard = self.lock();
    let certs = guard.as_ref()?.peer_certificates()?;
    Some(certs.iter().map(|cert| cert.to_vec()).collect())
  }

  /// RFC 5705 keying material of `length` bytes. TLS 1.3 derives it with HKDF-Expand, which
  /// gives at most 255 hash lengths: more is refused before anything is allocated.
  pub fn export_keying_material(
    &self,
    length: usize,
    label: &[u8],
    context: Option<&[u8]>,
  ) -> Result<Vec<u8>, KeyingError> {
    if !self.is_established() {
      return Err(KeyingError::NotEstablished);
    }
    let guard = self.lock();
    let session = guard.as_ref().ok_or(KeyingError::NotEstablished)?;
    // rustls refuses an empty output; Bun gives an empty Buffer.
    if length == 0 {
      return Ok(Vec::new());
    }
    if let Some(rustls::SupportedCipherSuite::Tls13(suite)) = session.negotiated_cipher_suite() {
      if length > 255 * suite.common.hash_provider.output_len() {
        return Err(KeyingError::TooLarge);
      }
    }
    // TLS 1.2 has no limit (Bun hands out 4 GiB): an allocation that fails is an error, not an
    // abort.
    let mut output = Vec::new();
    output
      .try_reserve_exact(length)
      .map_err(|_| KeyingError::NoMemory)?;
    output.resize(length, 0);
    session
      .export_keying_material(output, label, context)
      .map_err(|_| KeyingError::TooLarge)
  }

  /// The token `getSession()` returns after the handshake. A server's names no client
  /// session (Bun gives servers a Buffer too): `setSession` with it resumes nothing.
  pub fn session_token(&self) -> Option<Vec<u8>> {
    if !self.is_established() {
      return None;
    }
    match &self.sessions {
      Some(sessions) => Some(sessions.token()),
      None => Some(server_token()),
    }
  }

  /// Resumes from a token `session_token` gave, if the handshake has not started; anything
  /// else is ignored, as Bun ignores a session it cannot use.
  pub fn set_session(&self, token: &[u8]) {
    if let (Some(sessions), true) = (&self.sessions, self.is_pending()) {
      if let Some(id) = parse_token(token) {
        sessions.seed.store(id, Ordering::Release);
      }
    }
  }

  fn lock(&self) -> MutexGuard<'_, Option<Connection>> {
    self
      .session
      .lock()
      .unwrap_or_else(|poisoned| poisoned.into_inner())
  }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
  mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn verify_bits(mode: VerifyMode) -> u8 {
  u8::from(mode.request_cert) * VERIFY_REQUEST + u8::from(mode.reject_unauthorized) * VERIFY_REJECT
}

fn is_certificate_error(err: &SocketError) -> bool {
  matches!(err, SocketError::Certificate(_))
}

/// `write_tls` until nothing is left or the kernel is full; a failed send counts as flushed
/// (the read side reports the broken connection).
fn flush_session(session: &mut Connection, out: &Socket) -> bool {
  let mut out = SocketWriter(out);
  while session.wants_write() {
    match session.write_tls(&mut out) {
      Ok(_) => {}
      Err(err) if err.kind() == io::ErrorKind::WouldBlock => return false,
      Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
      Err(_) => return true,
    }
  }
  true
}

/// Non-blocking sends on the connection's socket, borrowed from it (it cannot close meanwhile).
/// (MSG_NOSIGNAL: Apple's systems also have SO_NOSIGPIPE set on every socket, by socket2, mio,
/// or the listener's accept.)
struct SocketWriter<'a>(&'a Socket);

/// The most buffers one sendmsg takes: UIO_MAXIOV on Linux, IOV_MAX on Apple's systems and the
/// BSDs, POSIX's least IOV_MAX elsewhere.
#[cfg(any(target_os = "linux", target_os = "android"))]
const MAX_IOV: usize = libc::UIO_MAXIOV as usize;
#[cfg(any(
  target_vendor = "apple",
  target_os = "freebsd",
  target_os = "netbsd",
  target_os = "openbsd",
  target_os = "dragonfly"
))]
const MAX_IOV: usize = libc::IOV_MAX as usize;
#[cfg(not(any(
  target_os = "linux",
  target_os = "android",
  target_vendor = "apple",
  target_os = "freebsd",
  target_os = "netbsd",
  target_os = "openbsd",
  target_os = "dragonfly"
)))]
const MAX_IOV: usize = 16;

impl Write for SocketWriter<'_> {
  fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
    self.write_vectored(&[io::IoSlice::new(buf)])
  }

  fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    let bufs = &bufs[..bufs.len().min(MAX_IOV)];
    self
      .0
      .send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT)
  }

  fn flush(&mut self) -> io::Result<()> {
    Ok(())
  }
}

/// OpenSSL's names of the groups rustls offers.
fn group_name(group: NamedGroup) -> String {
  match group {
    NamedGroup::X25519 => "X25519".to_owned(),
    NamedGroup::secp256r1 => "prime256v1".to_owned(),
    NamedGroup::secp384r1 => "secp384r1".to_owned(),
    other => format!("{other:?}"),
  }
}
