//! Socket options of a UDP socket: broadcast, TTLs, multicast membership.

use socket2::SockRef;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

use super::UdpSocket;

/// A socket option, with values `lib/udp.js` checked (TTLs in 1..=255).
pub enum UdpOption {
  Broadcast(bool),
  Ttl(u32),
  MulticastTtl(u32),
  MulticastLoop(bool),
  MulticastInterface(Interface),
  Membership {
    join: bool,
    group: IpAddr,
    interface: Option<Interface>,
  },
  SourceMembership {
    join: bool,
    source: IpAddr,
    group: IpAddr,
    interface: Option<Interface>,
  },
}

/// An interface as Bun names one: by its address; IPv6 by the index of the interface its
/// "%scope" names (0, the kernel's choice, without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interface {
  pub ip: IpAddr,
  pub index: u32,
}

pub(super) fn apply_option(socket: &UdpSocket, v6: bool, option: UdpOption) -> io::Result<()> {
  let sock = SockRef::from(socket);
  let unsupported = || Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT));
  match option {
    UdpOption::Broadcast(on) => sock.set_broadcast(on),
    UdpOption::Ttl(ttl) if v6 => sock.set_unicast_hops_v6(ttl),
    UdpOption::Ttl(ttl) => sock.set_ttl_v4(ttl),
    UdpOption::MulticastTtl(ttl) if v6 => sock.set_multicast_hops_v6(ttl),
    UdpOption::MulticastTtl(ttl) => sock.set_multicast_ttl_v4(ttl),
    UdpOption::MulticastLoop(on) if v6 => sock.set_multicast_loop_v6(on),
    UdpOption::MulticastLoop(on) => sock.set_multicast_loop_v4(on),
    // A group names no interface: Bun refuses it without asking the kernel.
    UdpOption::MulticastInterface(Interface {
      ip: IpAddr::V4(ip), ..
    }) if ip.is_multicast() => Err(io::Error::from_raw_os_error(libc::EINVAL)),
    // On an IPv6 socket too, as Bun: its IPv4 side (mapped addresses) has an interface of its
    // own, and the kernel checks the address is local.
    UdpOption::MulticastInterface(Interface {
      ip: IpAddr::V4(ip), ..
    }) => sock.set_multicast_if_v4(&ip),
    UdpOption::MulticastInterface(Interface {
      ip: IpAddr::V6(_), ..
    }) if !v6 => unsupported(),
    UdpOption::MulticastInterface(Interface { index, .. }) => sock.set_multicast_if_v6(index),
    UdpOption::Membership {
      join,
      group: IpAddr::V4(group),
      interface,
    } => {
      let interface = match interface {
        Some(Interface {
          ip: IpAddr::V4(ip), ..
        }) => ip,
        _ => Ipv4Addr::UNSPECIFIED,
      };
      if join {
        sock.join_multicast_v4(&group, &interface)
      } else {
        sock.leave_multicast_v4(&group, &interface)
      }
    }
    UdpOption::Membership {
      group: IpAddr::V6(_), ..
    } if !v6 => unsupported(),
    UdpOption::Membership {
      join,
      group: IpAddr::V6(group),
      interface,
    } => {
      let index = interface.map_or(0, |interface| interface.index);
      if join {
        sock.join_multicast_v6(&group, index)
      } else {
        sock.leave_multicast_v6(&group, index)
      }
    }
    UdpOption::SourceMembership {
      join,
      source,
      group,
      interface,
    } => source_membership(socket, join, source, group, interface),
  }
}

fn source_membership(
  socket: &UdpSocket,
  join: bool,
  source: IpAddr,
  group: IpAddr,
  interface: Option<Interface>,
) -> io::Result<()> {
  let sock = SockRef::from(socket);
  if let (IpAddr::V4(source), IpAddr::V4(group)) = (source, group) {
    let interface = match interface {
      Some(Interface {
        ip: IpAddr::V4(ip), ..
      }) => ip,
      _ => Ipv4Addr::UNSPECIFIED,
    };
    return if join {
      sock.join_ssm_v4(&source, &group, &interface)
    } else {
      sock.leave_ssm_v4(&source, &group, &interface)
    };
  }
  source_membership_v6(
    socket,
    join,
    source,
    group,
    interface.map_or(0, |interface| interface.index),
  )
}

/// MCAST_(JOIN|LEAVE)_SOURCE_GROUP: the protocol-independent form, for IPv6 (Linux's; other
/// systems spell the request differently, and get ENOPROTOOPT).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn source_membership_v6(
  socket: &UdpSocket,
  join: bool,
  source: IpAddr,
  group: IpAddr,
  index: u32,
) -> io::Result<()> {
  use std::os::fd::AsRawFd;
  // SAFETY: all-zero is a valid group_source_req.
  let mut req: libc::group_source_req = unsafe { std::mem::zeroed() };
  req.gsr_interface = index;
  write_storage(&mut req.gsr_group, group);
  write_storage(&mut req.gsr_source, source);
  let name = if join {
    libc::MCAST_JOIN_SOURCE_GROUP
  } else {
    libc::MCAST_LEAVE_SOURCE_GROUP
  };
  // SAFETY: a valid group_source_req on a live socket.
  let rc = unsafe {
    libc::setsockopt(
      socket.as_raw_fd(),
      libc::IPPROTO_IPV6,
      name,
      (&req as *const libc::group_source_req).cast(),
      std::mem::size_of::<libc::group_source_req>() as libc::socklen_t,
    )
  };
  if rc < 0 {
    Err(io::Error::last_os_error())
  } else {
    Ok(())
  }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn source_membership_v6(
  _socket: &UdpSocket,
  _join: bool,
  _source: IpAddr,
  _group: IpAddr,
  _index: u32,
) -> io::Result<()> {
  Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn write_storage(storage: &mut libc::sockaddr_storage, ip: IpAddr) {
  let addr = socket2::SockAddr::from(std::net::SocketAddr::new(ip, 0));
  // SAFETY: `addr` holds `addr.len()` valid bytes, at most a sockaddr_storage.
  unsafe {
    std::ptr::copy_nonoverlapping(
      addr.as_ptr().cast::<u8>(),
      (storage as *mut libc::sockaddr_storage).cast::<u8>(),
      addr.len() as usize,
    )
  };
}
