//! A TLS server: its configs (one per verify mode), Bun's verdict on client certificates, and
//! the start of each server session.
//!
//! A session begins with rustls' `Acceptor` reading the ClientHello; only then is a config
//! chosen for it. When the listener has hooks that decide (Bun's `serverName` and
//! `alpnCallback` handlers, or an `open` handler that may call `setVerifyMode()`), the
//! connection waits with its ClientHello while JS is asked (`TlsNote::Hello`), and goes on when
//! JS answers (`Hello::answer`). rustls cannot call JS in the middle of a handshake; this way it
//! need not. Runs on the connection's task; `answer` and `set_hooks` on the JS thread.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::ring::default_provider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{
  Accepted, AcceptedAlert, Acceptor, ClientHello, ResolvesServerCert, ServerConnection,
  ServerSessionMemoryCache, WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, Error, RootCertStore, ServerConfig};

use super::trust::{AcceptingClientVerifier, Trust};
use super::{
  certificate_error, chain, config_error, extra_roots, pkcs8, protocol_error, roots, versions, Alpn,
  HandshakeOutcome, KeyLines, TlsNote, TlsOptions, VerifyMode, NO_PROTOCOL,
};
use crate::error::{CertError, SocketError, TlsFailure};

/// What the listener's handlers need from each ClientHello.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hooks {
  /// JS may change the verify mode before the handshake (`open` runs before it): always ask.
  pub always: bool,
  /// A `serverName` handler: ask when the client sends SNI.
  pub server_name: bool,
  /// An `alpnCallback` handler: ask when the client offers ALPN.
  pub alpn: bool,
  /// A `keylog` handler: record the session's secrets.
  pub keylog: bool,
}

// `Hooks` packed in an atomic, read on the connection's task.
const HOOK_ALWAYS: u8 = 1;
const HOOK_SERVER_NAME: u8 = 1 << 1;
const HOOK_ALPN: u8 = 1 << 2;
const HOOK_KEYLOG: u8 = 1 << 3;

impl Hooks {
  fn bits(self) -> u8 {
    [
      (self.always, HOOK_ALWAYS),
      (self.server_name, HOOK_SERVER_NAME),
      (self.alpn, HOOK_ALPN),
      (self.keylog, HOOK_KEYLOG),
    ]
    .into_iter()
    .filter(|&(on, _)| on)
    .fold(0, |bits, (_, bit)| bits | bit)
  }
}

/// A listener's TLS setup.
pub struct ServerTls {
  shared: Arc<Shared>,
  /// `Hooks` of the listener this copy belongs to, as bits.
  hooks: AtomicU8,
}

/// What listeners with the same options share.
struct Shared {
  /// By verify mode: no client certificate asked, one asked, one required.
  configs: [Arc<ServerConfig>; 3],
  /// Checks client certificates after the handshake; `None` without a usable `ca`.
  client_verifier: Option<Arc<dyn ClientCertVerifier>>,
  /// The roots again, for the self-signed certificates OpenSSL trusts and webpki does not.
  trust: Trust,
  /// The same roots, to tell an untrusted certificate from one issued for another purpose.
  issuer_check: Option<Arc<WebPkiServerVerifier>>,
  /// The options' `requestCert` and `rejectUnauthorized`.
  mode: VerifyMode,
  /// A `ca` was given. Without one Bun reports every refused client certificate as
  /// SELF_SIGNED_CERT_IN_CHAIN (also when NODE_EXTRA_CA_CERTS cannot vouch for it).
  has_ca: bool,
}

