//! The core's errors and the tables that name them as Node does.
//!
//! No napi types here: `js/errors.rs` turns a `SocketError` into what JS sees.

use std::fmt;
use std::io;

/// Which OS call failed; Node and Bun put this in `err.syscall`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syscall {
  Connect,
  Listen,
  Bind,
  Read,
  Getaddrinfo,
  Send,
  Recv,
  Setsockopt,
}

impl Syscall {
  pub fn as_str(self) -> &'static str {
    match self {
      Syscall::Connect => "connect",
      Syscall::Listen => "listen",
      Syscall::Bind => "bind",
      Syscall::Read => "read",
      Syscall::Getaddrinfo => "getaddrinfo",
      Syscall::Send => "send",
      Syscall::Recv => "recv",
      Syscall::Setsockopt => "setsockopt",
    }
  }
}

/// Where a failed call was aimed, for `err.address` / `err.port` and the message suffix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorTarget {
  pub address: Option<String>,
  pub port: Option<u16>,
}

/// A failure the user sees as an `Error` with a `code`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SocketError {
  /// An OS call failed; `code` is the errno name ("ECONNREFUSED").
  #[error("{syscall} {code}{target}", syscall = .syscall.as_str(), target = TargetSuffix(.target))]
  Os {
    syscall: Syscall,
    code: &'static str,
    errno: i32,
    target: ErrorTarget,
  },
  /// A certificate was refused.
  #[error("{}", .0.message())]
  Certificate(CertError),
  /// A TLS session failed, or its options make no config; `message` is BoringSSL's wording.
  #[error("{message}")]
  Tls { failure: TlsFailure, message: String },
  /// A bug of ours that a task survived (a panic): the socket it owned closes with this.
  #[error("bun-sockets: internal error; the socket was closed")]
  Internal,
}

/// Why a certificate was refused: OpenSSL's verify result as Node names it, or Node's own code
/// for a name the certificate does not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertError {
  UnableToVerifyLeafSignature,
  UnableToGetIssuerCert,
  Expired,
  NotYetValid,
  Revoked,
  SignatureFailure,
  InvalidPurpose,
  SelfSignedInChain,
  DepthZeroSelfSigned,
  AltnameInvalid,
}

impl CertError {
  pub const fn code(self) -> &'static str {
    match self {
      CertError::UnableToVerifyLeafSignature => "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      CertError::UnableToGetIssuerCert => "UNABLE_TO_GET_ISSUER_CERT",
      CertError::Expired => "CERT_HAS_EXPIRED",
      CertError::NotYetValid => "CERT_NOT_YET_VALID",
      CertError::Revoked => "CERT_REVOKED",
      CertError::SignatureFailure => "CERT_SIGNATURE_FAILURE",
      CertError::InvalidPurpose => "INVALID_PURPOSE",
      CertError::SelfSignedInChain => "SELF_SIGNED_CERT_IN_CHAIN",
      CertError::DepthZeroSelfSigned => "DEPTH_ZERO_SELF_SIGNED_CERT",
      CertError::AltnameInvalid => "ERR_TLS_CERT_ALTNAME_INVALID",
    }
  }

  /// OpenSSL's wording; `lib/` words the hostname mismatch itself, from the certificate.
  pub fn message(self) -> &'static str {
    match self {
      CertError::UnableToVerifyLeafSignature => "unable to verify the first certificate",
      CertError::UnableToGetIssuerCert => "unable to get issuer certificate",
      CertError::Expired => "certificate has expired",
      CertError::NotYetValid => "certificate is not yet valid",
      CertError::Revoked => "certificate revoked",
      CertError::SignatureFailure => "certificate signature failure",
      CertError::InvalidPurpose => "unsupported certificate purpose",
      CertError::SelfSignedInChain => "self signed certificate in certificate chain",
      CertError::DepthZeroSelfSigned => "self signed certificate",
      CertError::AltnameInvalid => "Hostname/IP does not match certificate's altnames",
    }
  }
}

