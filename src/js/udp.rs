//! `NativeUdpSocket` and `udpSocket`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use napi::bindgen_prelude::{Either, Either3, Uint32Array};
use napi::{Env, Result};
use napi_derive::napi;

use crate::error::{SocketError, Syscall};
use crate::js::dispatch::EnvCtx;
use crate::js::errors::ErrorInfo;
use crate::js::socket::AddressInfo;
use crate::net::next_id;
use crate::net::udp::{Interface, Udp, UdpOption, UdpTarget};

/// Where to bind, and the peer of a connected socket, as `lib/udp.js` checked them.
#[napi(object)]
pub struct UdpOptions {
  /// An IP literal or a name for getaddrinfo.
  pub hostname: String,
  /// 0..=65535; 0 lets the kernel pick.
  pub port: u32,
  /// The peer of a connected socket: an IP literal or a name.
  pub connect_hostname: Option<String>,
  /// 1..=65535, given with `connect_hostname`.
  pub connect_port: Option<u32>,
}

/// The native half of a UDP socket. Datagrams arrive as batches on its id.
#[napi]
pub struct NativeUdpSocket {
  udp: Option<Arc<Udp>>,
  id: u32,
}

/// True when the errors a send causes later reach `error` on any socket (Linux's error queue).
/// The portable build (macOS, the BSDs) has none: there only a connected socket learns of an ICMP
/// error, as those systems report it.
#[napi]
pub const HAS_ERROR_QUEUE: bool = crate::net::udp::HAS_ERROR_QUEUE;

/// Binds (and connects) at once when both hosts are IP literals: returns the socket, or the
/// failure's description. A host that needs the resolver makes it return the pending socket's
/// id instead, without waiting: getaddrinfo runs off the JS thread, and the socket (`open`) or
/// the failure (`connectError`) arrives later as an event on that id, which keeps the event
/// loop alive meanwhile.
#[napi(catch_unwind)]
pub fn udp_socket(env: Env, options: UdpOptions) -> Result<Either3<NativeUdpSocket, ErrorInfo, u32>> {
  let ctx = EnvCtx::of(&env)?;
  let target = UdpTarget {
    host: options.hostname,
    port: options.port as u16,
    connect: options
      .connect_hostname
      .zip(options.connect_port)
      .map(|(host, port)| (host, port as u16)),
  };
  let id = next_id();
  let Some(config) = target.literal() else {
    ctx.hold(id);
    Udp::resolve_then_bind(id, ctx.sink(), target);
    return Ok(Either3::C(id));
  };
  match Udp::bind(id, ctx.sink(), &config) {
    Ok(udp) => {
      ctx.hold(id);
      ctx.own_udp(id, &udp);
      Ok(Either3::A(NativeUdpSocket::new(udp, id)))
    }
    Err(err) => Ok(Either3::B(ErrorInfo::from(&err))),
  }
}

#[napi]
impl NativeUdpSocket {
  /// The id its events arrive on.
  #[napi(getter, catch_unwind)]
  pub fn id(&self) -> u32 {
    self.id
  }

  /// The OS descriptor; -1 once closed.
  #[napi(getter, catch_unwind)]
  pub fn fd(&self) -> i32 {
    self.udp.as_ref().map_or(-1, |udp| udp.fd())
  }

  /// The bound address; nothing once closed.
  #[napi(catch_unwind)]
  pub fn address(&self) -> Option<AddressInfo> {
    self
      .udp
      .as_ref()
      .and_then(|udp| udp.local_addr())
      .map(AddressInfo::from)
  }

  /// The connected peer; nothing when unconnected or closed.
  #[napi(catch_unwind)]
  pub fn remote_address(&self) -> Option<AddressInfo> {
    self
      .udp
      .as_ref()
      .and_then(|udp| udp.peer_addr())
      .map(AddressInfo::from)
  }

  /// Sends one datagram to `address:port`, or to the connected peer when `address` is absent.
  /// True when sent, false when the kernel buffer is full; an OS failure is returned described.
  #[napi(catch_unwind)]
  pub fn send(&self, data: &[u8], port: Option<u32>, address: Option<String>) -> Either<bool, ErrorInfo> {
    let Some(udp) = &self.udp else {
      return Either::A(false);
    };
    let to = match (address, port) {
      (Some(address), Some(port)) => match destination(&address, port) {
        Ok(to) => Some(to),
        Err(err) => return Either::B(ErrorInfo::from(&err)),
      },
      _ => None,
    };
    match udp.send(data, to) {
      Ok(sent) => Either::A(sent),
      Err(err) => Either::B(ErrorInfo::from(&err)),
    }
  }

