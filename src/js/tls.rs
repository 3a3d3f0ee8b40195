//! `NativeTlsConfig`: rustls configurations built from the options `lib/tls-options.js`
//! checked, and the TLS members of `NativeSocket`.

use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, Either};
use napi_derive::napi;
use rustls::pki_types::ServerName;

use crate::error::{CertError, SocketError};
use crate::js::errors::ErrorInfo;
use crate::js::socket::NativeSocket;
use crate::net::conn::Request;
use crate::net::secure::{KeyingError, Secure};
use crate::net::tls::{
  Alpn, AlpnChoice, Answer, ClientTls, Hooks, ServerTls, TlsOptions, VerifyMode, Versions,
};

/// Bun's `tls` option in DER (see `TlsOptions`).
#[napi(object)]
pub struct TlsInput {
  /// Our chain, leaf first.
  pub certs: Vec<Buffer>,
  /// PKCS#8, already decrypted.
  pub key: Option<Buffer>,
  /// Trusted roots instead of the bundled ones.
  pub ca: Option<Vec<Buffer>>,
  /// NODE_EXTRA_CA_CERTS, read by `lib/tls.js`.
  pub extra_ca: Option<Vec<Buffer>>,
  /// A client refuses a server it cannot verify; a server with `request_cert` a client.
  pub reject_unauthorized: bool,
  /// A server asks clients for a certificate.
  pub request_cert: bool,
  /// Protocol names, most preferred first.
  pub alpn: Vec<Buffer>,
  /// `ALPNProtocols` was given but malformed (`alpn` is then empty).
  pub alpn_malformed: bool,
  /// TLS 1.2 is spoken (`secureOptions` lacks SSL_OP_NO_TLSv1_2).
  pub tls12: bool,
  /// TLS 1.3 is spoken (`secureOptions` lacks SSL_OP_NO_TLSv1_3).
  pub tls13: bool,
}

/// Why `exportKeyingMaterial` gave nothing (`lib/tls-socket.js` words it as BoringSSL does).
#[napi]
pub enum KeyingFailure {
  HandshakeNotComplete,
  /// More than the key schedule can give.
  OutputTooLarge,
  NoMemory,
}

/// TLS errors JS reports itself, described here so that their codes and words live in one place.
#[napi]
pub enum PresetTlsError {
  /// The connection closed before the handshake ended (ECONNRESET).
  Disconnected,
  /// No peer certificate to check: what `getAuthorizationError()` says before the handshake.
  NoIssuer,
}

/// The descriptor of a `PresetTlsError`, for `lib/errors.js`.
#[napi(catch_unwind)]
pub fn preset_tls_error(which: PresetTlsError) -> ErrorInfo {
  let err = match which {
    PresetTlsError::Disconnected => crate::net::tls::disconnected_error(),
    PresetTlsError::NoIssuer => SocketError::Certificate(CertError::UnableToGetIssuerCert),
  };
  ErrorInfo::from(&err)
}

/// The code of a hostname the peer's certificate does not name: JS rewords that refusal with
/// the certificate's names, as Node does.
#[napi]
pub const CERT_ALTNAME_INVALID: &str = CertError::AltnameInvalid.code();

/// What a listener's handlers need from each ClientHello (`lib/tls-events.js` decides).
#[napi(object)]
pub struct HelloHooks {
  /// `open` runs before the handshake and may call setVerifyMode(): every ClientHello waits.
  pub always: bool,
  /// A `serverName` handler: a ClientHello with SNI waits.
  pub server_name: bool,
  /// An `alpnCallback` handler: a ClientHello offering ALPN waits.
  pub alpn: bool,
  /// A `keylog` handler: the session's secrets are reported.
  pub keylog: bool,
}

/// A server or client configuration, shared by every socket made with the same options.
#[napi]
pub struct NativeTlsConfig {
  server: Option<Arc<ServerTls>>,
  client: Option<Arc<ClientTls>>,
}