/// How a TLS session failed when no certificate is to blame, or why its options make no config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
  /// The stream is corrupt, or the peer refused us: `EPROTO`.
  Protocol,
  /// The peer closed before the handshake finished: `ECONNRESET`.
  Disconnected,
  /// No protocol version left, an unusable key or certificate: `ERR_SSL_CONFIG`.
  Config,
  /// A `ca` entry is not a certificate: `ERR_BORINGSSL`, as Bun names it.
  InvalidCa,
}

impl TlsFailure {
  pub fn code(self) -> &'static str {
    match self {
      TlsFailure::Protocol => "EPROTO",
      TlsFailure::Disconnected => "ECONNRESET",
      TlsFailure::Config => "ERR_SSL_CONFIG",
      TlsFailure::InvalidCa => "ERR_BORINGSSL",
    }
  }
}

impl SocketError {
  /// The only way to build `Os`: names the errno the way Node does.
  pub fn os(syscall: Syscall, err: &io::Error, target: ErrorTarget) -> SocketError {
    let (code, errno) = match err.raw_os_error() {
      Some(errno) => (errno_name(errno), errno),
      None => kind_code(err),
    };
    SocketError::Os {
      syscall,
      code,
      errno,
      target,
    }
  }

  /// An error the kernel queued for later (IP_RECVERR: ICMP unreachable, message too big).
  pub fn queued(syscall: Syscall, errno: i32) -> SocketError {
    SocketError::Os {
      syscall,
      code: errno_name(errno),
      errno,
      target: ErrorTarget::default(),
    }
  }

  /// A name lookup that found nothing, as Node reports it (`ENOTFOUND`, `getaddrinfo`).
  pub fn not_found(hostname: &str) -> SocketError {
    SocketError::Os {
      syscall: Syscall::Getaddrinfo,
      code: "ENOTFOUND",
      errno: 0,
      target: ErrorTarget {
        address: Some(hostname.to_owned()),
        port: None,
      },
    }
  }

  /// A TLS failure with BoringSSL's wording.
  pub fn tls(failure: TlsFailure, message: impl Into<String>) -> SocketError {
    SocketError::Tls {
      failure,
      message: message.into(),
    }
  }

  pub fn code(&self) -> &'static str {
    match self {
      SocketError::Os { code, .. } => code,
      SocketError::Certificate(cert) => cert.code(),
      SocketError::Tls { failure, .. } => failure.code(),
      SocketError::Internal => "ERR_INTERNAL_ASSERTION",
    }
  }
}

/// The errno's symbolic name ("ECONNREFUSED"), or "UNKNOWN". On Windows `raw_os_error()` is a
/// Winsock or Win32 code, named as libuv (and so Node) names it.
pub fn errno_name(errno: i32) -> &'static str {
  #[cfg(unix)]
  {
    let name = nix::errno::Errno::from_raw(errno);
    if name != nix::errno::Errno::UnknownErrno {
      return errno_str(name);
    }
  }
  #[cfg(windows)]
  {
    if let Some((name, _)) = windows_error(errno) {
      return name;
    }
  }
  "UNKNOWN"
}

#[cfg(unix)]
fn errno_str(errno: nix::errno::Errno) -> &'static str {
  use std::collections::HashMap;
  use std::sync::OnceLock;
  // nix names errnos only through Debug; cache the strings so each is leaked once.
  static NAMES: OnceLock<std::sync::Mutex<HashMap<i32, &'static str>>> = OnceLock::new();
  let names = NAMES.get_or_init(Default::default);
  let mut names = names.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
  names
    .entry(errno as i32)
    .or_insert_with(|| Box::leak(format!("{errno:?}").into_boxed_str()))
}

/// A Winsock (WSAE…) or Win32 (ERROR_…) code as libuv translates it (`uv_translate_sys_error`):
/// the POSIX name and libuv's description. Plain data, so Linux CI tests it too.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn windows_error(code: i32) -> Option<(&'static str, &'static str)> {
  WINDOWS_ERRORS
    .iter()
    .find(|(c, _, _)| *c == code)
    .map(|&(_, name, description)| (name, description))
}

