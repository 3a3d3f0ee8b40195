//! A UDP socket: sends from the JS thread (`send`, `sendmmsg`), a receive loop on the I/O thread
//! (`recvmmsg`, many datagrams per wake-up).
//!
//! Received datagrams travel to JS in batches, one event per `recvmmsg` call, each holding a
//! credit: with `CREDIT` batches in flight the loop stops reading and the kernel's receive
//! buffer absorbs the burst, so a slow handler costs no memory here and nothing that reached the
//! socket is dropped by us.

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The socket itself; sends are plain non-blocking syscalls on it.
type UdpSocket = std::net::UdpSocket;
use tokio::sync::Notify;

use crate::error::{ErrorTarget, SocketError, Syscall};
use crate::net::{Credit, Creditor, Event, EventSink, HandleId, Reporter};

/// Received bytes in flight to JS at once. UDP cannot slow the sender down, so what JS has not
/// taken yet waits here rather than in a kernel buffer of ~256 small datagrams that drops the
/// rest; the bound keeps a slow handler from growing memory without limit.
const BYTES_IN_FLIGHT: usize = 4 * 1024 * 1024;

/// Kernel receive buffer asked for; see `grow_receive_buffer`.
const RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

/// Batches in flight to JS at once, whatever their size.
const BATCHES_IN_FLIGHT: u32 = 256;

/// Datagrams per `recvmmsg`/`sendmmsg` call.
pub const BATCH: usize = 64;

/// Room for the largest datagram IPv4 or IPv6 can carry without jumbograms.
const SLOT: usize = 65_536;

const SIG_DRAIN: u32 = 1;

/// How often a pending `drain` asks the kernel whether the socket takes datagrams again.
const DRAIN_POLL: std::time::Duration = std::time::Duration::from_millis(1);

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

/// A socket option, with values `lib/udp.js` checked.
pub enum UdpOption {
  Broadcast(bool),
  Ttl(u32),
  MulticastTtl(u32),
  MulticastLoop(bool),
  MulticastInterface(IpAddr),
  Membership {
    join: bool,
    group: IpAddr,
    interface: Option<IpAddr>,
  },
  SourceMembership {
    join: bool,
    source: IpAddr,
    group: IpAddr,
    interface: Option<IpAddr>,
  },
}

/// What `udpSocket()` binds, already resolved.
pub struct UdpConfig {
  pub bind: SocketAddr,
  pub connect: Option<SocketAddr>,
}

pub struct Udp {
  reporter: Reporter,
  /// Registered for reads (and errors) only: a registration that also watched writes would
  /// wake the I/O thread for every datagram sent. `drain` waits on a separate registration.
  socket: AsyncFd<UdpSocket>,
  local: Option<SocketAddr>,
  connected: Option<SocketAddr>,
  closed: AtomicBool,
  signals: AtomicU32,
  wake: Notify,
  batches: AtomicU32,
  bytes: AtomicUsize,
  drain_requested: AtomicBool,
}