impl ServerTls {
  pub fn new(options: &TlsOptions) -> Result<ServerTls, SocketError> {
    let provider = Arc::new(default_provider());
    // Without `ca`, Bun's server trusts NODE_EXTRA_CA_CERTS for client certificates.
    let anchors = options.ca.as_ref().unwrap_or(&options.extra_ca);
    let roots = match (&options.ca, anchors.is_empty()) {
      (_, true) => None,
      (Some(ca), false) => Some(Arc::new(roots(ca)?)),
      (None, false) => Some(Arc::new(extra_roots(anchors))).filter(|roots| !roots.is_empty()),
    };
    let trust = Trust {
      roots: roots.clone().unwrap_or_else(|| Arc::new(RootCertStore::empty())),
      anchors: anchors.clone(),
      foreign: None,
      algorithms: provider.signature_verification_algorithms,
    };
    let client_verifier = match &roots {
      Some(roots) => WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .ok(),
      None => None,
    };
    let issuer_check = match &roots {
      Some(roots) => WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .ok(),
      None => None,
    };
    let hints = roots.as_ref().map(|roots| roots.subjects()).unwrap_or_default();
    // Sessions resume whichever verify mode a connection got.
    let sessions = ServerSessionMemoryCache::new(256);
    let config = |client_auth: Option<bool>| -> Result<Arc<ServerConfig>, SocketError> {
      let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(options))
        .map_err(config_error)?;
      let builder = match client_auth {
        Some(mandatory) => builder.with_client_cert_verifier(Arc::new(AcceptingClientVerifier {
          algorithms: provider.signature_verification_algorithms,
          hints: hints.clone(),
          mandatory,
        })),
        None => builder.with_no_client_auth(),
      };
      let mut config = match (&options.key, options.certs.is_empty()) {
        (Some(key), false) => builder
          .with_single_cert(chain(&options.certs), pkcs8(key))
          .map_err(config_error)?,
        // Bun listens without a certificate and fails each handshake.
        _ => builder.with_cert_resolver(Arc::new(NoCertificate)),
      };
      config.alpn_protocols = match &options.alpn {
        Alpn::Names(names) => names.clone(),
        Alpn::Malformed => vec![NO_PROTOCOL.to_vec()],
      };
      config.session_storage = sessions.clone();
      Ok(Arc::new(config))
    };
    let shared = Shared {
      configs: [config(None)?, config(Some(false))?, config(Some(true))?],
      client_verifier,
      trust,
      issuer_check,
      mode: VerifyMode {
        request_cert: options.request_cert,
        reject_unauthorized: options.reject_unauthorized,
      },
      has_ca: options.ca.is_some(),
    };
    Ok(ServerTls {
      shared: Arc::new(shared),
      hooks: AtomicU8::new(0),
    })
  }

  /// A copy for one listener: the same configs, hooks of its own.
  pub fn for_listener(&self) -> ServerTls {
    ServerTls {
      shared: self.shared.clone(),
      hooks: AtomicU8::new(0),
    }
  }

  /// What the listener's handlers need from each ClientHello, from now on.
  pub fn set_hooks(&self, hooks: Hooks) {
    self.hooks.store(hooks.bits(), Ordering::Release);
  }

  /// The verify mode of the options, before `setVerifyMode()`.
  pub fn mode(&self) -> VerifyMode {
    self.shared.mode
  }

  /// Bun's verdict on a finished server handshake. Without `requestCert` (or without a client
  /// certificate) it reports UNABLE_TO_GET_ISSUER_CERT; a refused certificate still counts as a
  /// successful handshake, after which the socket closes when `rejectUnauthorized` is set.
  pub fn outcome(&self, peer: Option<&[CertificateDer<'static>]>, mode: VerifyMode) -> HandshakeOutcome {
    let shared = &self.shared;
    let error = match peer {
      Some([leaf, rest @ ..]) if mode.request_cert => match &shared.client_verifier {
        Some(verifier) => {
          let now = UnixTime::now();
          verifier
            .verify_client_cert(leaf, rest, now)
            .map(|_| ())
            .or_else(|err| shared.trust.self_signed(leaf, now, err))
            .err()
            .map(|err| match shared.has_ca {
              true => self.client_certificate_error(err, leaf, rest),
              false => CertError::SelfSignedInChain,
            })
        }
        None => Some(CertError::SelfSignedInChain),
      },
      _ => Some(CertError::UnableToGetIssuerCert),
    };
    HandshakeOutcome {
      success: true,
      close: mode.request_cert && mode.reject_unauthorized && error.is_some(),
      error: error.map(SocketError::Certificate),
    }
  }

  /// OpenSSL reports an untrusted issuer before a wrong purpose; webpki the other way round.
  fn client_certificate_error(
    &self,
    err: Error,
    leaf: &CertificateDer<'_>,
    rest: &[CertificateDer<'_>],
  ) -> CertError {
    let wrong_purpose = matches!(
      err,
      Error::InvalidCertificate(
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. }
      )
    );
    if let (true, Some(check)) = (wrong_purpose, &self.shared.issuer_check) {
      let any_name = ServerName::try_from("invalid.invalid").expect("a valid DNS name");
      if let Err(chain @ Error::InvalidCertificate(CertificateError::UnknownIssuer)) =
        check.verify_server_cert(leaf, rest, &any_name, &[], UnixTime::now())
      {
        return certificate_error(&chain);
      }
    }
    certificate_error(&err)
  }

  /// Whether JS must see this ClientHello before the session is built.
  fn asks(&self, hello: &ClientHello<'_>) -> bool {
    let hooks = self.hooks.load(Ordering::Acquire);
    hooks & HOOK_ALWAYS != 0
      || (hooks & HOOK_SERVER_NAME != 0 && hello.server_name().is_some())
      || (hooks & HOOK_ALPN != 0 && hello.alpn().is_some())
  }

  /// The session for an accepted ClientHello, with the config `answer` chooses.
  fn session(
    &self,
    accepted: Accepted,
    answer: &Answer,
    keylog: Option<Arc<KeyLines>>,
  ) -> Result<ServerConnection, (SocketError, AcceptedAlert)> {
    let base = &self.shared.configs[match answer.mode {
      VerifyMode {
        request_cert: false, ..
      } => 0,
      VerifyMode {
        reject_unauthorized: false,
        ..
      } => 1,
      _ => 2,
    }];
    let alpn = match &answer.alpn {
      AlpnChoice::Listed => None,
      AlpnChoice::Protocol(name) => Some(vec![name.clone()]),
      // A name no client offers: rustls refuses with no_application_protocol, as Bun does.
      AlpnChoice::Refused => Some(vec![NO_PROTOCOL.to_vec()]),
    };
    let config = match (alpn, keylog) {
      (None, None) => base.clone(),
      (alpn, keylog) => {
        let mut config = (**base).clone();
        if let Some(alpn) = alpn {
          config.alpn_protocols = alpn;
        }
        if let Some(keylog) = keylog {
          config.key_log = keylog;
        }
        Arc::new(config)
      }
    };
    let mut session = accepted
      .into_connection(config)
      .map_err(|(err, alert)| (protocol_error(&err), alert))?;
    session.set_buffer_limit(None);
    Ok(session)
  }

  fn wants_keylog(&self) -> bool {
    self.hooks.load(Ordering::Acquire) & HOOK_KEYLOG != 0
  }
}

