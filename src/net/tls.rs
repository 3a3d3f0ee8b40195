//! rustls configurations for Bun's `tls` options, and the names Node gives TLS failures.
//!
//! Runs on the JS thread (configs are built when `listen`/`connect` is called, so bad options
//! throw there) and is used by the I/O thread's handshakes. Not wired to sockets yet.

use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{
  CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
};

use crate::error::SocketError;

/// Bun's `tls` option, with every PEM input already read into bytes by the JS layer.
#[derive(Default, Clone)]
pub struct TlsOptions {
  pub key: Vec<Vec<u8>>,
  pub cert: Vec<Vec<u8>>,
  pub ca: Vec<Vec<u8>>,
  pub passphrase: Option<String>,
  pub server_name: Option<String>,
  pub reject_unauthorized: bool,
  pub request_cert: bool,
  pub alpn: Vec<Vec<u8>>,
}

/// What the client's verifier concluded about the server's certificate: kept even when the
/// connection goes on (`rejectUnauthorized: false`), for `authorized` and
/// `getAuthorizationError()`.
#[derive(Default)]
pub struct Verdict {
  error: Mutex<Option<SocketError>>,
}

impl Verdict {
  pub fn error(&self) -> Option<SocketError> {
    self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
  }

  fn record(&self, err: SocketError) {
    *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
  }
}

/// A server config: our chain and key, optionally asking clients for certificates.
pub fn server_config(options: &TlsOptions) -> Result<Arc<ServerConfig>, SocketError> {
  let chain = certificates(&options.cert, "cert")?;
  let key = private_key(&options.key, options.passphrase.as_deref())?;
  let builder = ServerConfig::builder_with_provider(Arc::new(default_provider()))
    .with_safe_default_protocol_versions()
    .map_err(|err| invalid("ERR_SSL_NO_PROTOCOLS", &err))?;
  let builder = if options.request_cert {
    let roots = Arc::new(roots(&options.ca)?);
    let verifier = rustls::server::WebPkiClientVerifier::builder(roots);
    let verifier = if options.reject_unauthorized {
      verifier
    } else {
      verifier.allow_unauthenticated()
    };
    builder.with_client_cert_verifier(verifier.build().map_err(|err| invalid("ERR_SSL_CA", &err))?)
  } else {
    builder.with_no_client_auth()
  };
  let mut config = builder
    .with_single_cert(chain, key)
    .map_err(|err| invalid("ERR_OSSL_X509_KEY_VALUES_MISMATCH", &err))?;
  config.alpn_protocols = options.alpn.clone();
  Ok(Arc::new(config))
}

/// A client config whose verifier records its verdict instead of failing when
/// `rejectUnauthorized` is false. Trust: `ca` when given, else the bundled webpki roots.
pub fn client_config(options: &TlsOptions) -> Result<(Arc<ClientConfig>, Arc<Verdict>), SocketError> {
  let provider = Arc::new(default_provider());
  let roots = if options.ca.is_empty() {
    RootCertStore {
      roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
  } else {
    roots(&options.ca)?
  };
  let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
    .build()
    .map_err(|err| invalid("ERR_SSL_CA", &err))?;
  let verdict = Arc::new(Verdict::default());
  let verifier = Arc::new(RecordingVerifier {
    inner,
    verdict: verdict.clone(),
    reject: options.reject_unauthorized,
  });
  let builder = ClientConfig::builder_with_provider(provider)
    .with_safe_default_protocol_versions()
    .map_err(|err| invalid("ERR_SSL_NO_PROTOCOLS", &err))?
    .dangerous()
    .with_custom_certificate_verifier(verifier);
  let mut config = if options.cert.is_empty() {
    builder.with_no_client_auth()
  } else {
    let chain = certificates(&options.cert, "cert")?;
    let key = private_key(&options.key, options.passphrase.as_deref())?;
    builder
      .with_client_auth_cert(chain, key)
      .map_err(|err| invalid("ERR_OSSL_X509_KEY_VALUES_MISMATCH", &err))?
  };
  config.alpn_protocols = options.alpn.clone();
  Ok((Arc::new(config), verdict))
}

/// The code Node (and Bun) give a refused certificate.
pub fn certificate_code(err: &rustls::Error) -> &'static str {
  match err {
    rustls::Error::InvalidCertificate(cert) => match cert {
      // Bun reports a self-signed or unknown issuer this way (Node: DEPTH_ZERO_SELF_SIGNED_CERT
      // for a self-signed leaf).
      CertificateError::UnknownIssuer => "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
        "ERR_TLS_CERT_ALTNAME_INVALID"
      }
      CertificateError::Expired | CertificateError::ExpiredContext { .. } => "CERT_HAS_EXPIRED",
      CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => "CERT_NOT_YET_VALID",
      CertificateError::Revoked => "CERT_REVOKED",
      CertificateError::BadSignature => "CERT_SIGNATURE_FAILURE",
      _ => "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    },
    rustls::Error::NoApplicationProtocol => "EPROTO",
    _ => "EPROTO",
  }
}

