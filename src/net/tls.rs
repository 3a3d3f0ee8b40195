//! rustls configurations for Bun's `tls` options, the checks behind `authorized`, and the names
//! Node and Bun give TLS failures.
//!
//! `lib/tls-options.js` has already read, decrypted and checked every PEM input with Node's
//! crypto, so configs are built from DER here. Certificates are verified in the handshake only
//! when a failure must stop it (`rejectUnauthorized`); otherwise the verdict is computed once the
//! handshake is done, for `authorized` and `getAuthorizationError()`.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, WebPkiServerVerifier};
use rustls::crypto::ring::default_provider;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
  AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, Error,
  RootCertStore, ServerConfig, SignatureScheme,
};

use crate::error::SocketError;
use crate::net::x509::CertInfo;

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
  /// Protocol names, most preferred first.
  pub alpn: Vec<Vec<u8>>,
  /// A server given a malformed list refuses every client that offers ALPN, as Bun does.
  pub alpn_invalid: bool,
  /// `secureOptions` SSL_OP_NO_TLSv1_3 / SSL_OP_NO_TLSv1_2.
  pub no_tls13: bool,
  pub no_tls12: bool,
}

/// Protocol versions left by `secureOptions`; none left is a configuration error.
fn versions(options: &TlsOptions) -> Vec<&'static rustls::SupportedProtocolVersion> {
  let mut out = Vec::with_capacity(2);
  if !options.no_tls13 {
    out.push(&rustls::version::TLS13);
  }
  if !options.no_tls12 {
    out.push(&rustls::version::TLS12);
  }
  out
}

/// A name no client asks for: a server with it alone agrees on no protocol.
const NO_PROTOCOL: &[u8] = b"\0bun-sockets: invalid ALPNProtocols\0";

/// A listener's TLS setup.
pub struct ServerTls {
  pub config: Arc<ServerConfig>,
  /// Checks client certificates after the handshake; `None` without a usable `ca`.
  client_verifier: Option<Arc<dyn ClientCertVerifier>>,
  /// The roots again, for the self-signed certificates OpenSSL trusts and webpki does not.
  trust: Trust,
  /// The same roots, to tell an untrusted certificate from one issued for another purpose.
  issuer_check: Option<Arc<WebPkiServerVerifier>>,
  request_cert: bool,
  reject_unauthorized: bool,
}

/// A client's TLS setup, shared by every connection made with the same options.
pub struct ClientTls {
  /// Cloned per connection, which gets its own session store.
  pub config: Arc<ClientConfig>,
  trust: Arc<Trust>,
  reject_unauthorized: bool,
}

/// How a handshake ended, as Bun reports it to `handshake(socket, success, authorizationError)`.
pub struct HandshakeOutcome {
  pub success: bool,
  pub error: Option<SocketError>,
  /// The peer's certificate was refused after a handshake rustls let through: close now.
  pub close: bool,
}