/// Builds the configuration for one side, or describes why it cannot be built.
#[napi(catch_unwind)]
pub fn tls_config(input: TlsInput, is_server: bool) -> Either<NativeTlsConfig, ErrorInfo> {
  let options = TlsOptions {
    certs: input.certs.iter().map(|der| der.to_vec()).collect(),
    key: input.key.map(|der| der.to_vec()),
    ca: input.ca.map(|list| list.iter().map(|der| der.to_vec()).collect()),
    extra_ca: input
      .extra_ca
      .map(|list| list.iter().map(|der| der.to_vec()).collect())
      .unwrap_or_default(),
    reject_unauthorized: input.reject_unauthorized,
    request_cert: input.request_cert,
    alpn: if input.alpn_malformed {
      Alpn::Malformed
    } else {
      Alpn::Names(input.alpn.iter().map(|name| name.to_vec()).collect())
    },
    versions: Versions {
      tls12: input.tls12,
      tls13: input.tls13,
    },
  };
  let built = if is_server {
    ServerTls::new(&options).map(|tls| NativeTlsConfig {
      server: Some(Arc::new(tls)),
      client: None,
    })
  } else {
    ClientTls::new(&options).map(|tls| NativeTlsConfig {
      server: None,
      client: Some(Arc::new(tls)),
    })
  };
  match built {
    Ok(config) => Either::A(config),
    Err(err) => Either::B(ErrorInfo::from(&err)),
  }
}

#[napi]
impl NativeTlsConfig {
  /// A server config of its own for one listener (the hooks are per listener), sharing the
  /// rustls configs with this one.
  #[napi(catch_unwind)]
  pub fn for_listener(&self) -> NativeTlsConfig {
    NativeTlsConfig {
      server: self.server.as_ref().map(|server| Arc::new(server.for_listener())),
      client: self.client.clone(),
    }
  }

  /// What the listener's handlers need from each ClientHello, from now on.
  #[napi(catch_unwind)]
  pub fn set_hooks(&self, hooks: HelloHooks) {
    if let Some(server) = &self.server {
      server.set_hooks(Hooks {
        always: hooks.always,
        server_name: hooks.server_name,
        alpn: hooks.alpn,
        keylog: hooks.keylog,
      });
    }
  }
}

impl NativeTlsConfig {
  pub(crate) fn server(&self) -> Option<Arc<ServerTls>> {
    self.server.clone()
  }

  /// A client session for `name` (verified against, and sent as SNI when `sni`). A name that
  /// is no DNS name or IP address ("127.1", " a b ") is no error in Bun: the handshake fails
  /// on the certificate's names. Here it becomes a name in the reserved `.invalid` domain, sent
  /// as no SNI, that no certificate names; `lib/` words the mismatch with the name given.
  pub(crate) fn client_session(&self, name: &str, sni: bool) -> Option<Box<Secure>> {
    let tls = self.client.clone()?;
    let (name, sni) = match ServerName::try_from(name.to_owned()) {
      Ok(name) => (name, sni),
      Err(_) => (ServerName::try_from(UNMATCHABLE_NAME).ok()?, false),
    };
    Some(Box::new(Secure::client(tls, name, sni)))
  }
}

/// RFC 6761 reserves `.invalid`: no public certificate names it.
const UNMATCHABLE_NAME: &str = "name.invalid";

/// What `getCipher()`, `getTLSVersion()`, `alpnProtocol`… read.
#[napi(object)]
pub struct TlsInfo {
  /// "TLSv1.3" or "TLSv1.2" once agreed.
  pub version: Option<String>,
  /// rustls' name of the suite ("TLS13_AES_128_GCM_SHA256").
  pub cipher: Option<String>,
  /// The protocol agreed by ALPN.
  pub alpn: Option<String>,
  /// The session was resumed.
  pub resumed: bool,
  /// OpenSSL's name of the key exchange group ("X25519").
  pub group: Option<String>,
  /// A server's SNI from the client.
  pub servername: Option<String>,
  /// The handshake finished.
  pub established: bool,
}

#[napi]
impl NativeSocket {
  /// Starts a client handshake (after `open` and the connect promise's callbacks), with the
  /// `rejectUnauthorized` of `setVerifyMode()` if it was called, and whether Bun's `keylog`
  /// and `session` handlers exist.
  #[napi(catch_unwind)]
  pub fn start_tls(&self, reject_unauthorized: Option<bool>, keylog: Option<bool>, session: Option<bool>) {
    let Some(conn) = self.conn() else {
      return;
    };
    if let Some(secure) = conn.secure() {
      if let Some(reject_unauthorized) = reject_unauthorized {
        secure.set_verify_mode(VerifyMode {
          request_cert: false,
          reject_unauthorized,
        });
      }
      secure.set_handlers(keylog.unwrap_or(false), session.unwrap_or(false));
    }
    conn.request(Request::StartTls);
  }

