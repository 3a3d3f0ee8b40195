//! A UDP socket: sends from the JS thread (`send`, `sendmmsg`), a receive loop on the I/O thread
//! (`recvmmsg`, many datagrams per wake-up).
//!
//! Received datagrams travel to JS in batches, one event per `recvmmsg` call, each holding a
//! credit: with `CREDIT` batches in flight the loop stops reading and the kernel's receive
//! buffer absorbs the burst, so a slow handler costs no memory here and nothing that reached the
//! socket is dropped by us.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::Notify;

use crate::error::{ErrorTarget, SocketError, Syscall};
use crate::net::{Credit, Creditor, Event, EventSink, HandleId, Reporter};

/// Batches in flight to JS at once.
const CREDIT: u32 = 4;

/// Datagrams per `recvmmsg`/`sendmmsg` call.
pub const BATCH: usize = 64;

/// Room for the largest datagram IPv4 or IPv6 can carry without jumbograms.
const SLOT: usize = 65_536;

const SIG_CLOSE: u32 = 1;
const SIG_DRAIN: u32 = 1 << 1;

/// Datagrams received in one call: payloads back to back, and per datagram its length, sender
/// and whether the kernel cut it short.
pub struct Batch {
  pub bytes: Vec<u8>,
  pub datagrams: Vec<DatagramInfo>,
}

pub struct DatagramInfo {
  pub len: u32,
  pub from: SocketAddr,
  pub truncated: bool,
}

/// What `udpSocket()` binds, already resolved.
pub struct UdpConfig {
  pub bind: SocketAddr,
  pub connect: Option<SocketAddr>,
}

pub struct Udp {
  reporter: Reporter,
  socket: UdpSocket,
  connected: Option<SocketAddr>,
  closed: AtomicBool,
  signals: AtomicU32,
  wake: Notify,
  in_flight: AtomicU32,
  drain_requested: AtomicBool,
}

impl Udp {
  /// Binds (and connects) now, then starts receiving on the I/O thread.
  pub fn bind(
    id: HandleId,
    sink: Arc<dyn EventSink>,
    config: &UdpConfig,
  ) -> Result<Arc<Udp>, SocketError> {
    let bind_target = ErrorTarget {
      address: Some(config.bind.ip().to_string()),
      port: Some(config.bind.port()),
    };
    let fail = |syscall, err: io::Error, target: &ErrorTarget| {
      SocketError::os(syscall, &err, target.clone())
    };
    let socket = Socket::new(Domain::for_address(config.bind), Type::DGRAM, None)
      .map_err(|e| fail(Syscall::Bind, e, &bind_target))?;
    if config.bind.is_ipv6() {
      let _ = socket.set_only_v6(false);
    }
    socket
      .set_nonblocking(true)
      .map_err(|e| fail(Syscall::Bind, e, &bind_target))?;
    socket
      .bind(&config.bind.into())
      .map_err(|e| fail(Syscall::Bind, e, &bind_target))?;
    if let Some(peer) = config.connect {
      let target = ErrorTarget {
        address: Some(peer.ip().to_string()),
        port: Some(peer.port()),
      };
      socket
        .connect(&peer.into())
        .map_err(|e| fail(Syscall::Connect, e, &target))?;
    }
    let _runtime = crate::runtime::handle().enter();
    let socket =
      UdpSocket::from_std(socket.into()).map_err(|e| fail(Syscall::Bind, e, &bind_target))?;
    let udp = Arc::new(Udp {
      reporter: Reporter { id, sink },
      socket,
      connected: config.connect,
      closed: AtomicBool::new(false),
      signals: AtomicU32::new(0),
      wake: Notify::new(),
      in_flight: AtomicU32::new(0),
      drain_requested: AtomicBool::new(false),
    });
    crate::runtime::handle().spawn(run(udp.clone()));
    Ok(udp)
  }

