//! `NativeSocket`: the native half of a TCP or unix socket, and `connect`.

use std::sync::Arc;
use std::time::Duration;

use napi::{Env, Result};
use napi_derive::napi;

use crate::js::dispatch::EnvCtx;
use crate::js::options::SocketOptions;
use crate::js::reader;
use crate::js::tls::NativeTlsConfig;
use crate::net::{next_id, Conn};

/// The native half of a connected socket. `lib/tcp.js` wraps it in Bun's `Socket`.
#[napi]
pub struct NativeSocket {
  /// `None` once `close` was dispatched: the descriptor closes with the last reference, now
  /// rather than whenever the GC collects this object.
  conn: Option<Arc<Conn>>,
  id: u32,
}

/// Address of one end of a socket.
#[napi(object)]
pub struct AddressInfo {
  /// The IP as text ("127.0.0.1", "::1").
  pub address: String,
  /// "IPv4" or "IPv6".
  pub family: String,
  /// The port number.
  pub port: u32,
}

/// Starts connecting; the socket's events arrive on the returned id (`open` or `connectError`).
/// With `tls`, the session verifies `server_name` and sends it as SNI when `sni`; -1 when that
/// name cannot be used.
#[napi(catch_unwind)]
pub fn connect(
  env: Env,
  options: SocketOptions,
  tls: Option<&NativeTlsConfig>,
  server_name: Option<String>,
  sni: Option<bool>,
) -> Result<i64> {
  let ctx = EnvCtx::of(&env)?;
  let secure = match tls {
    Some(config) => {
      let name = server_name.unwrap_or_else(|| "localhost".to_owned());
      match config.client_session(&name, sni.unwrap_or(true)) {
        Some(secure) => Some(secure),
        None => return Ok(-1),
      }
    }
    None => None,
  };
  let id = next_id();
  ctx.hold(id);
  match options.fd {
    Some(fd) => Conn::adopt(id, ctx.sink(), fd, secure),
    None => Conn::connect(id, ctx.sink(), options.target(), secure),
  }
  Ok(i64::from(id))
}

#[napi]
impl NativeSocket {
  pub(crate) fn new(conn: Arc<Conn>) -> NativeSocket {
    NativeSocket {
      id: conn.id(),
      conn: Some(conn),
    }
  }

  /// Writes what the kernel takes now: the byte count, 0 while full, -1 once closed.
  #[napi(catch_unwind)]
  pub fn write(&self, data: &[u8]) -> i64 {
    let Some(conn) = &self.conn else {
      return -1;
    };
    let n = conn.write(data);
    if n >= 0 && (n as usize) < data.len() {
      // Short: watch for writability, for `drain`.
      reader::update(self.id);
    }
    n
  }

  /// `write` for a string, encoded as UTF-8.
  #[napi(catch_unwind)]
  pub fn write_string(&self, data: String) -> i64 {
    self.write(data.as_bytes())
  }

  /// Closes gracefully; true when closed now, false when `close` will follow pending writes.
  #[napi(catch_unwind)]
  pub fn end(&self) -> bool {
    let Some(conn) = &self.conn else {
      return true;
    };
    let now = conn.end();
    if now {
      reader::forget(self.id);
    } else {
      reader::update(self.id);
    }
    now
  }

  /// Resets the connection now (RST), dropping what was not sent.
  #[napi(catch_unwind)]
  pub fn terminate(&self) {
    if let Some(conn) = &self.conn {
      conn.terminate();
      reader::forget(self.id);
    }
  }

  /// Closes now: what the kernel took is still sent, then FIN (TLS: close_notify first).
  #[napi(catch_unwind)]
  pub fn close(&self) {
    if let Some(conn) = &self.conn {
      conn.close();
      reader::forget(self.id);
    }
  }

  /// Half-closes: sends FIN after what is pending, or with `read_side`, stops reading.
  #[napi(catch_unwind)]
  pub fn shutdown(&self, read_side: bool) {
    if let Some(conn) = &self.conn {
      conn.shutdown(read_side);
      reader::update(self.id);
    }
  }

  /// Stops reading until `resume`; the kernel buffer then holds the peer back.
  #[napi(catch_unwind)]
  pub fn pause(&self) {
    if let Some(conn) = &self.conn {
      conn.set_paused(true);
      reader::update(self.id);
    }
  }

