//! rustls configurations for Bun's `tls` options, the checks behind `authorized`, and the names
//! Node and Bun give TLS failures.
//!
//! `lib/tls-options.js` has already read, decrypted and checked every PEM input with Node's
//! crypto, so configs are built from DER here. Certificates are verified in the handshake only
//! when a failure must stop it (`rejectUnauthorized`); otherwise the verdict is computed once the
//! handshake is done, for `authorized` and `getAuthorizationError()`.

use std::fmt;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use rustls::crypto::ring::default_provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, ClientConfig, Error, KeyLog, RootCertStore};

use crate::error::{CertError, SocketError, TlsFailure};

mod server;
mod trust;

pub use server::{AlpnChoice, Answer, Hello, Hooks, ServerTls, Step};
use trust::{Refusal, Refused, ServerVerifier, Trust};

/// Bun's `tls` option in DER, as `lib/tls-options.js` normalised it.
#[derive(Default, Clone)]
pub struct TlsOptions {
  /// Our chain, leaf first; empty when none was given.
  pub certs: Vec<Vec<u8>>,
  /// PKCS#8, already decrypted.
  pub key: Option<Vec<u8>>,
  /// Trusted roots; `None` trusts the bundled webpki roots and `extra_ca`.
  pub ca: Option<Vec<Vec<u8>>>,
  /// NODE_EXTRA_CA_CERTS, added to the default roots (without `ca`, as in Bun).
  pub extra_ca: Vec<Vec<u8>>,
  pub reject_unauthorized: bool,
  pub request_cert: bool,
  pub alpn: Alpn,
  pub versions: Versions,
}

/// The ALPN protocols of a config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Alpn {
  /// Protocol names, most preferred first; none: no ALPN.
  Names(Vec<Vec<u8>>),
  /// `ALPNProtocols` was malformed: a server refuses every client that offers ALPN, a client
  /// offers none, as Bun does.
  Malformed,
}

impl Default for Alpn {
  fn default() -> Self {
    Alpn::Names(Vec::new())
  }
}

/// The protocol versions a config speaks (`secureOptions` may turn either off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
  pub tls12: bool,
  pub tls13: bool,
}

impl Default for Versions {
  fn default() -> Self {
    Versions {
      tls12: true,
      tls13: true,
    }
  }
}

/// The versions `options` keeps, for rustls; none is a configuration error.
pub(crate) fn versions(options: &TlsOptions) -> Vec<&'static rustls::SupportedProtocolVersion> {
  let mut out = Vec::with_capacity(2);
  if options.versions.tls13 {
    out.push(&rustls::version::TLS13);
  }
  if options.versions.tls12 {
    out.push(&rustls::version::TLS12);
  }
  out
}

/// A name no client asks for: a server with it alone agrees on no protocol.
pub(crate) const NO_PROTOCOL: &[u8] = b"\0bun-sockets: invalid ALPNProtocols\0";

/// A client's TLS setup, shared by every connection made with the same options.
pub struct ClientTls {
  /// Cloned per connection (`connection_config`), which gets its own session store.
  config: Arc<ClientConfig>,
  trust: Arc<Trust>,
  reject_unauthorized: bool,
}

/// Bun's `setVerifyMode(requestCert, rejectUnauthorized)`. A server asks for a client
/// certificate with `request_cert`; `reject_unauthorized` makes a refused certificate end the
/// connection (a client's own `request_cert` means nothing).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VerifyMode {
  pub request_cert: bool,
  pub reject_unauthorized: bool,
}

/// What a session tells JS besides the handshake's end, in the order it happened.
pub enum TlsNote {
  /// Bun's `keylog(socket, line)`: an NSS key log line, newline included.
  Keylog(Vec<u8>),
  /// Bun's `session(socket, session)` (client): the session to resume from, a token here.
  Session(Vec<u8>),
  /// A server's ClientHello, waiting for JS to choose (`server::Hello`); `alpn` in wire format.
  Hello {
    server_name: Option<String>,
    alpn: Option<Vec<u8>>,
  },
}

/// One connection's key log: the lines rustls produced and JS has not seen yet.
#[derive(Debug, Default)]
pub struct KeyLines(Mutex<Vec<Vec<u8>>>);

impl KeyLines {
  pub fn take(&self) -> Vec<Vec<u8>> {
    std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
  }
}

impl KeyLog for KeyLines {
  fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
    let mut line = String::with_capacity(label.len() + 2 * (client_random.len() + secret.len()) + 3);
    line.push_str(label);
    for part in [client_random, secret] {
      line.push(' ');
      for byte in part {
        let _ = write!(line, "{byte:02x}");
      }
    }
    line.push('\n');
    self
      .0
      .lock()
      .unwrap_or_else(|p| p.into_inner())
      .push(line.into_bytes());
  }
}