/// A server connection until its session exists.
pub struct Hello {
  state: State,
  /// What the session's secrets go to, when the listener has a `keylog` handler.
  keylog: Option<Arc<KeyLines>>,
}

enum State {
  Reading(Box<Acceptor>),
  /// Waiting for JS; `leftover` arrived after the ClientHello (normally nothing).
  Parked {
    accepted: Box<Accepted>,
    leftover: Vec<u8>,
    answer: Option<Answer>,
  },
  Done,
}

/// JS's choice for a ClientHello it was shown.
pub struct Answer {
  /// Bun's `serverName` handler refused the connection (CONNECTION_REJECTED, no alert).
  pub refuse: bool,
  pub alpn: AlpnChoice,
  pub mode: VerifyMode,
}

/// The protocol an `alpnCallback` chose.
pub enum AlpnChoice {
  /// The listener's `ALPNProtocols` decide.
  Listed,
  Protocol(Vec<u8>),
  /// None of the client's: the handshake fails with no_application_protocol.
  Refused,
}

/// What a step of the ClientHello stage came to.
pub enum Step {
  /// More bytes needed, or waiting for JS.
  Wait,
  /// Show JS this ClientHello (then wait).
  Ask(TlsNote),
  /// The session, and received bytes it has yet to read.
  Session(Box<ServerConnection>, Vec<u8>),
  /// The handshake failed here; the alert, if any, goes to the peer.
  Failed(SocketError, Option<AcceptedAlert>),
}