#[rustfmt::skip]
const WINDOWS_ERRORS: &[(i32, &str, &str)] = &[
  // Winsock.
  (10004, "EINTR", "interrupted system call"),
  (10009, "EBADF", "bad file descriptor"),
  (10013, "EACCES", "permission denied"),
  (10014, "EFAULT", "bad address in system call argument"),
  (10022, "EINVAL", "invalid argument"),
  (10024, "EMFILE", "too many open files"),
  (10035, "EAGAIN", "resource temporarily unavailable"),
  (10036, "EALREADY", "connection already in progress"),
  (10037, "EALREADY", "connection already in progress"),
  (10038, "ENOTSOCK", "socket operation on non-socket"),
  (10039, "EDESTADDRREQ", "destination address required"),
  (10040, "EMSGSIZE", "message too long"),
  (10041, "EPROTOTYPE", "protocol wrong type for socket"),
  (10042, "ENOPROTOOPT", "protocol not available"),
  (10043, "EPROTONOSUPPORT", "protocol not supported"),
  (10044, "ESOCKTNOSUPPORT", "socket type not supported"),
  (10045, "EOPNOTSUPP", "operation not supported on socket"),
  (10046, "EAFNOSUPPORT", "address family not supported"),
  (10047, "EAFNOSUPPORT", "address family not supported"),
  (10048, "EADDRINUSE", "address already in use"),
  (10049, "EADDRNOTAVAIL", "address not available"),
  (10050, "ENETDOWN", "network is down"),
  (10051, "ENETUNREACH", "network is unreachable"),
  (10052, "ECONNRESET", "connection reset by peer"),
  (10053, "ECONNABORTED", "software caused connection abort"),
  (10054, "ECONNRESET", "connection reset by peer"),
  (10055, "ENOBUFS", "no buffer space available"),
  (10056, "EISCONN", "socket is already connected"),
  (10057, "ENOTCONN", "socket is not connected"),
  (10058, "ESHUTDOWN", "cannot send after transport endpoint shutdown"),
  (10060, "ETIMEDOUT", "connection timed out"),
  (10061, "ECONNREFUSED", "connection refused"),
  (10063, "ENAMETOOLONG", "name too long"),
  (10064, "EHOSTDOWN", "host is down"),
  (10065, "EHOSTUNREACH", "host is unreachable"),
  (10101, "EPIPE", "broken pipe"),
  (11001, "ENOTFOUND", "not found"),
  // Win32 codes that socket calls and `unix` paths return.
  (2, "ENOENT", "no such file or directory"),
  (3, "ENOENT", "no such file or directory"),
  (5, "EPERM", "operation not permitted"),
  (6, "EBADF", "bad file descriptor"),
  (8, "ENOMEM", "not enough memory"),
  (14, "ENOMEM", "not enough memory"),
  (64, "ECONNRESET", "connection reset by peer"),
  (109, "EOF", "end of file"),
  (121, "ETIMEDOUT", "connection timed out"),
  (206, "ENAMETOOLONG", "name too long"),
  (231, "EBUSY", "resource busy or locked"),
  (232, "EPIPE", "broken pipe"),
  (995, "ECANCELED", "operation canceled"),
  (1225, "ECONNREFUSED", "connection refused"),
  (1227, "EADDRINUSE", "address already in use"),
  (1231, "ENETUNREACH", "network is unreachable"),
  (1232, "EHOSTUNREACH", "host is unreachable"),
  (1236, "ECONNABORTED", "software caused connection abort"),
];