/// Wraps webpki's verifier: records why a certificate was refused, and refuses it only when
/// `rejectUnauthorized` is true.
struct RecordingVerifier {
  inner: Arc<WebPkiServerVerifier>,
  verdict: Arc<Verdict>,
  reject: bool,
}

impl ServerCertVerifier for RecordingVerifier {
  fn verify_server_cert(
    &self,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: &ServerName<'_>,
    ocsp: &[u8],
    now: UnixTime,
  ) -> Result<ServerCertVerified, rustls::Error> {
    match self
      .inner
      .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    {
      Ok(verified) => Ok(verified),
      Err(err) => {
        self.verdict.record(SocketError::Tls {
          code: certificate_code(&err),
          message: err.to_string(),
        });
        if self.reject {
          Err(err)
        } else {
          Ok(ServerCertVerified::assertion())
        }
      }
    }
  }

  fn verify_tls12_signature(
    &self,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
  ) -> Result<HandshakeSignatureValid, rustls::Error> {
    self.inner.verify_tls12_signature(message, cert, dss)
  }

  fn verify_tls13_signature(
    &self,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
  ) -> Result<HandshakeSignatureValid, rustls::Error> {
    self.inner.verify_tls13_signature(message, cert, dss)
  }

  fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
    self.inner.supported_verify_schemes()
  }
}

impl fmt::Debug for RecordingVerifier {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.debug_struct("RecordingVerifier")
      .field("reject", &self.reject)
      .finish()
  }
}

fn certificates(pems: &[Vec<u8>], what: &str) -> Result<Vec<CertificateDer<'static>>, SocketError> {
  let mut out = Vec::new();
  for pem in pems {
    for cert in CertificateDer::pem_slice_iter(pem) {
      out.push(cert.map_err(|err| invalid("ERR_OSSL_PEM_NO_START_LINE", &format!("{what}: {err}")))?);
    }
  }
  if out.is_empty() {
    return Err(invalid(
      "ERR_OSSL_PEM_NO_START_LINE",
      &format!("no certificate found in {what}"),
    ));
  }
  Ok(out)
}

fn roots(pems: &[Vec<u8>]) -> Result<RootCertStore, SocketError> {
  let mut store = RootCertStore::empty();
  for cert in certificates(pems, "ca")? {
    store.add(cert).map_err(|err| invalid("ERR_SSL_CA", &err))?;
  }
  Ok(store)
}

/// The first private key in `pems`; an encrypted PKCS#8 key needs `passphrase`.
fn private_key(pems: &[Vec<u8>], passphrase: Option<&str>) -> Result<PrivateKeyDer<'static>, SocketError> {
  for pem in pems {
    let text = String::from_utf8_lossy(pem);
    if text.contains("BEGIN ENCRYPTED PRIVATE KEY") {
      let (_, document) = pkcs8::SecretDocument::from_pem(text.trim())
        .map_err(|err| invalid("ERR_OSSL_PEM_BAD_BASE64_DECODE", &err))?;
      let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(document.as_bytes())
        .map_err(|err| invalid("ERR_OSSL_PEM_BAD_BASE64_DECODE", &err))?;
      let plain = encrypted
        .decrypt(passphrase.unwrap_or_default())
        .map_err(|_| invalid("ERR_OSSL_BAD_DECRYPT", &"bad decrypt"))?;
      return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
      )));
    }
    if let Ok(key) = PrivateKeyDer::from_pem_slice(pem) {
      return Ok(key);
    }
  }
  Err(invalid(
    "ERR_OSSL_PEM_NO_START_LINE",
    &"no private key found in key",
  ))
}

fn invalid(code: &'static str, err: &dyn fmt::Display) -> SocketError {
  SocketError::Tls {
    code,
    message: err.to_string(),
  }
}

#[cfg(test)]
mod tests {
  use std::path::Path;

  use tokio::io::{AsyncReadExt, AsyncWriteExt};
  use tokio::net::{TcpListener, TcpStream};
  use tokio_rustls::{TlsAcceptor, TlsConnector};