  /// Reads again after `pause`.
  #[napi(catch_unwind)]
  pub fn resume(&self) {
    if let Some(conn) = &self.conn {
      conn.set_paused(false);
      reader::update(self.id);
    }
  }

  /// Idle timeout in seconds (any number; huge or infinite ones never fire); 0 disables.
  #[napi(catch_unwind)]
  pub fn set_timeout(&self, seconds: f64) {
    if let Some(conn) = &self.conn {
      conn.set_timeout(seconds);
    }
  }

  /// TCP_NODELAY; false once closed.
  #[napi(catch_unwind)]
  pub fn set_no_delay(&self, on: bool) -> bool {
    self.conn.as_ref().is_some_and(|conn| conn.set_no_delay(on))
  }

  /// `initial_delay` in seconds (JS checked it is a safe integer).
  #[napi(catch_unwind)]
  pub fn set_keep_alive(&self, on: bool, initial_delay: f64) -> bool {
    // Saturating cast: no value can panic here.
    let delay = Duration::from_secs(initial_delay.max(0.0) as u64);
    self
      .conn
      .as_ref()
      .is_some_and(|conn| conn.set_keep_alive(on, delay))
  }

  pub(crate) fn conn(&self) -> Option<&Arc<Conn>> {
    self.conn.as_ref()
  }

  /// Bytes the kernel (TLS: the session) took so far.
  #[napi(getter, catch_unwind)]
  pub fn bytes_written(&self) -> f64 {
    self.conn.as_ref().map_or(0.0, |conn| conn.bytes_written() as f64)
  }

  /// The OS descriptor; -1 once closed.
  #[napi(getter, catch_unwind)]
  pub fn fd(&self) -> i32 {
    self.conn.as_ref().map_or(-1, |conn| conn.fd())
  }

  /// This end's address; none for a unix socket or once closed.
  #[napi(catch_unwind)]
  pub fn local_address(&self) -> Option<AddressInfo> {
    self
      .conn
      .as_ref()
      .and_then(|conn| conn.local_addr())
      .map(AddressInfo::from)
  }

  /// The peer's address; none for a unix socket or once closed.
  #[napi(catch_unwind)]
  pub fn remote_address(&self) -> Option<AddressInfo> {
    self
      .conn
      .as_ref()
      .and_then(|conn| conn.peer_addr())
      .map(AddressInfo::from)
  }

  /// Counts this socket as keeping the process alive (the default while it is open).
  #[napi(js_name = "ref", catch_unwind)]
  pub fn hold(&self, env: Env) -> Result<()> {
    let alive = self.conn.as_ref().is_some_and(|conn| !conn.is_closed());
    EnvCtx::set_ref(&env, self.id, alive, true)
  }

  /// Stops counting this socket as keeping the process alive.
  #[napi(catch_unwind)]
  pub fn unref(&self, env: Env) -> Result<()> {
    EnvCtx::set_ref(&env, self.id, true, false)
  }

  /// Lets go of the connection once `close` was reported, and stops counting it as alive.
  #[napi(catch_unwind)]
  pub fn detach(&mut self, env: Env) -> Result<()> {
    reader::forget(self.id);
    self.conn = None;
    EnvCtx::forget(&env, self.id)
  }
}

impl From<std::net::SocketAddr> for AddressInfo {
  fn from(addr: std::net::SocketAddr) -> AddressInfo {
    let family = match addr.ip() {
      std::net::IpAddr::V6(ip) if ip.to_ipv4_mapped().is_none() => "IPv6",
      _ => "IPv4",
    };
    AddressInfo {
      address: ip_string(addr.ip()),
      port: u32::from(addr.port()),
      family: family.to_owned(),
    }
  }
}

/// An address as Node prints it; IPv4-mapped IPv6 addresses of dual-stack sockets as IPv4.
pub(crate) fn ip_string(ip: std::net::IpAddr) -> String {
  match ip {
    std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
      Some(v4) => v4.to_string(),
      None => v6.to_string(),
    },
    std::net::IpAddr::V4(v4) => v4.to_string(),
  }
}