impl Default for Hello {
  fn default() -> Hello {
    Hello {
      state: State::Reading(Box::default()),
      keylog: None,
    }
  }
}

impl Hello {
  /// True once the session was built (or the handshake failed).
  pub fn is_done(&self) -> bool {
    matches!(self.state, State::Done)
  }

  /// The key log of the session built from this hello.
  pub fn keylog(&self) -> Option<&Arc<KeyLines>> {
    self.keylog.as_ref()
  }

  /// Reads received bytes until the ClientHello is complete, then builds the session with the
  /// options' config, or parks and asks JS.
  pub fn read(&mut self, tls: &ServerTls, mut data: &[u8]) -> Step {
    let State::Reading(acceptor) = &mut self.state else {
      if let State::Parked { leftover, .. } = &mut self.state {
        leftover.extend_from_slice(data);
      }
      return Step::Wait;
    };
    let accepted = loop {
      if data.is_empty() {
        return Step::Wait;
      }
      if let Err(err) = acceptor.read_tls(&mut data) {
        self.state = State::Done;
        return Step::Failed(SocketError::tls(TlsFailure::Protocol, err.to_string()), None);
      }
      match acceptor.accept() {
        Ok(Some(accepted)) => break accepted,
        Ok(None) => {}
        Err((err, alert)) => {
          self.state = State::Done;
          return Step::Failed(protocol_error(&err), Some(alert));
        }
      }
    };
    if tls.wants_keylog() {
      self.keylog = Some(Arc::default());
    }
    let hello = accepted.client_hello();
    if tls.asks(&hello) {
      let note = TlsNote::Hello {
        server_name: hello.server_name().map(str::to_owned),
        alpn: hello.alpn().map(|protocols| {
          protocols.fold(Vec::new(), |mut wire, name| {
            // ALPN names are 1 to 255 bytes: each fits its length prefix.
            wire.push(name.len() as u8);
            wire.extend_from_slice(name);
            wire
          })
        }),
      };
      self.state = State::Parked {
        accepted: Box::new(accepted),
        leftover: data.to_vec(),
        answer: None,
      };
      return Step::Ask(note);
    }
    let answer = Answer {
      refuse: false,
      alpn: AlpnChoice::Listed,
      mode: tls.mode(),
    };
    self.finish(tls, accepted, &answer, data.to_vec())
  }

  /// JS's answer to a parked ClientHello; false if none is parked.
  pub fn answer(&mut self, answer: Answer) -> bool {
    match &mut self.state {
      State::Parked { answer: slot, .. } if slot.is_none() => {
        *slot = Some(answer);
        true
      }
      _ => false,
    }
  }

  /// The session for an answered ClientHello; `None` while there is none, and the mode the
  /// answer chose.
  pub fn resume(&mut self, tls: &ServerTls) -> Option<(Step, VerifyMode)> {
    if !matches!(&self.state, State::Parked { answer: Some(_), .. }) {
      return None;
    }
    let State::Parked {
      accepted,
      leftover,
      answer: Some(answer),
    } = std::mem::replace(&mut self.state, State::Done)
    else {
      return None;
    };
    let mode = answer.mode;
    if answer.refuse {
      let refused = SocketError::tls(
        TlsFailure::Protocol,
        "error:10000085:SSL routines:OPENSSL_internal:CONNECTION_REJECTED",
      );
      // Bun hangs up without an alert.
      return Some((Step::Failed(refused, None), mode));
    }
    Some((self.finish(tls, *accepted, &answer, leftover), mode))
  }

  fn finish(&mut self, tls: &ServerTls, accepted: Accepted, answer: &Answer, leftover: Vec<u8>) -> Step {
    self.state = State::Done;
    match tls.session(accepted, answer, self.keylog.clone()) {
      Ok(session) => Step::Session(Box::new(session), leftover),
      Err((err, alert)) => Step::Failed(err, Some(alert)),
    }
  }
}

/// A listener given no certificate: every handshake fails.
#[derive(Debug)]
struct NoCertificate;

impl ResolvesServerCert for NoCertificate {
  fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
    None
  }
}