  /// Sends `lengths.len()` datagrams whose payloads lie back to back in `bytes`. On unconnected
  /// sockets datagram `i` goes to `addresses[address_of[i]]:ports[i]`. Returns how many went out.
  #[napi(catch_unwind)]
  pub fn send_many(
    &self,
    bytes: &[u8],
    lengths: Uint32Array,
    ports: Option<Uint32Array>,
    address_of: Option<Uint32Array>,
    addresses: Option<Vec<String>>,
  ) -> Either<u32, ErrorInfo> {
    let Some(udp) = &self.udp else { return Either::A(0) };
    // `lib/udp.js` builds these consistent; a direct call that does not is EINVAL, not a panic.
    let invalid = || Either::B(ErrorInfo::from(&invalid_argument(Syscall::Send)));
    if lengths.iter().map(|&len| len as usize).sum::<usize>() != bytes.len() {
      return invalid();
    }
    let ips: Vec<Option<IpAddr>> = addresses.iter().flatten().map(|a| ip(a).ok()).collect();
    let mut packets = Vec::with_capacity(lengths.len());
    let mut offset = 0usize;
    for (i, &len) in lengths.iter().enumerate() {
      let end = offset + len as usize;
      let to = match (&ports, &address_of) {
        (Some(ports), Some(address_of)) => {
          let ip = address_of
            .get(i)
            .and_then(|&at| ips.get(at as usize).copied().flatten());
          match (ip, ports.get(i).and_then(|&port| u16::try_from(port).ok())) {
            (Some(ip), Some(port)) => Some(SocketAddr::new(ip, port)),
            _ => return invalid(),
          }
        }
        _ => None,
      };
      packets.push((&bytes[offset..end], to));
      offset = end;
    }
    match udp.send_many(&packets) {
      Ok(sent) => Either::A(sent as u32),
      Err(err) => Either::B(ErrorInfo::from(&err)),
    }
  }

  /// Closes now and stops counting the socket as alive.
  #[napi(catch_unwind)]
  pub fn close(&mut self, env: Env) -> Result<()> {
    if let Some(udp) = self.udp.take() {
      udp.close();
    }
    EnvCtx::forget(&env, self.id)
  }

  /// Counts the socket as keeping the event loop alive again (unless closed).
  #[napi(js_name = "ref", catch_unwind)]
  pub fn hold(&self, env: Env) -> Result<()> {
    EnvCtx::set_ref(&env, self.id, self.udp.is_some(), true)
  }

  /// Stops counting the socket as keeping the event loop alive.
  #[napi(catch_unwind)]
  pub fn unref(&self, env: Env) -> Result<()> {
    EnvCtx::set_ref(&env, self.id, true, false)
  }

  /// Sets SO_BROADCAST. Returns the failure, or nothing once applied.
  #[napi(catch_unwind)]
  pub fn set_broadcast(&self, on: bool) -> Option<ErrorInfo> {
    self.apply(Ok(UdpOption::Broadcast(on)))
  }

  /// Sets the unicast TTL (hop limit on IPv6); `lib/udp.js` checked 1..=255.
  #[napi(js_name = "setTTL", catch_unwind)]
  pub fn set_ttl(&self, ttl: u32) -> Option<ErrorInfo> {
    self.apply(Ok(UdpOption::Ttl(ttl)))
  }

  /// Sets the multicast TTL (hop limit on IPv6); `lib/udp.js` checked 1..=255.
  #[napi(js_name = "setMulticastTTL", catch_unwind)]
  pub fn set_multicast_ttl(&self, ttl: u32) -> Option<ErrorInfo> {
    self.apply(Ok(UdpOption::MulticastTtl(ttl)))
  }

  /// Sets whether this host's own multicast datagrams come back to it.
  #[napi(catch_unwind)]
  pub fn set_multicast_loopback(&self, on: bool) -> Option<ErrorInfo> {
    self.apply(Ok(UdpOption::MulticastLoop(on)))
  }

  /// Picks the interface multicast leaves by, named by its address (an IP literal; on IPv6 its
  /// "%scope" names the interface). An address that is no IP literal is EINVAL.
  #[napi(catch_unwind)]
  pub fn set_multicast_interface(&self, interface: String) -> Option<ErrorInfo> {
    self.apply(self::interface(&interface).map(UdpOption::MulticastInterface))
  }

  /// Joins (`join`) or leaves a multicast group, on the interface with that address or the
  /// kernel's choice. A group or interface that is no IP literal is EINVAL.
  #[napi(catch_unwind)]
  pub fn membership(&self, join: bool, group: String, interface: Option<String>) -> Option<ErrorInfo> {
    self.apply((|| {
      Ok(UdpOption::Membership {
        join,
        group: ip(&group)?,
        interface: interface.as_deref().map(self::interface).transpose()?,
      })
    })())
  }