  pub fn local_addr(&self) -> Option<SocketAddr> {
    self.socket.local_addr().ok()
  }

  pub fn peer_addr(&self) -> Option<SocketAddr> {
    self.connected
  }

  pub fn is_closed(&self) -> bool {
    self.closed.load(Ordering::Acquire)
  }

  /// Sends one datagram now. Ok(false) when the kernel buffer is full (then `drain` follows).
  pub fn send(&self, data: &[u8], to: Option<SocketAddr>) -> Result<bool, SocketError> {
    let sent = match to {
      Some(addr) if self.connected.is_none() => self.socket.try_send_to(data, addr),
      _ => self.socket.try_send(data),
    };
    match sent {
      Ok(_) => Ok(true),
      Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
        // tokio may not have seen the socket writable yet: one plain send before giving up.
        let sock = SockRef::from(&self.socket);
        let retry = match to {
          Some(addr) if self.connected.is_none() => sock.send_to(data, &addr.into()),
          _ => sock.send(data),
        };
        match retry {
          Ok(_) => Ok(true),
          Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
            self.request_drain();
            Ok(false)
          }
          Err(err) => Err(send_error(&err, to)),
        }
      }
      Err(err) => Err(send_error(&err, to)),
    }
  }

  /// Sends many datagrams with as few `sendmmsg` calls as possible; returns how many went out.
  /// Fewer than offered means the kernel buffer filled up (then `drain` follows).
  pub fn send_many(&self, packets: &[(&[u8], Option<SocketAddr>)]) -> Result<usize, SocketError> {
    let mut sent = 0;
    while sent < packets.len() {
      let chunk = &packets[sent..packets.len().min(sent + BATCH)];
      match sendmmsg(&self.socket, chunk) {
        Ok(n) => {
          sent += n;
          if n < chunk.len() {
            self.request_drain();
            break;
          }
        }
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
          self.request_drain();
          break;
        }
        Err(err) => return Err(send_error(&err, chunk.first().and_then(|p| p.1))),
      }
    }
    Ok(sent)
  }

  /// Closes now; no event follows.
  pub fn close(&self) {
    if !self.closed.swap(true, Ordering::AcqRel) {
      self.signals.fetch_or(SIG_CLOSE, Ordering::AcqRel);
      self.wake.notify_one();
    }
  }

  pub fn sock(&self) -> SockRef<'_> {
    SockRef::from(&self.socket)
  }

  fn request_drain(&self) {
    if !self.drain_requested.swap(true, Ordering::AcqRel) {
      self.signals.fetch_or(SIG_DRAIN, Ordering::AcqRel);
      self.wake.notify_one();
    }
  }
}

impl Creditor for Udp {
  fn credit_returned(&self) {
    if self.in_flight.fetch_sub(1, Ordering::AcqRel) == CREDIT {
      self.wake.notify_one();
    }
  }
}

fn send_error(err: &io::Error, to: Option<SocketAddr>) -> SocketError {
  let target = ErrorTarget {
    address: to.map(|a| a.ip().to_string()),
    port: to.map(|a| a.port()),
  };
  SocketError::os(Syscall::Send, err, target)
}

async fn run(udp: Arc<Udp>) {
  let mut want_drain = false;
  loop {
    let sig = udp.signals.swap(0, Ordering::AcqRel);
    if sig & SIG_CLOSE != 0 || udp.is_closed() {
      return;
    }
    if sig & SIG_DRAIN != 0 {
      want_drain = true;
    }
    let can_read = udp.in_flight.load(Ordering::Acquire) < CREDIT;
    tokio::select! {
      biased;
      _ = udp.wake.notified() => {}
      ready = udp.socket.readable(), if can_read => {
        if ready.is_err() {
          return;
        }
        if !receive(&udp) {
          return;
        }
      }
      ready = udp.socket.writable(), if want_drain => {
        want_drain = false;
        udp.drain_requested.store(false, Ordering::Release);
        if ready.is_ok() && !udp.reporter.emit(Event::Drain) {
          return;
        }
      }
    }
  }
}