/// Errors without an errno (tokio's own, or ones built from a kind), with the number this
/// platform gives that error.
fn kind_code(err: &io::Error) -> (&'static str, i32) {
  match err.kind() {
    io::ErrorKind::ConnectionRefused => ("ECONNREFUSED", codes::ECONNREFUSED),
    io::ErrorKind::ConnectionReset => ("ECONNRESET", codes::ECONNRESET),
    io::ErrorKind::BrokenPipe => ("EPIPE", codes::EPIPE),
    io::ErrorKind::TimedOut => ("ETIMEDOUT", codes::ETIMEDOUT),
    io::ErrorKind::AddrInUse => ("EADDRINUSE", codes::EADDRINUSE),
    io::ErrorKind::AddrNotAvailable => ("EADDRNOTAVAIL", codes::EADDRNOTAVAIL),
    io::ErrorKind::NotFound => ("ENOENT", codes::ENOENT),
    io::ErrorKind::PermissionDenied => ("EACCES", codes::EACCES),
    io::ErrorKind::InvalidInput => ("EINVAL", codes::EINVAL),
    _ => ("UNKNOWN", 0),
  }
}

#[cfg(unix)]
mod codes {
  pub const ECONNREFUSED: i32 = libc::ECONNREFUSED;
  pub const ECONNRESET: i32 = libc::ECONNRESET;
  pub const EPIPE: i32 = libc::EPIPE;
  pub const ETIMEDOUT: i32 = libc::ETIMEDOUT;
  pub const EADDRINUSE: i32 = libc::EADDRINUSE;
  pub const EADDRNOTAVAIL: i32 = libc::EADDRNOTAVAIL;
  pub const ENOENT: i32 = libc::ENOENT;
  pub const EACCES: i32 = libc::EACCES;
  pub const EINVAL: i32 = libc::EINVAL;
}

/// The Winsock and Win32 codes of `WINDOWS_ERRORS`.
#[cfg(windows)]
mod codes {
  pub const ECONNREFUSED: i32 = 10061;
  pub const ECONNRESET: i32 = 10054;
  pub const EPIPE: i32 = 10101;
  pub const ETIMEDOUT: i32 = 10060;
  pub const EADDRINUSE: i32 = 10048;
  pub const EADDRNOTAVAIL: i32 = 10049;
  pub const ENOENT: i32 = 2;
  pub const EACCES: i32 = 10013;
  pub const EINVAL: i32 = 10022;
}

struct TargetSuffix<'a>(&'a ErrorTarget);

impl fmt::Display for TargetSuffix<'_> {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match (&self.0.address, self.0.port) {
      (Some(address), Some(port)) => write!(f, " {address}:{port}"),
      (Some(address), None) => write!(f, " {address}"),
      _ => Ok(()),
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[cfg(unix)]
  #[test]
  fn names_errnos_like_node() {
    let err = io::Error::from_raw_os_error(nix::errno::Errno::ECONNREFUSED as i32);
    let target = ErrorTarget {
      address: Some("127.0.0.1".into()),
      port: Some(4000),
    };
    let e = SocketError::os(Syscall::Connect, &err, target);
    assert_eq!(e.code(), "ECONNREFUSED");
    assert_eq!(e.to_string(), "connect ECONNREFUSED 127.0.0.1:4000");
    assert_eq!(errno_name(nix::errno::Errno::EADDRINUSE as i32), "EADDRINUSE");
    assert_eq!(errno_name(100_000), "UNKNOWN");
  }

  #[test]
  fn windows_codes_are_named_as_libuv_names_them() {
    assert_eq!(windows_error(10061), Some(("ECONNREFUSED", "connection refused")));
    assert_eq!(windows_error(10048).map(|e| e.0), Some("EADDRINUSE"));
    assert_eq!(windows_error(10054).map(|e| e.0), Some("ECONNRESET"));
    assert_eq!(windows_error(1225).map(|e| e.0), Some("ECONNREFUSED"));
    assert_eq!(windows_error(2).map(|e| e.0), Some("ENOENT"));
    assert_eq!(windows_error(4242), None);
    // Every name is one this module also uses for Unix errnos or Node knows.
    for &(code, name, description) in WINDOWS_ERRORS {
      assert!(name.starts_with('E') && !description.is_empty(), "{code}");
    }
  }

  #[cfg(unix)]
  #[test]
  fn kinds_without_an_errno_get_this_platform_s_number() {
    let err = io::Error::from(io::ErrorKind::ConnectionRefused);
    assert_eq!(kind_code(&err), ("ECONNREFUSED", libc::ECONNREFUSED));
  }
}