impl Udp {
  /// Binds (and connects) now, then starts receiving on the I/O thread.
  pub fn bind(id: HandleId, sink: Arc<dyn EventSink>, config: &UdpConfig) -> Result<Arc<Udp>, SocketError> {
    let bind_target = ErrorTarget {
      address: Some(config.bind.ip().to_string()),
      port: Some(config.bind.port()),
    };
    let fail = |syscall, err: io::Error, target: &ErrorTarget| SocketError::os(syscall, &err, target.clone());
    let socket = Socket::new(Domain::for_address(config.bind), Type::DGRAM, None)
      .map_err(|e| fail(Syscall::Bind, e, &bind_target))?;
    if config.bind.is_ipv6() {
      let _ = socket.set_only_v6(false);
    }
    // As Bun: ICMP errors (port unreachable, message too big) reach the `error` handler, even on
    // unconnected sockets, through the error queue.
    set_recv_err(&socket, config.bind.is_ipv6());
    grow_receive_buffer(&socket);
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
    // SAFETY: the AsyncFd owns the socket. `close()` later points the descriptor at an
    // unregistered placeholder (dup3): epoll forgets the old socket as it is released, and the
    // final deregistration of the placeholder fails harmlessly (ENOENT).
    let socket = unsafe { AsyncFd::register_with_interest(UdpSocket::from(socket), Interest::READABLE) }
      .map_err(|e| fail(Syscall::Bind, e.into_parts().1, &bind_target))?;
    let udp = Arc::new(Udp {
      reporter: Reporter { id, sink },
      local: socket.get_ref().local_addr().ok(),
      socket,
      connected: config.connect,
      closed: AtomicBool::new(false),
      signals: AtomicU32::new(0),
      wake: Notify::new(),
      batches: AtomicU32::new(0),
      bytes: AtomicUsize::new(0),
      drain_requested: AtomicBool::new(false),
    });
    crate::runtime::handle().spawn(run(udp.clone()));
    Ok(udp)
  }

  pub fn local_addr(&self) -> Option<SocketAddr> {
    self.local
  }

  pub fn peer_addr(&self) -> Option<SocketAddr> {
    self.connected
  }

  pub fn is_closed(&self) -> bool {
    self.closed.load(Ordering::Acquire)
  }

  /// The OS descriptor, or -1 once closed.
  pub fn fd(&self) -> i32 {
    if self.is_closed() {
      -1
    } else {
      self.socket.as_raw_fd()
    }
  }

  /// Sends one datagram now. Ok(false) when the kernel buffer is full (then `drain` follows).
  pub fn send(&self, data: &[u8], to: Option<SocketAddr>) -> Result<bool, SocketError> {
    let unconnected_to = to.filter(|_| self.connected.is_none());
    let sent = self.with(|socket| match unconnected_to {
      Some(addr) => socket.send_to(data, addr),
      None => socket.send(data),
    });
    match sent {
      Ok(_) => Ok(true),
      Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
        self.request_drain();
        Ok(false)
      }
      Err(err) => Err(send_error(&err, to)),
    }
  }

  /// Sends many datagrams with as few `sendmmsg` calls as possible; returns how many went out.
  /// Fewer than offered means the kernel refused the rest for now (then `drain` follows); a
  /// failure on the first datagram is an error, as in Bun.
  pub fn send_many(&self, packets: &[(&[u8], Option<SocketAddr>)]) -> Result<usize, SocketError> {
    let mut sent = 0;
    while sent < packets.len() {
      let chunk = &packets[sent..packets.len().min(sent + BATCH)];
      match self.with(|socket| sendmmsg(socket, chunk)) {
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
        Err(_) if sent > 0 => {
          self.request_drain();
          break;
        }
        Err(err) => return Err(send_error(&err, chunk.first().and_then(|p| p.1))),
      }
    }
    Ok(sent)
  }

  /// Closes now; no event follows. The port is free when this returns: the socket's descriptor
  /// is atomically pointed at a fresh unbound socket (`dup3`), which releases the bound one at
  /// once, while the task that still holds the descriptor is woken to drop it.
  pub fn close(&self) {
    if self.closed.swap(true, Ordering::AcqRel) {
      return;
    }
    let domain = if self.local.is_some_and(|a| a.is_ipv6()) {
      Domain::IPV6
    } else {
      Domain::IPV4
    };
    if let Ok(placeholder) = Socket::new(domain, Type::DGRAM, None) {
      // SAFETY: both descriptors are open; dup3 closes the old description of the target fd,
      // whose epoll registration goes with it. The task never reads once `closed` is set.
      unsafe { libc::dup3(placeholder.as_raw_fd(), self.socket.as_raw_fd(), libc::O_CLOEXEC) };
    }
    self.wake.notify_one();
  }

  /// Sets a socket option as Bun's `setBroadcast`, `setTTL`… do.
  pub fn set_option(&self, option: UdpOption) -> Result<(), SocketError> {
    let v6 = self.local.is_some_and(|a| a.is_ipv6());
    self
      .with(|socket| apply_option(socket, v6, option))
      .map_err(|err| SocketError::os(Syscall::Setsockopt, &err, ErrorTarget::default()))
  }

  fn with<R>(&self, f: impl FnOnce(&UdpSocket) -> io::Result<R>) -> io::Result<R> {
    if self.is_closed() {
      return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    f(self.socket.get_ref())
  }

  fn request_drain(&self) {
    if !self.drain_requested.swap(true, Ordering::AcqRel) {
      self.signals.fetch_or(SIG_DRAIN, Ordering::AcqRel);
      self.wake.notify_one();
    }
  }

  fn can_read(&self) -> bool {
    self.batches.load(Ordering::Acquire) < BATCHES_IN_FLIGHT
      && self.bytes.load(Ordering::Acquire) < BYTES_IN_FLIGHT
  }
}