/// Reads what is queued, a batch at a time, until the socket is empty or the credit is spent.
/// False when nobody listens any more.
fn receive(udp: &Arc<Udp>) -> bool {
  while udp.in_flight.load(Ordering::Acquire) < CREDIT && !udp.is_closed() {
    match udp
      .socket
      .try_io(Interest::READABLE, || recvmmsg(&udp.socket))
    {
      Ok(batch) => {
        udp.in_flight.fetch_add(1, Ordering::AcqRel);
        if !udp
          .reporter
          .emit(Event::Datagrams(batch, Credit::new(udp.clone())))
        {
          return false;
        }
      }
      Err(err) if err.kind() == io::ErrorKind::WouldBlock => return true,
      Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
      // ICMP errors surface here on connected sockets (ECONNREFUSED…).
      Err(err) => {
        let target = ErrorTarget {
          address: udp.connected.map(|a| a.ip().to_string()),
          port: udp.connected.map(|a| a.port()),
        };
        if !udp
          .reporter
          .emit(Event::Error(SocketError::os(Syscall::Recv, &err, target)))
        {
          return false;
        }
      }
    }
  }
  true
}

thread_local! {
  /// Receive slots shared by every UDP socket on the I/O thread.
  static SLOTS: RefCell<Vec<u8>> = RefCell::new(vec![0; SLOT * BATCH]);
}

fn recvmmsg(socket: &UdpSocket) -> io::Result<Batch> {
  SLOTS.with(|slots| {
    let mut slots = slots.borrow_mut();
    let mut iovecs: Vec<libc::iovec> = slots
      .chunks_mut(SLOT)
      .map(|slot| libc::iovec {
        iov_base: slot.as_mut_ptr().cast(),
        iov_len: SLOT,
      })
      .collect();
    let mut names: Vec<MaybeUninit<libc::sockaddr_storage>> = vec![MaybeUninit::zeroed(); BATCH];
    // SAFETY: all-zero is a valid mmsghdr.
    let mut headers: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    for ((header, iovec), name) in headers
      .iter_mut()
      .zip(iovecs.iter_mut())
      .zip(names.iter_mut())
    {
      header.msg_hdr.msg_iov = iovec;
      header.msg_hdr.msg_iovlen = 1;
      header.msg_hdr.msg_name = name.as_mut_ptr().cast();
      header.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    }
    // SAFETY: BATCH headers, each pointing at its own slot and address buffer, all alive for the
    // call; non-blocking, so it returns at once.
    let n = unsafe {
      libc::recvmmsg(
        socket.as_raw_fd(),
        headers.as_mut_ptr(),
        BATCH as u32,
        libc::MSG_DONTWAIT,
        std::ptr::null_mut(),
      )
    };
    if n < 0 {
      return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    let total: usize = headers[..n].iter().map(|h| h.msg_len as usize).sum();
    let mut batch = Batch {
      bytes: Vec::with_capacity(total),
      datagrams: Vec::with_capacity(n),
    };
    for (i, header) in headers[..n].iter().enumerate() {
      let len = header.msg_len as usize;
      batch
        .bytes
        .extend_from_slice(&slots[i * SLOT..i * SLOT + len]);
      // SAFETY: zero-initialised, then filled by the kernel.
      let from = socket_addr(unsafe { names[i].assume_init_ref() });
      batch.datagrams.push(DatagramInfo {
        len: len as u32,
        from: from.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        truncated: header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
      });
    }
    Ok(batch)
  })
}

fn sendmmsg(socket: &UdpSocket, packets: &[(&[u8], Option<SocketAddr>)]) -> io::Result<usize> {
  let addrs: Vec<Option<SockAddr>> = packets
    .iter()
    .map(|(_, to)| to.map(SockAddr::from))
    .collect();
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