  /// Joins (`join`) or leaves a source-specific multicast group. An address that is no IP
  /// literal is EINVAL.
  #[napi(catch_unwind)]
  pub fn source_membership(
    &self,
    join: bool,
    source: String,
    group: String,
    interface: Option<String>,
  ) -> Option<ErrorInfo> {
    self.apply((|| {
      Ok(UdpOption::SourceMembership {
        join,
        source: ip(&source)?,
        group: ip(&group)?,
        interface: interface.as_deref().map(self::interface).transpose()?,
      })
    })())
  }
}

impl NativeUdpSocket {
  /// The JS half of a bound socket.
  pub(crate) fn new(udp: Arc<Udp>, id: u32) -> NativeUdpSocket {
    NativeUdpSocket { udp: Some(udp), id }
  }

  /// Applies `option`, or reports why it cannot be: a bad argument, a closed socket, the OS.
  fn apply(&self, option: std::result::Result<UdpOption, SocketError>) -> Option<ErrorInfo> {
    let Some(udp) = &self.udp else {
      return Some(ErrorInfo::from(&os_error(Syscall::Setsockopt, libc::EBADF)));
    };
    option
      .and_then(|option| udp.set_option(option))
      .err()
      .map(|err| ErrorInfo::from(&err))
  }
}

/// An IP literal as `lib/udp.js` passes it; an IPv6 scope ("%lo") is dropped. Anything else is
/// EINVAL, as Bun answers an address it cannot parse.
fn ip(text: &str) -> std::result::Result<IpAddr, SocketError> {
  let bare = text.split_once('%').map_or(text, |(address, _scope)| address);
  crate::net::addr::parse_ip(bare).ok_or_else(|| invalid_argument(Syscall::Setsockopt))
}

/// An interface's address as `lib/udp.js` passes it; an IPv6 scope names the interface, as
/// if_nametoindex(3) reads it (Bun's reading: "%lo" is lo's index, "%1" or an unknown name 0).
fn interface(text: &str) -> std::result::Result<Interface, SocketError> {
  let ip = ip(text)?;
  let index = match (ip, text.split_once('%')) {
    (IpAddr::V6(_), Some((_, scope))) => std::ffi::CString::new(scope)
      // SAFETY: a NUL-terminated string that outlives the call.
      .map_or(0, |name| unsafe { libc::if_nametoindex(name.as_ptr()) }),
    _ => 0,
  };
  Ok(Interface { ip, index })
}

/// `address:port` as `lib/udp.js` checked them; anything else is EINVAL.
fn destination(address: &str, port: u32) -> std::result::Result<SocketAddr, SocketError> {
  let port = u16::try_from(port).map_err(|_| invalid_argument(Syscall::Send))?;
  Ok(SocketAddr::new(ip(address)?, port))
}

fn invalid_argument(syscall: Syscall) -> SocketError {
  os_error(syscall, libc::EINVAL)
}

fn os_error(syscall: Syscall, errno: i32) -> SocketError {
  SocketError::os(
    syscall,
    &std::io::Error::from_raw_os_error(errno),
    crate::error::ErrorTarget::default(),
  )
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn an_address_that_is_no_ip_literal_is_einval() {
    for text in [
      "",
      "bogus",
      " 127.0.0.1",
      "[::1]",
      "239.1",
      "1.2.3.4.5",
      "ff02::1::",
      "%lo",
      "127.0.0.1 ",
    ] {
      let err = ip(text).expect_err(text);
      assert_eq!(err.code(), "EINVAL", "{text}");
    }
    assert_eq!(ip("::1%lo").unwrap(), "::1".parse::<IpAddr>().unwrap());
    assert_eq!(ip("ff02::1%").unwrap(), "ff02::1".parse::<IpAddr>().unwrap());
    assert_eq!(ip("239.1.1.1").unwrap(), "239.1.1.1".parse::<IpAddr>().unwrap());
  }

  #[test]
  fn an_ipv6_scope_names_the_interface_as_if_nametoindex_reads_it() {
    // SAFETY: a NUL-terminated literal.
    let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    let index = |text: &str| interface(text).unwrap().index;
    assert_eq!(index("::1%lo"), lo);
    // Bun's reading: a number or an unknown name is no interface, nor is an IPv4 scope.
    for text in ["::1", "::1%", "::1%1", "::1%bogus", "127.0.0.1%lo", "::1%l\0o"] {
      assert_eq!(index(text), 0, "{text}");
    }
  }
}