  /// A server's answer to the ClientHello it reported: refuse it (Bun's `serverName` handler
  /// refused), the protocol chosen (`alpn`; `alpnRefused`: none of the client's), and the verify
  /// mode of `setVerifyMode()` if it was called. The handshake then goes on.
  #[napi(catch_unwind)]
  pub fn answer_hello(
    &self,
    refuse: bool,
    alpn: Option<Buffer>,
    alpn_refused: bool,
    request_cert: Option<bool>,
    reject_unauthorized: Option<bool>,
  ) {
    let Some(conn) = self.conn() else {
      return;
    };
    let Some(secure) = conn.secure() else {
      return;
    };
    let alpn = match (alpn, alpn_refused) {
      (_, true) => AlpnChoice::Refused,
      (Some(name), false) => AlpnChoice::Protocol(name.to_vec()),
      (None, false) => AlpnChoice::Listed,
    };
    // Without setVerifyMode(), the mode the connection has (the options').
    let mode = match (request_cert, reject_unauthorized) {
      (Some(request_cert), Some(reject_unauthorized)) => VerifyMode {
        request_cert,
        reject_unauthorized,
      },
      _ => secure.verify_mode(),
    };
    if secure.answer_hello(Answer { refuse, alpn, mode }) {
      conn.request(Request::StartTls);
    }
  }

  /// STARTTLS: makes this plain connection a TLS one. False if it already was, or the name is
  /// not one a certificate can be checked against.
  #[napi(catch_unwind)]
  pub fn upgrade_tls(
    &self,
    config: &NativeTlsConfig,
    server_name: String,
    sni: bool,
    initial_data: Option<Buffer>,
  ) -> bool {
    let Some(conn) = self.conn() else {
      return false;
    };
    let secure = match config.server() {
      Some(server) => match Secure::server(server) {
        Ok(secure) => Box::new(secure),
        Err(_) => return false,
      },
      None => match config.client_session(&server_name, sni) {
        Some(secure) => secure,
        None => return false,
      },
    };
    secure.set_tapped();
    // From here the TLS task reads: nothing more goes to this thread's reader.
    crate::js::reader::forget(conn.id());
    conn.upgrade_tls(secure, initial_data.map(|bytes| bytes.to_vec()))
  }

  /// The session's protocol, cipher, ALPN, group and resumption; none before it exists.
  #[napi(catch_unwind)]
  pub fn tls_info(&self) -> Option<TlsInfo> {
    let secure = self.conn()?.secure()?;
    let established = secure.is_established();
    let info = secure.info();
    Some(match info {
      Some(info) => TlsInfo {
        version: info.version.map(str::to_owned),
        cipher: info.cipher.map(str::to_owned),
        alpn: info.alpn.map(|name| String::from_utf8_lossy(&name).into_owned()),
        resumed: info.resumed,
        group: info.group,
        servername: info.servername,
        established,
      },
      None => TlsInfo {
        version: None,
        cipher: None,
        alpn: None,
        resumed: false,
        group: None,
        servername: None,
        established,
      },
    })
  }

  /// The peer's chain in DER, leaf first.
  #[napi(catch_unwind)]
  pub fn peer_certificates(&self) -> Option<Vec<Buffer>> {
    let certs = self.conn()?.secure()?.peer_certificates()?;
    Some(certs.into_iter().map(Buffer::from).collect())
  }

  /// RFC 5705 keying material, or why there is none. `length` is a whole number in [0, 2^32],
  /// checked by `lib/tls-socket.js` (a u32 here would wrap 2^32 + 16 to 16).
  #[napi(catch_unwind)]
  pub fn export_keying_material(
    &self,
    length: f64,
    label: String,
    context: Option<Buffer>,
  ) -> Either<Buffer, KeyingFailure> {
    let Some(secure) = self.conn().and_then(|conn| conn.secure()) else {
      return Either::B(KeyingFailure::HandshakeNotComplete);
    };
    // A float-to-int `as` saturates: NaN is 0, and nothing can exceed usize.
    match secure.export_keying_material(length as usize, label.as_bytes(), context.as_deref()) {
      Ok(bytes) => Either::A(Buffer::from(bytes)),
      Err(KeyingError::NotEstablished) => Either::B(KeyingFailure::HandshakeNotComplete),
      Err(KeyingError::TooLarge) => Either::B(KeyingFailure::OutputTooLarge),
      Err(KeyingError::NoMemory) => Either::B(KeyingFailure::NoMemory),
    }
  }

  /// A token naming this connection's sessions, for `setSession` in this process (a server's
  /// names none).
  #[napi(catch_unwind)]
  pub fn tls_session(&self) -> Option<Buffer> {
    self.conn()?.secure()?.session_token().map(Buffer::from)
  }

  /// A client resumes the sessions named by `token` (from `tls_session` in this process).
  #[napi(catch_unwind)]
  pub fn set_tls_session(&self, token: Buffer) {
    if let Some(secure) = self.conn().and_then(|conn| conn.secure()) {
      secure.set_session(&token);
    }
  }
}