  use super::*;

  fn pem(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
      .join("__test__/fixtures/certs")
      .join(name);
    std::fs::read(path).expect("fixture certificate")
  }

  fn server(cert: &str, key: &str) -> TlsOptions {
    TlsOptions {
      cert: vec![pem(cert)],
      key: vec![pem(key)],
      ..TlsOptions::default()
    }
  }

  fn client(reject_unauthorized: bool) -> TlsOptions {
    TlsOptions {
      ca: vec![pem("ca.pem")],
      reject_unauthorized,
      ..TlsOptions::default()
    }
  }

  /// One handshake over loopback and a byte each way; the client's outcome and verdict.
  async fn handshake(
    server: &TlsOptions,
    client: &TlsOptions,
  ) -> (Result<(), rustls::Error>, Option<SocketError>) {
    let acceptor = TlsAcceptor::from(server_config(server).unwrap());
    let (config, verdict) = client_config(client).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = tokio::spawn(async move {
      let (tcp, _) = listener.accept().await.unwrap();
      if let Ok(mut tls) = acceptor.accept(tcp).await {
        let mut byte = [0u8; 1];
        if tls.read_exact(&mut byte).await.is_ok() {
          let _ = tls.write_all(&byte).await;
          let _ = tls.flush().await;
        }
      }
    });
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let outcome = match TlsConnector::from(config).connect(name, tcp).await {
      Ok(mut tls) => {
        tls.write_all(b"x").await.unwrap();
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"x");
        Ok(())
      }
      Err(err) => Err(
        err
          .into_inner()
          .and_then(|e| e.downcast::<rustls::Error>().ok())
          .map_or(rustls::Error::General("io".into()), |e| *e),
      ),
    };
    let _ = served.await;
    (outcome, verdict.error())
  }

  #[tokio::test]
  async fn a_certificate_from_the_trusted_ca_is_authorized() {
    let (outcome, verdict) = handshake(&server("server.pem", "server-key.pem"), &client(true)).await;
    assert!(outcome.is_ok());
    assert!(verdict.is_none());
    let (outcome, _) = handshake(&server("server-rsa.pem", "server-rsa-key.pem"), &client(true)).await;
    assert!(outcome.is_ok());
  }

  #[tokio::test]
  async fn refused_certificates_carry_node_codes() {
    for (cert, key, code) in [
      (
        "self-signed.pem",
        "self-signed-key.pem",
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      ),
      (
        "wrong-name.pem",
        "wrong-name-key.pem",
        "ERR_TLS_CERT_ALTNAME_INVALID",
      ),
      ("expired.pem", "expired-key.pem", "CERT_HAS_EXPIRED"),
    ] {
      let (outcome, verdict) = handshake(&server(cert, key), &client(true)).await;
      assert!(outcome.is_err(), "{cert} must be refused");
      assert_eq!(verdict.map(|e| e.code()), Some(code), "{cert}");
      // rejectUnauthorized: false goes on, and still knows why the certificate is bad.
      let (outcome, verdict) = handshake(&server(cert, key), &client(false)).await;
      assert!(outcome.is_ok(), "{cert} with rejectUnauthorized false");
      assert_eq!(verdict.map(|e| e.code()), Some(code), "{cert}");
    }
  }

  #[tokio::test]
  async fn an_encrypted_key_opens_with_its_passphrase() {
    let mut options = server("server.pem", "server-key-encrypted.pem");
    options.passphrase = Some("secret".into());
    let (outcome, _) = handshake(&options, &client(true)).await;
    assert!(outcome.is_ok());
    options.passphrase = Some("wrong".into());
    assert_eq!(
      server_config(&options).err().map(|e| e.code()),
      Some("ERR_OSSL_BAD_DECRYPT")
    );
  }

  #[test]
  fn bad_inputs_are_refused_with_a_code() {
    let mismatch = server("server.pem", "client-key.pem");
    assert_eq!(
      server_config(&mismatch).err().map(|e| e.code()),
      Some("ERR_OSSL_X509_KEY_VALUES_MISMATCH")
    );
    let garbage = TlsOptions {
      ca: vec![b"not a certificate".to_vec()],
      ..TlsOptions::default()
    };
    assert!(client_config(&garbage).is_err());
    let no_key = TlsOptions {
      cert: vec![pem("server.pem")],
      ..TlsOptions::default()
    };
    assert!(server_config(&no_key).is_err());
  }
}
