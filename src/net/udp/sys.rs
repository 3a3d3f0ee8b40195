//! The raw calls behind a UDP socket that std, socket2 and tokio do not offer, Linux's fast
//! paths: `recvmmsg`, `sendmmsg`, the error queue, a forced receive buffer, `dup3`. Runs on
//! whichever thread calls it. Elsewhere (or with the `portable-fallbacks` feature) `portable.rs`
//! stands in with the same functions.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use socket2::{SockAddr, Socket};

use super::{Batch, DatagramInfo, UdpSocket, BATCH, RECEIVE_BUFFER, SLOT};

/// The `recvmmsg` buffers, built once per thread: slots, sender addresses, and the headers
/// pointing at them (stable: the boxes never move or grow).
struct Receiver {
  slots: Box<[u8]>,
  names: Box<[libc::sockaddr_storage]>,
  iovecs: Box<[libc::iovec]>,
  headers: Box<[libc::mmsghdr]>,
}

impl Receiver {
  fn new() -> Receiver {
    let mut slots = vec![0u8; SLOT * BATCH].into_boxed_slice();
    // SAFETY: all-zero is a valid sockaddr_storage and mmsghdr.
    let mut names: Box<[libc::sockaddr_storage]> =
      vec![unsafe { std::mem::zeroed() }; BATCH].into_boxed_slice();
    let mut iovecs: Box<[libc::iovec]> = slots
      .chunks_mut(SLOT)
      .map(|slot| libc::iovec {
        iov_base: slot.as_mut_ptr().cast(),
        iov_len: SLOT,
      })
      .collect();
    let mut headers: Box<[libc::mmsghdr]> = vec![unsafe { std::mem::zeroed() }; BATCH].into_boxed_slice();
    for ((header, iovec), name) in headers.iter_mut().zip(iovecs.iter_mut()).zip(names.iter_mut()) {
      header.msg_hdr.msg_iov = iovec;
      header.msg_hdr.msg_iovlen = 1;
      header.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
    }
    Receiver {
      slots,
      names,
      iovecs,
      headers,
    }
  }
}

thread_local! {
  /// Shared by every UDP socket on the I/O thread: an idle socket owns no receive buffer.
  static RECEIVER: RefCell<Receiver> = RefCell::new(Receiver::new());
}

/// The error queue holds the details of ICMP errors (`read_error_queue`).
pub const HAS_ERROR_QUEUE: bool = true;

/// Reads up to `BATCH` datagrams with one `recvmmsg`.
pub(super) fn receive_batch(socket: &UdpSocket) -> io::Result<Batch> {
  RECEIVER.with(|receiver| {
    let receiver = &mut *receiver.borrow_mut();
    debug_assert_eq!(receiver.iovecs.len(), BATCH);
    for header in receiver.headers.iter_mut() {
      header.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
      header.msg_hdr.msg_flags = 0;
    }
    // SAFETY: BATCH headers, each pointing at its own slot and address buffer inside
    // `receiver`, alive and unmoved for the call; non-blocking, so it returns at once.
    let n = unsafe {
      libc::recvmmsg(
        socket.as_raw_fd(),
        receiver.headers.as_mut_ptr(),
        BATCH as u32,
        libc::MSG_DONTWAIT,
        std::ptr::null_mut(),
      )
    };
    if n < 0 {
      return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    let headers = &receiver.headers[..n];
    let total: usize = headers.iter().map(|h| h.msg_len as usize).sum();
    let mut batch = Batch {
      bytes: Vec::with_capacity(total),
      datagrams: Vec::with_capacity(n),
    };
    for (i, header) in headers.iter().enumerate() {
      let len = header.msg_len as usize;
      batch
        .bytes
        .extend_from_slice(&receiver.slots[i * SLOT..i * SLOT + len]);
      batch.datagrams.push(DatagramInfo {
        len: len as u32,
        from: socket_addr(&receiver.names[i]).unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        truncated: header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
      });
    }
    Ok(batch)
  })
}

/// Sends `packets` with one `sendmmsg`; returns how many the kernel took.
pub(super) fn send_batch(socket: &UdpSocket, packets: &[(&[u8], Option<SocketAddr>)]) -> io::Result<usize> {
  let addrs: Vec<Option<SockAddr>> = packets.iter().map(|(_, to)| to.map(SockAddr::from)).collect();
  let mut iovecs: Vec<libc::iovec> = packets
    .iter()
    .map(|(data, _)| libc::iovec {
      iov_base: data.as_ptr() as *mut _,
      iov_len: data.len(),
    })
    .collect();
  // SAFETY: all-zero is a valid mmsghdr.
  let mut headers: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; packets.len()];
  for ((header, iovec), addr) in headers.iter_mut().zip(iovecs.iter_mut()).zip(addrs.iter()) {
    header.msg_hdr.msg_iov = iovec;
    header.msg_hdr.msg_iovlen = 1;
    if let Some(addr) = addr {
      header.msg_hdr.msg_name = addr.as_ptr() as *mut _;
      header.msg_hdr.msg_namelen = addr.len();
    }
  }
  // SAFETY: each header points at a live payload (read only) and address for the call's duration.
  let n = unsafe {
    libc::sendmmsg(
      socket.as_raw_fd(),
      headers.as_mut_ptr(),
      headers.len() as u32,
      libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
    )
  };
  if n < 0 {
    return Err(io::Error::last_os_error());
  }
  Ok(n as usize)
}

fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
  match storage.ss_family as libc::c_int {
    libc::AF_INET => {
      // SAFETY: the family says this storage holds a sockaddr_in.
      let v4 = unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
      let ip = std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
      Some(SocketAddr::from((ip, u16::from_be(v4.sin_port))))
    }
    libc::AF_INET6 => {
      // SAFETY: the family says this storage holds a sockaddr_in6.
      let v6 = unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
      let ip = std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr);
      Some(SocketAddr::V6(std::net::SocketAddrV6::new(
        ip,
        u16::from_be(v6.sin6_port),
        v6.sin6_flowinfo,
        v6.sin6_scope_id,
      )))
    }
    _ => None,
  }
}

/// Asks for a receive buffer of `RECEIVE_BUFFER` bytes. The kernel default (~208 KiB, about 256
/// small datagrams) overflows within milliseconds whenever the I/O thread waits for a CPU, for
/// instance while V8's GC threads run; then the kernel drops datagrams before we can read them.
/// SO_RCVBUFFORCE passes the system limit where the process may (CAP_NET_ADMIN); otherwise
/// SO_RCVBUF gets what the limit allows.
pub(super) fn grow_receive_buffer(socket: &Socket) {
  let size = RECEIVE_BUFFER as libc::c_int;
  // SAFETY: a valid int option on a live socket.
  let forced = unsafe {
    libc::setsockopt(
      socket.as_raw_fd(),
      libc::SOL_SOCKET,
      libc::SO_RCVBUFFORCE,
      (&size as *const libc::c_int).cast(),
      std::mem::size_of::<libc::c_int>() as libc::socklen_t,
    )
  };
  if forced != 0 {
    let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
  }
}

pub(super) fn set_recv_err(socket: &Socket, v6: bool) {
  let on: libc::c_int = 1;
  let set = |level, name| {
    // SAFETY: a valid int option on a live socket.
    unsafe {
      libc::setsockopt(
        socket.as_raw_fd(),
        level,
        name,
        (&on as *const libc::c_int).cast(),
        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
      )
    }
  };
  set(libc::IPPROTO_IP, libc::IP_RECVERR);
  if v6 {
    set(libc::IPPROTO_IPV6, libc::IPV6_RECVERR);
  }
}

/// One entry of the error queue: the errno it carries (None for entries without one).
pub(super) fn read_error_queue(socket: &UdpSocket) -> io::Result<Option<i32>> {
  let mut data = [0u8; 64];
  let mut control = [0u64; 64];
  let mut iov = libc::iovec {
    iov_base: data.as_mut_ptr().cast(),
    iov_len: data.len(),
  };
  // SAFETY: all-zero is a valid msghdr; the buffers it points at outlive the call.
  let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
  msg.msg_iov = &mut iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.as_mut_ptr().cast();
  msg.msg_controllen = std::mem::size_of_val(&control);
  // SAFETY: non-blocking read of the error queue into the buffers above.
  let n = unsafe {
    libc::recvmsg(
      socket.as_raw_fd(),
      &mut msg,
      libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
    )
  };
  if n < 0 {
    return Err(io::Error::last_os_error());
  }
  // SAFETY: walking the control messages the kernel wrote into `control`.
  let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
  while !cmsg.is_null() {
    // SAFETY: `cmsg` points into `control`, within `msg_controllen`.
    let header = unsafe { &*cmsg };
    let is_err = (header.cmsg_level == libc::IPPROTO_IP && header.cmsg_type == libc::IP_RECVERR)
      || (header.cmsg_level == libc::IPPROTO_IPV6 && header.cmsg_type == libc::IPV6_RECVERR);
    if is_err {
      // SAFETY: an IP(V6)_RECVERR message starts with a sock_extended_err.
      let ee = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>()) };
      return Ok(Some(ee.ee_errno as i32));
    }
    // SAFETY: as above.
    cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
  }
  Ok(None)
}

/// Points `target` at the description of `placeholder` in one step, closing what `target` held.
pub(super) fn replace_fd(placeholder: &Socket, target: RawFd) {
  // SAFETY: both descriptors are open; dup3 closes the old description of the target fd,
  // whose epoll registration goes with it.
  unsafe { libc::dup3(placeholder.as_raw_fd(), target, libc::O_CLOEXEC) };
}
