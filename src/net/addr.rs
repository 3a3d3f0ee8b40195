//! Where a socket listens or connects, and name resolution.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use crate::error::{ErrorTarget, SocketError, Syscall};

/// A TCP host and port, or a unix socket path. Already validated by the JS layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
  Tcp { host: String, port: u16 },
  Unix(PathBuf),
}

impl Target {
  /// What error messages and `err.address`/`err.port` name.
  pub fn error_target(&self) -> ErrorTarget {
    match self {
      Target::Tcp { host, port } => ErrorTarget {
        address: Some(host.clone()),
        port: Some(*port),
      },
      Target::Unix(path) => ErrorTarget {
        address: Some(path.display().to_string()),
        port: None,
      },
    }
  }
}

/// Resolves a host for connecting, without blocking the I/O thread (getaddrinfo runs on the
/// blocking pool). IP literals skip the lookup.
pub async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, SocketError> {
  if let Some(ip) = parse_ip(host) {
    return Ok(vec![SocketAddr::new(ip, port)]);
  }
  // Bun tries both loopbacks for "localhost", whatever the hosts file says.
  if host.eq_ignore_ascii_case("localhost") {
    return Ok(vec![
      SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), port),
      SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), port),
    ]);
  }
  lookup(host, port).await
}

/// What getaddrinfo answers for `host`, in its order, without blocking the calling thread (it
/// runs on the blocking pool). IP literals skip it.
pub async fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, SocketError> {
  if let Some(ip) = parse_ip(host) {
    return Ok(vec![SocketAddr::new(ip, port)]);
  }
  match tokio::net::lookup_host((host, port)).await {
    Ok(addrs) => non_empty(addrs.collect(), host),
    Err(err) => Err(lookup_error(host, &err)),
  }
}

/// Resolves a host for binding, on the calling thread: `listen()` returns a bound listener.
pub fn resolve_blocking(host: &str, port: u16) -> Result<Vec<SocketAddr>, SocketError> {
  if let Some(ip) = parse_ip(host) {
    return Ok(vec![SocketAddr::new(ip, port)]);
  }
  match (host, port).to_socket_addrs() {
    Ok(addrs) => non_empty(addrs.collect(), host),
    Err(err) => Err(lookup_error(host, &err)),
  }
}

/// An IP literal. Brackets ("[::1]") are not accepted, as in Bun.
pub fn parse_ip(host: &str) -> Option<IpAddr> {
  host.parse().ok()
}

fn non_empty(addrs: Vec<SocketAddr>, host: &str) -> Result<Vec<SocketAddr>, SocketError> {
  if addrs.is_empty() {
    Err(SocketError::not_found(host))
  } else {
    Ok(addrs)
  }
}

fn lookup_error(host: &str, err: &io::Error) -> SocketError {
  match err.raw_os_error() {
    Some(_) => SocketError::os(
      Syscall::Getaddrinfo,
      err,
      ErrorTarget {
        address: Some(host.to_owned()),
        port: None,
      },
    ),
    // getaddrinfo's own failures (EAI_NONAME…) carry no errno.
    None => SocketError::not_found(host),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn ip_literals_skip_resolution() {
    assert_eq!(parse_ip("::1"), Some("::1".parse().unwrap()));
    assert_eq!(parse_ip("[::1]"), None);
    assert_eq!(parse_ip("127.0.0.1"), Some("127.0.0.1".parse().unwrap()));
    assert_eq!(parse_ip("localhost"), None);
    let addrs = resolve_blocking("127.0.0.1", 80).unwrap();
    assert_eq!(addrs, vec!["127.0.0.1:80".parse().unwrap()]);
  }

  #[test]
  fn localhost_resolves() {
    let addrs = resolve_blocking("localhost", 1).unwrap();
    assert!(addrs.iter().all(|a| a.ip().is_loopback()));
  }
}
