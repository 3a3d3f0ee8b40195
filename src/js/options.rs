//! `#[napi(object)]` inputs, already checked by `lib/`, turned into the core's configs.

use std::path::PathBuf;

use napi_derive::napi;

use crate::net::tcp::ListenConfig;
use crate::net::Target;

/// Where to listen or connect, as `lib/tcp.js` normalised it: `unix` wins over host and port.
#[napi(object)]
pub struct SocketOptions {
  /// An IP or a name to resolve.
  pub hostname: Option<String>,
  /// 0..=65535, checked by `lib/`.
  pub port: Option<u32>,
  /// A unix socket path (or an abstract name, starting with a NUL).
  pub unix: Option<String>,
  /// Share the port with other listeners that ask for it too (Bun's `reusePort`, unless
  /// `exclusive`).
  pub reuse_port: Option<bool>,
  /// An IPv6 listener takes no IPv4 connections.
  pub ipv6_only: Option<bool>,
  /// connect({ fd }): a connected stream socket to work on (a duplicate of it; the caller's
  /// descriptor stays the caller's).
  pub fd: Option<i32>,
}

impl SocketOptions {
  pub fn target(&self) -> Target {
    match &self.unix {
      Some(path) => Target::Unix(PathBuf::from(path)),
      None => Target::Tcp {
        host: self.hostname.clone().unwrap_or_else(|| "0.0.0.0".to_owned()),
        // lib/ checked the range.
        port: self.port.unwrap_or(0) as u16,
      },
    }
  }

  pub fn listen_config(&self) -> ListenConfig {
    ListenConfig {
      target: self.target(),
      reuse_port: self.reuse_port.unwrap_or(false),
      ipv6_only: self.ipv6_only.unwrap_or(false),
    }
  }
}
