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
  /// The peer or its certificate was refused, or the TLS stream is corrupt.
  #[error("{message}")]
  Tls { code: &'static str, message: String },
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

  pub fn code(&self) -> &'static str {
    match self {
      SocketError::Os { code, .. } | SocketError::Tls { code, .. } => code,
    }
  }
}

/// The errno's symbolic name ("ECONNREFUSED"), or "UNKNOWN".
pub fn errno_name(errno: i32) -> &'static str {
  #[cfg(unix)]
  {
    let name = nix::errno::Errno::from_raw(errno);
    if name != nix::errno::Errno::UnknownErrno {
      return errno_str(name);
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

/// Errors without an errno (tokio's own, or ones built from a kind).
fn kind_code(err: &io::Error) -> (&'static str, i32) {
  let errno = |e: nix::errno::Errno| e as i32;
  use nix::errno::Errno::*;
  match err.kind() {
    io::ErrorKind::ConnectionRefused => ("ECONNREFUSED", errno(ECONNREFUSED)),
    io::ErrorKind::ConnectionReset => ("ECONNRESET", errno(ECONNRESET)),
    io::ErrorKind::BrokenPipe => ("EPIPE", errno(EPIPE)),
    io::ErrorKind::TimedOut => ("ETIMEDOUT", errno(ETIMEDOUT)),
    io::ErrorKind::AddrInUse => ("EADDRINUSE", errno(EADDRINUSE)),
    io::ErrorKind::AddrNotAvailable => ("EADDRNOTAVAIL", errno(EADDRNOTAVAIL)),
    io::ErrorKind::NotFound => ("ENOENT", errno(ENOENT)),
    io::ErrorKind::PermissionDenied => ("EACCES", errno(EACCES)),
    io::ErrorKind::InvalidInput => ("EINVAL", errno(EINVAL)),
    _ => ("UNKNOWN", 0),
  }
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
}
