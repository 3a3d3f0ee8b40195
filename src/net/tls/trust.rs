//! Whom a TLS connection trusts: the server certificate check (chain, then the name as Node's
//! `checkServerIdentity()` matches it), OpenSSL's treatment of self-signed certificates that
//! webpki lacks, and the client certificate verifier a server asks with.
//!
//! Runs in the handshake on the I/O thread, or after it on either thread; never blocks.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::ParsedCertificate;
use rustls::{
  CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore, SignatureScheme,
};

use crate::error::CertError;
use crate::net::x509::CertInfo;

/// What certificates are checked against: webpki's roots, and the same certificates in DER
/// for the self-signed ones OpenSSL trusts and webpki does not.
#[derive(Debug)]
pub(super) struct Trust {
  pub(super) roots: Arc<RootCertStore>,
  /// `ca` (or NODE_EXTRA_CA_CERTS) as given.
  pub(super) anchors: Vec<Vec<u8>>,
  /// NODE_EXTRA_CA_CERTS beside a `ca`: not trusted, but Bun reports a chain that ends there as
  /// SELF_SIGNED_CERT_IN_CHAIN instead of an unknown issuer.
  pub(super) foreign: Option<Arc<RootCertStore>>,
  pub(super) algorithms: WebPkiSupportedAlgorithms,
}

impl Trust {
  /// The chain, then the name as Node's checkServerIdentity (and Bun) match it: subjectAltName,
  /// or the subject CN of a certificate without DNS names.
  pub(super) fn verify_server(
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
          refusal(CertError::SelfSignedInChain)
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
  pub(super) fn self_signed(
    &self,
    leaf: &CertificateDer<'_>,
    now: UnixTime,
    err: Error,
  ) -> Result<(), Error> {
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
      return Err(refusal(CertError::DepthZeroSelfSigned));
    }
    Err(err)
  }
}

/// The server certificate check in the handshake: `strict` refuses what `Trust` refuses
/// (`rejectUnauthorized`), otherwise only signatures are checked here and `ClientTls::outcome`
/// judges the certificate afterwards.
#[derive(Debug)]
pub(super) struct ServerVerifier {
  pub(super) trust: Arc<Trust>,
  pub(super) strict: bool,
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

/// A certificate refused for a reason that rustls has no error for.
#[derive(Debug)]
pub(super) struct Refusal(pub(super) CertError);

impl fmt::Display for Refusal {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(self.0.code())
  }
}

impl std::error::Error for Refusal {}

pub(super) fn refusal(code: CertError) -> Error {
  Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(Refusal(
    code,
  )))))
}

/// Why a server certificate was refused, and the certificate.
#[derive(Debug)]
pub(super) struct Refused {
  pub(super) error: Error,
  pub(super) leaf: Vec<u8>,
}

impl fmt::Display for Refused {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    self.error.fmt(f)
  }
}

impl std::error::Error for Refused {}

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
pub(super) struct AcceptingClientVerifier {
  pub(super) algorithms: WebPkiSupportedAlgorithms,
  pub(super) hints: Vec<DistinguishedName>,
  pub(super) mandatory: bool,
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
