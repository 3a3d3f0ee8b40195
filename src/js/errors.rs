//! The only bridge from `SocketError` to JS.
//!
//! Native code never builds an `Error` object: Jest runs each test file in its own realm, where
//! an error made by `napi_create_error` is not `instanceof Error`. It hands `lib/errors.js` a
//! descriptor, and that builds the Error users see, for throws and events alike.

use napi_derive::napi;

use crate::error::SocketError;

/// What `lib/errors.js` needs to build an Error.
#[napi(object)]
pub struct ErrorInfo {
  /// The errno name, `ERR_*`, or the certificate code.
  pub code: String,
  /// Node's wording, or BoringSSL's for a TLS failure.
  pub message: String,
  /// The positive OS errno, when an OS call failed.
  pub errno: Option<i32>,
  /// The failed call ("connect", "listen"…), when an OS call failed.
  pub syscall: Option<String>,
  /// Where the call was aimed: an IP, a name or a unix path.
  pub address: Option<String>,
  /// The port the call was aimed at.
  pub port: Option<u32>,
}

impl From<&SocketError> for ErrorInfo {
  fn from(err: &SocketError) -> ErrorInfo {
    let mut info = ErrorInfo {
      code: err.code().to_owned(),
      message: err.to_string(),
      errno: None,
      syscall: None,
      address: None,
      port: None,
    };
    if let SocketError::Os {
      syscall,
      errno,
      target,
      ..
    } = err
    {
      if let Some(description) = describe_errno(*errno) {
        info.message = description;
      }
      info.errno = (*errno != 0).then_some(*errno);
      info.syscall = Some(syscall.as_str().to_owned());
      info.address = target.address.clone();
      info.port = target.port.map(u32::from);
    }
    info
  }
}

/// libuv's wording of an errno ("connection reset by peer"), which Bun's messages use; the C
/// library's, lower-cased, for the rare ones libuv words the same way or not at all.
#[cfg(unix)]
fn describe_errno(errno: i32) -> Option<String> {
  use nix::errno::Errno::*;
  if errno == 0 {
    return None;
  }
  let name = nix::errno::Errno::from_raw(errno);
  let libuv = match name {
    EADDRNOTAVAIL => "address not available",
    EAFNOSUPPORT => "address family not supported",
    EAGAIN => "resource temporarily unavailable",
    ECONNABORTED => "software caused connection abort",
    ECONNREFUSED => "connection refused",
    ECONNRESET => "connection reset by peer",
    EHOSTUNREACH => "host is unreachable",
    EMFILE => "too many open files",
    ENFILE => "file table overflow",
    ENOBUFS => "no buffer space available",
    ENOMEM => "not enough memory",
    ENOTCONN => "socket is not connected",
    ENOTSOCK => "socket operation on non-socket",
    EOPNOTSUPP => "operation not supported on socket",
    EPROTONOSUPPORT => "protocol not supported",
    EPROTOTYPE => "protocol wrong type for socket",
    ETIMEDOUT => "connection timed out",
    ENAMETOOLONG => "name too long",
    EFAULT => "bad address in system call argument",
    EBUSY => "resource busy or locked",
    EISCONN => "socket is already connected",
    ESHUTDOWN => "cannot send after transport endpoint shutdown",
    _ => "",
  };
  if !libuv.is_empty() {
    return Some(libuv.to_owned());
  }
  let text = name.desc();
  let mut chars = text.chars();
  let first = chars.next()?;
  Some(first.to_lowercase().chain(chars).collect())
}

/// libuv's wording of a Winsock or Win32 code.
#[cfg(windows)]
fn describe_errno(errno: i32) -> Option<String> {
  crate::error::windows_error(errno).map(|(_, description)| description.to_owned())
}