/// How a handshake ended, as Bun reports it to `handshake(socket, success, authorizationError)`.
pub struct HandshakeOutcome {
  pub success: bool,
  pub error: Option<SocketError>,
  /// The peer's certificate was refused after a handshake rustls let through: close now.
  pub close: bool,
}

impl ClientTls {
  pub fn new(options: &TlsOptions) -> Result<ClientTls, SocketError> {
    let provider = Arc::new(default_provider());
    let mut foreign = None;
    let (roots, anchors) = match &options.ca {
      // A `ca` without certificates trusts nothing, as in Bun.
      Some(ca) => {
        if !options.extra_ca.is_empty() {
          foreign = Some(Arc::new(extra_roots(&options.extra_ca)));
        }
        (roots(ca)?, ca.clone())
      }
      None => {
        let mut roots = RootCertStore {
          roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for der in &options.extra_ca {
          // A certificate webpki cannot use as an anchor still counts as self-signed below.
          let _ = roots.add(CertificateDer::from(der.clone()));
        }
        (roots, options.extra_ca.clone())
      }
    };
    let trust = Arc::new(Trust {
      roots: Arc::new(roots),
      anchors,
      foreign,
      algorithms: provider.signature_verification_algorithms,
    });
    let builder = ClientConfig::builder_with_provider(provider)
      .with_protocol_versions(&versions(options))
      .map_err(config_error)?
      .dangerous()
      .with_custom_certificate_verifier(Arc::new(ServerVerifier {
        trust: trust.clone(),
        strict: options.reject_unauthorized,
      }));
    let mut config = match (&options.key, options.certs.is_empty()) {
      (Some(key), false) => builder
        .with_client_auth_cert(chain(&options.certs), pkcs8(key))
        .map_err(config_error)?,
      _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = match &options.alpn {
      Alpn::Names(names) => names.clone(),
      Alpn::Malformed => Vec::new(),
    };
    Ok(ClientTls {
      config: Arc::new(config),
      trust,
      reject_unauthorized: options.reject_unauthorized,
    })
  }

  /// The options' `rejectUnauthorized`, before `setVerifyMode()`.
  pub fn reject_unauthorized(&self) -> bool {
    self.reject_unauthorized
  }

  /// A copy of the config for one connection: its server check refuses in the handshake when
  /// `reject`, and `keylog` gets its secrets.
  pub fn connection_config(&self, reject: bool, keylog: Option<Arc<KeyLines>>) -> ClientConfig {
    let mut config = (*self.config).clone();
    if reject != self.reject_unauthorized {
      config
        .dangerous()
        .set_certificate_verifier(Arc::new(ServerVerifier {
          trust: self.trust.clone(),
          strict: reject,
        }));
    }
    if let Some(keylog) = keylog {
      config.key_log = keylog;
    }
    config
  }

  /// Bun's verdict on a finished client handshake. With `reject` the handshake itself verified
  /// the server; otherwise verify now, for `authorized`. Bun reports a hostname mismatch as an
  /// unsuccessful handshake even when the connection stays up.
  pub fn outcome(
    &self,
    peer: Option<&[CertificateDer<'static>]>,
    name: &ServerName<'_>,
    reject: bool,
  ) -> HandshakeOutcome {
    let error = if reject {
      None
    } else {
      match peer {
        Some([leaf, rest @ ..]) => self
          .trust
          .verify_server(leaf, rest, name, UnixTime::now())
          .err()
          .map(|err| certificate_error(&err)),
        _ => Some(CertError::UnableToGetIssuerCert),
      }
    };
    HandshakeOutcome {
      success: error != Some(CertError::AltnameInvalid),
      error: error.map(SocketError::Certificate),
      close: false,
    }
  }
}

/// A handshake that failed, named as Bun names it: certificate failures by their X.509 code,
/// everything else `EPROTO` with BoringSSL's reason.
pub fn handshake_error(err: &Error) -> SocketError {
  match err {
    Error::InvalidCertificate(CertificateError::Other(other)) => match other.0.downcast_ref::<Refused>() {
      Some(refused) => SocketError::Certificate(certificate_error(&refused.error)),
      None => SocketError::Certificate(certificate_error(err)),
    },
    Error::InvalidCertificate(_) => SocketError::Certificate(certificate_error(err)),
    _ => protocol_error(err),
  }
}

/// The certificate a strict client refused, for the message that quotes its names.
pub fn refused_certificate(err: &Error) -> Option<Vec<u8>> {
  match err {
    Error::InvalidCertificate(CertificateError::Other(other)) => other
      .0
      .downcast_ref::<Refused>()
      .map(|refused| refused.leaf.clone()),
    _ => None,
  }
}

/// A failure on an established connection (or an alert after our side finished): `EPROTO`.
pub fn protocol_error(err: &Error) -> SocketError {
  let (reason, name) = match err {
    Error::AlertReceived(alert) => (1000 + u32::from(u8::from(*alert)), alert_name(*alert)),
    Error::NoApplicationProtocol => (0x133, "NO_APPLICATION_PROTOCOL".to_owned()),
    Error::NoCertificatesPresented => (0xc0, "PEER_DID_NOT_RETURN_A_CERTIFICATE".to_owned()),
    Error::InvalidMessage(_)
    | Error::InappropriateMessage { .. }
    | Error::InappropriateHandshakeMessage { .. } => (0xf7, "WRONG_VERSION_NUMBER".to_owned()),
    Error::DecryptError => (0x8b, "DECRYPTION_FAILED_OR_BAD_RECORD_MAC".to_owned()),
    Error::General(text) if text.contains("no server certificate") => (0xae, "NO_CERTIFICATE_SET".to_owned()),
    _ => (0x410, "SSLV3_ALERT_HANDSHAKE_FAILURE".to_owned()),
  };
  SocketError::tls(
    TlsFailure::Protocol,
    format!(
      "error:{:08x}:SSL routines:OPENSSL_internal:{name}",
      0x1000_0000 | reason
    ),
  )
}

/// The peer closed before the handshake finished.
pub fn disconnected_error() -> SocketError {
  SocketError::tls(
    TlsFailure::Disconnected,
    "Client network socket disconnected before secure TLS connection was established",
  )
}

/// Which certificate failure a rustls error is, as Node (and Bun) name it.
pub(crate) fn certificate_error(err: &Error) -> CertError {
  match err {
    Error::InvalidCertificate(cert) => match cert {
      CertificateError::Other(other) => other
        .0
        .downcast_ref::<Refusal>()
        .map_or(CertError::UnableToVerifyLeafSignature, |refusal| refusal.0),
      // A leaf from an unknown issuer (a self-signed one is DepthZeroSelfSigned, a Refusal).
      CertificateError::UnknownIssuer => CertError::UnableToVerifyLeafSignature,
      CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
        CertError::AltnameInvalid
      }
      CertificateError::Expired | CertificateError::ExpiredContext { .. } => CertError::Expired,
      CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => CertError::NotYetValid,
      CertificateError::Revoked => CertError::Revoked,
      CertificateError::BadSignature => CertError::SignatureFailure,
      CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
        CertError::InvalidPurpose
      }
      _ => CertError::UnableToVerifyLeafSignature,
    },
    _ => CertError::UnableToVerifyLeafSignature,
  }
}

/// BoringSSL's name of an alert ("TLSV1_ALERT_CERTIFICATE_REQUIRED").
fn alert_name(alert: AlertDescription) -> String {
  let sslv3 = matches!(
    alert,
    AlertDescription::UnexpectedMessage
      | AlertDescription::BadRecordMac
      | AlertDescription::DecompressionFailure
      | AlertDescription::HandshakeFailure
      | AlertDescription::NoCertificate
      | AlertDescription::BadCertificate
      | AlertDescription::UnsupportedCertificate
      | AlertDescription::CertificateRevoked
      | AlertDescription::CertificateExpired
      | AlertDescription::CertificateUnknown
      | AlertDescription::IllegalParameter
  );
  let name = screaming_snake(&format!("{alert:?}"));
  format!("{}_ALERT_{name}", if sslv3 { "SSLV3" } else { "TLSV1" })
}

fn screaming_snake(camel: &str) -> String {
  let mut out = String::with_capacity(camel.len() + 4);
  for (i, ch) in camel.chars().enumerate() {
    if ch.is_ascii_uppercase() && i > 0 {
      out.push('_');
    }
    out.push(ch.to_ascii_uppercase());
  }
  out
}

pub(crate) fn config_error(err: impl fmt::Display) -> SocketError {
  SocketError::tls(TlsFailure::Config, err.to_string())
}

pub(crate) fn chain(certs: &[Vec<u8>]) -> Vec<CertificateDer<'static>> {
  certs
    .iter()
    .map(|der| CertificateDer::from(der.clone()))
    .collect()
}

pub(crate) fn pkcs8(key: &[u8]) -> PrivateKeyDer<'static> {
  PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec()))
}

/// NODE_EXTRA_CA_CERTS as roots: what webpki cannot use is left out, as Bun ignores it.
pub(crate) fn extra_roots(extra: &[Vec<u8>]) -> RootCertStore {
  let mut store = RootCertStore::empty();
  for der in extra {
    let _ = store.add(CertificateDer::from(der.clone()));
  }
  store
}

pub(crate) fn roots(ca: &[Vec<u8>]) -> Result<RootCertStore, SocketError> {
  let mut store = RootCertStore::empty();
  for der in ca {
    store
      .add(CertificateDer::from(der.clone()))
      .map_err(|_| SocketError::tls(TlsFailure::InvalidCa, "Invalid CA"))?;
  }
  Ok(store)
}