impl ServerTls {
  pub fn new(options: &TlsOptions) -> Result<ServerTls, SocketError> {
    let provider = Arc::new(default_provider());
    // Without `ca`, Bun's server trusts NODE_EXTRA_CA_CERTS for client certificates.
    let anchors = options.ca.as_ref().unwrap_or(&options.extra_ca);
    let roots = match anchors.is_empty() {
      false => Some(Arc::new(roots(anchors)?)),
      true => None,
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
    let builder = ServerConfig::builder_with_provider(provider.clone())
      .with_protocol_versions(&versions(options))
      .map_err(config_error)?;
    let builder = if options.request_cert {
      builder.with_client_cert_verifier(Arc::new(AcceptingClientVerifier {
        algorithms: provider.signature_verification_algorithms,
        hints,
        mandatory: options.reject_unauthorized,
      }))
    } else {
      builder.with_no_client_auth()
    };
    let mut config = match (&options.key, options.certs.is_empty()) {
      (Some(key), false) => builder
        .with_single_cert(chain(&options.certs), pkcs8(key))
        .map_err(config_error)?,
      // Bun listens without a certificate and fails each handshake.
      _ => builder.with_cert_resolver(Arc::new(NoCertificate)),
    };
    config.alpn_protocols = if options.alpn_invalid {
      vec![NO_PROTOCOL.to_vec()]
    } else {
      options.alpn.clone()
    };
    Ok(ServerTls {
      config: Arc::new(config),
      client_verifier,
      trust,
      issuer_check,
      request_cert: options.request_cert,
      reject_unauthorized: options.reject_unauthorized,
    })
  }

  /// Bun's verdict on a finished server handshake. Without `requestCert` (or without a client
  /// certificate) it reports UNABLE_TO_GET_ISSUER_CERT; a refused certificate still counts as a
  /// successful handshake, after which the socket closes when `rejectUnauthorized` is set.
  pub fn outcome(&self, peer: Option<&[CertificateDer<'static>]>) -> HandshakeOutcome {
    let error = match peer {
      Some([leaf, rest @ ..]) if self.request_cert => match &self.client_verifier {
        Some(verifier) => {
          let now = UnixTime::now();
          verifier
            .verify_client_cert(leaf, rest, now)
            .map(|_| ())
            .or_else(|err| self.trust.self_signed(leaf, now, err))
            .err()
            .map(|err| self.client_certificate_error(err, leaf, rest))
        }
        None => Some(tls_error("SELF_SIGNED_CERT_IN_CHAIN")),
      },
      _ => Some(tls_error("UNABLE_TO_GET_ISSUER_CERT")),
    };
    let close = self.request_cert && self.reject_unauthorized && error.is_some();
    HandshakeOutcome {
      success: true,
      error,
      close,
    }
  }

  /// OpenSSL reports an untrusted issuer before a wrong purpose; webpki the other way round.
  fn client_certificate_error(
    &self,
    err: Error,
    leaf: &CertificateDer<'_>,
    rest: &[CertificateDer<'_>],
  ) -> SocketError {
    let wrong_purpose = matches!(
      err,
      Error::InvalidCertificate(
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. }
      )
    );
    if let (true, Some(check)) = (wrong_purpose, &self.issuer_check) {
      let any_name = ServerName::try_from("invalid.invalid").expect("a valid DNS name");
      if let Err(chain @ Error::InvalidCertificate(CertificateError::UnknownIssuer)) =
        check.verify_server_cert(leaf, rest, &any_name, &[], UnixTime::now())
      {
        return certificate_error(&chain);
      }
    }
    certificate_error(&err)
  }
}

impl ClientTls {
  pub fn new(options: &TlsOptions) -> Result<ClientTls, SocketError> {
    let provider = Arc::new(default_provider());
    let mut foreign = None;
    let (roots, anchors) = match &options.ca {
      // A `ca` without certificates trusts nothing, as in Bun.
      Some(ca) => {
        if !options.extra_ca.is_empty() {
          foreign = roots(&options.extra_ca).ok().map(Arc::new);
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
    config.alpn_protocols = options.alpn.clone();
    Ok(ClientTls {
      config: Arc::new(config),
      trust,
      reject_unauthorized: options.reject_unauthorized,
    })
  }

  /// Bun's verdict on a finished client handshake. With `rejectUnauthorized` the handshake
  /// itself verified the server; otherwise verify now, for `authorized`. Bun reports a
  /// hostname mismatch as an unsuccessful handshake even when the connection stays up.
  pub fn outcome(&self, peer: Option<&[CertificateDer<'static>]>, name: &ServerName<'_>) -> HandshakeOutcome {
    let error = if self.reject_unauthorized {
      None
    } else {
      match peer {
        Some([leaf, rest @ ..]) => self
          .trust
          .verify_server(leaf, rest, name, UnixTime::now())
          .err()
          .map(|err| certificate_error(&err)),
        _ => Some(tls_error("UNABLE_TO_GET_ISSUER_CERT")),
      }
    };
    let success = !matches!(
      &error,
      Some(SocketError::Tls {
        code: "ERR_TLS_CERT_ALTNAME_INVALID",
        ..
      })
    );
    HandshakeOutcome {
      success,
      error,
      close: false,
    }
  }
}

/// What certificates are checked against: webpki's roots, and the same certificates in DER
/// for the self-signed ones OpenSSL trusts and webpki does not.
#[derive(Debug)]
struct Trust {
  roots: Arc<RootCertStore>,
  /// `ca` (or NODE_EXTRA_CA_CERTS) as given.
  anchors: Vec<Vec<u8>>,
  /// NODE_EXTRA_CA_CERTS beside a `ca`: not trusted, but Bun reports a chain that ends there as
  /// SELF_SIGNED_CERT_IN_CHAIN instead of an unknown issuer.
  foreign: Option<Arc<RootCertStore>>,
  algorithms: WebPkiSupportedAlgorithms,
}

impl Trust {
  /// The chain, then the name as Node's checkServerIdentity (and Bun) match it: subjectAltName,
  /// or the subject CN of a certificate without DNS names.
  fn verify_server(
    &self,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    name: &ServerName<'_>,
    now: UnixTime,
  ) -> Result<(), Error> {
    let parsed = ParsedCertificate::try_from(leaf)?;
    verify_server_cert_signed_by_trust_anchor(&parsed, &self.roots, intermediates, now, self.algorithms.all)
      .or_else(|err| self.self_signed(leaf, now, err))
      .map_err(|err| match (&err, &self.foreign) {
        (Error::InvalidCertificate(CertificateError::UnknownIssuer), Some(foreign))
          if verify_server_cert_signed_by_trust_anchor(
            &parsed,
            foreign,
            intermediates,
            now,
            self.algorithms.all,
          )
          .is_ok() =>
        {
          refusal("SELF_SIGNED_CERT_IN_CHAIN")
        }
        _ => err,
      })?;
    match CertInfo::parse(leaf) {
      Some(info) if info.is_valid_for(&name.to_str()) => Ok(()),
      _ => Err(Error::InvalidCertificate(CertificateError::NotValidForName)),
    }
  }

  /// OpenSSL's verdict where webpki refused (`err`) a certificate that issued itself: trusted
  /// when it is one of the anchors (webpki takes no end-entity certificate as its own anchor,
  /// and none with CA:TRUE as a leaf), else DEPTH_ZERO_SELF_SIGNED_CERT if it could have
  /// signed itself. Others keep webpki's error.
  fn self_signed(&self, leaf: &CertificateDer<'_>, now: UnixTime, err: Error) -> Result<(), Error> {
    let Some(info) = CertInfo::parse(leaf) else {
      return Err(err);
    };
    if !info.is_self_issued() {
      return Err(err);
    }
    if self
      .anchors
      .iter()
      .any(|anchor| anchor.as_slice() == leaf.as_ref())
    {
      let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
      return if now < info.not_before {
        Err(Error::InvalidCertificate(CertificateError::NotValidYet))
      } else if now > info.not_after {
        Err(Error::InvalidCertificate(CertificateError::Expired))
      } else {
        Ok(())
      };
    }
    if info.is_self_signed() {
      return Err(refusal("DEPTH_ZERO_SELF_SIGNED_CERT"));
    }
    Err(err)
  }
}

/// The server certificate check in the handshake: `strict` refuses what `Trust` refuses
/// (`rejectUnauthorized`), otherwise only signatures are checked here and `ClientTls::outcome`
/// judges the certificate afterwards.
#[derive(Debug)]
struct ServerVerifier {
  trust: Arc<Trust>,
  strict: bool,
}

impl ServerCertVerifier for ServerVerifier {
  fn verify_server_cert(
    &self,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: &ServerName<'_>,
    _ocsp: &[u8],
    now: UnixTime,
  ) -> Result<ServerCertVerified, Error> {
    if !self.strict {
      return Ok(ServerCertVerified::assertion());
    }
    match self
      .trust
      .verify_server(end_entity, intermediates, server_name, now)
    {
      Ok(()) => Ok(ServerCertVerified::assertion()),
      // Keeps the refused certificate, for the message that quotes its names.
      Err(error) => Err(Error::InvalidCertificate(CertificateError::Other(
        rustls::OtherError(Arc::new(Refused {
          error,
          leaf: end_entity.to_vec(),
        })),
      ))),
    }
  }

  fn verify_tls12_signature(
    &self,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
  ) -> Result<HandshakeSignatureValid, Error> {
    verify_tls12_signature(message, cert, dss, &self.trust.algorithms)
  }

  fn verify_tls13_signature(
    &self,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
  ) -> Result<HandshakeSignatureValid, Error> {
    verify_tls13_signature(message, cert, dss, &self.trust.algorithms)
  }

  fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
    self.trust.algorithms.supported_schemes()
  }
}

/// A certificate refused with an OpenSSL code that rustls has no error for.
#[derive(Debug)]
struct Refusal(&'static str);

impl fmt::Display for Refusal {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(self.0)
  }
}

impl std::error::Error for Refusal {}

fn refusal(code: &'static str) -> Error {
  Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(Refusal(
    code,
  )))))
}

/// A handshake that failed, named as Bun names it: certificate failures by their X.509 code,
/// everything else `EPROTO` with BoringSSL's reason.
pub fn handshake_error(err: &Error) -> SocketError {
  match err {
    Error::InvalidCertificate(CertificateError::Other(other)) => match other.0.downcast_ref::<Refused>() {
      Some(refused) => certificate_error(&refused.error),
      None => certificate_error(err),
    },
    Error::InvalidCertificate(_) => certificate_error(err),
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

/// Why a server certificate was refused, and the certificate.
#[derive(Debug)]
struct Refused {
  error: Error,
  leaf: Vec<u8>,
}

impl fmt::Display for Refused {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    self.error.fmt(f)
  }
}

impl std::error::Error for Refused {}

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
  SocketError::Tls {
    code: "EPROTO",
    message: format!(
      "error:{:08x}:SSL routines:OPENSSL_internal:{name}",
      0x1000_0000 | reason
    ),
  }
}

/// The peer closed before the handshake finished.
pub fn disconnected_error() -> SocketError {
  SocketError::Tls {
    code: "ECONNRESET",
    message: "Client network socket disconnected before secure TLS connection was established".to_owned(),
  }
}

/// A certificate failure with Node's (and Bun's) code and wording.
fn certificate_error(err: &Error) -> SocketError {
  let code = match err {
    Error::InvalidCertificate(cert) => match cert {
      CertificateError::Other(other) if other.0.downcast_ref::<Refusal>().is_some() => other
        .0
        .downcast_ref::<Refusal>()
        .map_or("UNABLE_TO_VERIFY_LEAF_SIGNATURE", |refusal| refusal.0),
      // A leaf from an unknown issuer (a self-signed one is DEPTH_ZERO_SELF_SIGNED_CERT above).
      CertificateError::UnknownIssuer => "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
        "ERR_TLS_CERT_ALTNAME_INVALID"
      }
      CertificateError::Expired | CertificateError::ExpiredContext { .. } => "CERT_HAS_EXPIRED",
      CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => "CERT_NOT_YET_VALID",
      CertificateError::Revoked => "CERT_REVOKED",
      CertificateError::BadSignature => "CERT_SIGNATURE_FAILURE",
      CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => "INVALID_PURPOSE",
      _ => "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    },
    _ => "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  };
  tls_error(code)
}

/// An error with a certificate code and OpenSSL's wording of it. `lib/` words the hostname
/// mismatch itself, from the certificate.
pub fn tls_error(code: &'static str) -> SocketError {
  let message = match code {
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE" => "unable to verify the first certificate",
    "UNABLE_TO_GET_ISSUER_CERT" => "unable to get issuer certificate",
    "CERT_HAS_EXPIRED" => "certificate has expired",
    "CERT_NOT_YET_VALID" => "certificate is not yet valid",
    "CERT_REVOKED" => "certificate revoked",
    "CERT_SIGNATURE_FAILURE" => "certificate signature failure",
    "INVALID_PURPOSE" => "unsupported certificate purpose",
    "SELF_SIGNED_CERT_IN_CHAIN" => "self signed certificate in certificate chain",
    "DEPTH_ZERO_SELF_SIGNED_CERT" => "self signed certificate",
    "ERR_TLS_CERT_ALTNAME_INVALID" => "Hostname/IP does not match certificate's altnames",
    "ERR_BORINGSSL" => "Invalid CA",
    _ => "TLS configuration failed",
  };
  SocketError::Tls {
    code,
    message: message.to_owned(),
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

fn config_error(err: impl fmt::Display) -> SocketError {
  SocketError::Tls {
    code: "ERR_SSL_CONFIG",
    message: err.to_string(),
  }
}

fn chain(certs: &[Vec<u8>]) -> Vec<CertificateDer<'static>> {
  certs
    .iter()
    .map(|der| CertificateDer::from(der.clone()))
    .collect()
}

fn pkcs8(key: &[u8]) -> PrivateKeyDer<'static> {
  PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec()))
}

fn roots(ca: &[Vec<u8>]) -> Result<RootCertStore, SocketError> {
  let mut store = RootCertStore::empty();
  for der in ca {
    store
      .add(CertificateDer::from(der.clone()))
      .map_err(|_| tls_error("ERR_BORINGSSL"))?;
  }
  Ok(store)
}

/// The signature checks of a verifier that trusts certificates by other means: the peer must
/// still hold the certificate's key.
macro_rules! check_signatures {
  () => {
    fn verify_tls12_signature(
      &self,
      message: &[u8],
      cert: &CertificateDer<'_>,
      dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
      verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
      &self,
      message: &[u8],
      cert: &CertificateDer<'_>,
      dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
      verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
      self.algorithms.supported_schemes()
    }
  };
}

/// Asks for a client certificate and lets any through; `ServerTls::outcome` judges it after
/// the handshake, as Bun does. A missing certificate fails the handshake when `mandatory`.
#[derive(Debug)]
struct AcceptingClientVerifier {
  algorithms: WebPkiSupportedAlgorithms,
  hints: Vec<DistinguishedName>,
  mandatory: bool,
}

impl ClientCertVerifier for AcceptingClientVerifier {
  fn client_auth_mandatory(&self) -> bool {
    self.mandatory
  }

  fn root_hint_subjects(&self) -> &[DistinguishedName] {
    &self.hints
  }

  fn verify_client_cert(
    &self,
    _end_entity: &CertificateDer<'_>,
    _intermediates: &[CertificateDer<'_>],
    _now: UnixTime,
  ) -> Result<ClientCertVerified, Error> {
    Ok(ClientCertVerified::assertion())
  }

  check_signatures!();
}

/// A listener given no certificate: every handshake fails.
#[derive(Debug)]
struct NoCertificate;

impl ResolvesServerCert for NoCertificate {
  fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
    None
  }
}