impl Creditor for Udp {
  fn credit_returned(&self, bytes: usize) {
    let was_full = !self.can_read();
    self.batches.fetch_sub(1, Ordering::AcqRel);
    self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    if was_full {
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

fn apply_option(socket: &UdpSocket, v6: bool, option: UdpOption) -> io::Result<()> {
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
    UdpOption::MulticastInterface(IpAddr::V4(ip)) if !v6 => sock.set_multicast_if_v4(&ip),
    // A dual-stack socket: the kernel picks the IPv4 route.
    UdpOption::MulticastInterface(IpAddr::V4(_)) => Ok(()),
    UdpOption::MulticastInterface(IpAddr::V6(_)) if !v6 => unsupported(),
    UdpOption::MulticastInterface(IpAddr::V6(_)) => sock.set_multicast_if_v6(0),
    UdpOption::Membership {
      join,
      group: IpAddr::V4(group),
      interface,
    } => {
      let interface = match interface {
        Some(IpAddr::V4(ip)) => ip,
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
      join: true,
      group: IpAddr::V6(group),
      ..
    } => sock.join_multicast_v6(&group, 0),
    UdpOption::Membership {
      join: false,
      group: IpAddr::V6(group),
      ..
    } => sock.leave_multicast_v6(&group, 0),
    UdpOption::SourceMembership {
      join,
      source,
      group,
      interface,
    } => source_membership(socket, join, source, group, interface),
  }
}

async fn run(udp: Arc<Udp>) {
  // Bun reports `drain` once after creation, when the socket first shows writable.
  let mut want_drain = true;
  loop {
    if udp.is_closed() {
      return;
    }
    if udp.signals.swap(0, Ordering::AcqRel) & SIG_DRAIN != 0 {
      want_drain = true;
    }
    let read = udp.can_read();
    let listening = tokio::select! {
      biased;
      _ = udp.wake.notified() => true,
      ready = udp.socket.ready(Interest::ERROR) => match ready {
        Ok(mut guard) => {
          guard.clear_ready_matching(tokio::io::Ready::ERROR);
          report_errors(&udp)
        }
        Err(_) => false,
      },
      ready = udp.socket.readable(), if read => match ready {
        Ok(guard) => receive(&udp, guard),
        Err(_) => false,
      },
      ready = writable(&udp), if want_drain => {
        want_drain = false;
        udp.drain_requested.store(false, Ordering::Release);
        ready.is_ok() && (udp.is_closed() || udp.reporter.emit(Event::Drain))
      }
    };
    if !listening {
      return;
    }
  }
}

/// Reads what is queued, a batch at a time, until the socket is empty or the budget is spent,
/// then reports queued ICMP errors. False when nobody listens any more.
fn receive(udp: &Arc<Udp>, mut guard: tokio::io::unix::AsyncFdReadyGuard<'_, UdpSocket>) -> bool {
  while udp.can_read() && !udp.is_closed() {
    let read = match guard.try_io(|socket| recvmmsg(socket.get_ref())) {
      Ok(read) => read,
      // Drained: tokio cleared the readiness it had seen.
      Err(_would_block) => return report_errors(udp),
    };
    match read {
      Ok(batch) => {
        let bytes = batch.bytes.len();
        udp.batches.fetch_add(1, Ordering::AcqRel);
        udp.bytes.fetch_add(bytes, Ordering::AcqRel);
        if !udp
          .reporter
          .emit(Event::Datagrams(batch, Credit::with_amount(udp.clone(), bytes)))
        {
          return false;
        }
      }
      Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
      // A pending ICMP error read as the socket's error (ECONNREFUSED…): the error queue
      // reports it, with its details.
      Err(_) => return report_errors(udp),
    }
  }
  true
}

/// Resolves once the kernel takes datagrams again. A registration watching writes would wake
/// the I/O thread for every datagram sent, and a duplicate descriptor would keep the port bound
/// after `close()`; a pending `drain` is rare on UDP, so ask the kernel every millisecond.
async fn writable(udp: &Udp) -> io::Result<()> {
  loop {
    if udp.is_closed() {
      return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    let mut pfd = libc::pollfd {
      fd: udp.socket.as_raw_fd(),
      events: libc::POLLOUT,
      revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout; the descriptor stays open while `udp` lives.
    if unsafe { libc::poll(&mut pfd, 1, 0) } > 0 && pfd.revents & libc::POLLOUT != 0 {
      return Ok(());
    }
    tokio::time::sleep(DRAIN_POLL).await;
  }
}

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

fn recvmmsg(socket: &UdpSocket) -> io::Result<Batch> {
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

fn sendmmsg(socket: &UdpSocket, packets: &[(&[u8], Option<SocketAddr>)]) -> io::Result<usize> {
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
fn grow_receive_buffer(socket: &Socket) {
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

fn set_recv_err(socket: &Socket, v6: bool) {
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

/// Reads the socket's error queue and reports each entry to `error`. False when nobody listens.
fn report_errors(udp: &Udp) -> bool {
  loop {
    match udp.with(read_error_queue) {
      Ok(Some(errno)) => {
        if !udp
          .reporter
          .emit(Event::Error(SocketError::queued(Syscall::Recv, errno)))
        {
          return false;
        }
      }
      Ok(None) => {}
      Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
      // EAGAIN: the queue is empty.
      Err(_) => return true,
    }
  }
}

/// One entry of the error queue: the errno it carries (None for entries without one).
fn read_error_queue(socket: &UdpSocket) -> io::Result<Option<i32>> {
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

fn source_membership(
  socket: &UdpSocket,
  join: bool,
  source: IpAddr,
  group: IpAddr,
  interface: Option<IpAddr>,
) -> io::Result<()> {
  let sock = SockRef::from(socket);
  if let (IpAddr::V4(source), IpAddr::V4(group)) = (source, group) {
    let interface = match interface {
      Some(IpAddr::V4(ip)) => ip,
      _ => Ipv4Addr::UNSPECIFIED,
    };
    return if join {
      sock.join_ssm_v4(&source, &group, &interface)
    } else {
      sock.leave_ssm_v4(&source, &group, &interface)
    };
  }
  // MCAST_(JOIN|LEAVE)_SOURCE_GROUP: the protocol-independent form, for IPv6.
  // SAFETY: all-zero is a valid group_source_req.
  let mut req: libc::group_source_req = unsafe { std::mem::zeroed() };
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

fn write_storage(storage: &mut libc::sockaddr_storage, ip: IpAddr) {
  let addr = SockAddr::from(SocketAddr::new(ip, 0));
  // SAFETY: `addr` holds `addr.len()` valid bytes, at most a sockaddr_storage.
  unsafe {
    std::ptr::copy_nonoverlapping(
      addr.as_ptr().cast::<u8>(),
      (storage as *mut libc::sockaddr_storage).cast::<u8>(),
      addr.len() as usize,
    )
  };
}
