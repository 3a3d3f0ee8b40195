//! A UDP socket: sends from the JS thread (`send`, `sendmmsg`), a receive loop on the I/O thread
//! (`recvmmsg`, many datagrams per wake-up; plain loops where those calls are missing, see `sys`).
//!
//! Received datagrams travel to JS in batches, one event per `recvmmsg` call, each holding a
//! credit for its bytes. UDP cannot slow a sender down, so the loop keeps reading into memory up
//! to `BYTES_IN_FLIGHT` rather than leave datagrams in a kernel buffer that drops the overflow;
//! past that bound a slow handler leaves them to the kernel instead of growing memory.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use socket2::{Domain, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The socket itself; sends are plain non-blocking syscalls on it.
type UdpSocket = std::net::UdpSocket;
use tokio::sync::Notify;

use crate::error::{ErrorTarget, SocketError, Syscall};
use crate::net::{addr, Credit, Creditor, Event, EventSink, HandleId, Reporter};

mod options;
// Linux's batched calls and error queue, or plain loops and SO_ERROR elsewhere. The
// `portable-fallbacks` feature picks the portable module on Linux too, so CI tests it.
#[cfg_attr(
  any(
    not(any(target_os = "linux", target_os = "android")),
    feature = "portable-fallbacks"
  ),
  path = "portable.rs"
)]
mod sys;

use options::apply_option;
pub use options::{Interface, UdpOption};
pub use sys::HAS_ERROR_QUEUE;
use sys::{grow_receive_buffer, read_error_queue, receive_batch, replace_fd, send_batch, set_recv_err};

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

/// What `udpSocket()` binds, already resolved.
pub struct UdpConfig {
  pub bind: SocketAddr,
  pub connect: Option<SocketAddr>,
}

/// What `udpSocket()` binds and connects to, as named: hosts may need the resolver.
pub struct UdpTarget {
  pub host: String,
  pub port: u16,
  pub connect: Option<(String, u16)>,
}

impl UdpTarget {
  /// The addresses, when every host is an IP literal (no resolver involved); None otherwise.
  pub fn literal(&self) -> Option<UdpConfig> {
    let bind = SocketAddr::new(addr::parse_ip(&self.host)?, self.port);
    let connect = match &self.connect {
      Some((host, port)) => Some(SocketAddr::new(addr::parse_ip(host)?, *port)),
      None => None,
    };
    Some(UdpConfig { bind, connect })
  }

  /// Resolves the hosts without blocking the calling thread: the first address getaddrinfo
  /// gives to bind, and the peer of the same family if it has one.
  pub async fn resolve(&self) -> Result<UdpConfig, SocketError> {
    let bind = addr::lookup(&self.host, self.port).await?[0];
    let connect = match &self.connect {
      Some((host, port)) => {
        let candidates = addr::lookup(host, *port).await?;
        Some(
          candidates
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == bind.is_ipv4())
            .unwrap_or(candidates[0]),
        )
      }
      None => None,
    };
    Ok(UdpConfig { bind, connect })
  }
}

pub struct Udp {
  reporter: Reporter,
  /// Registered for reads (and errors) only: a registration that also watched writes would
  /// wake the I/O thread for every datagram sent. A pending `drain` asks the kernel instead
  /// (`writable`).
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

  /// Resolves `target` on the I/O thread (getaddrinfo on its blocking pool), then binds and
  /// reports `Bound` on `id`, or `ConnectError` with what failed. A socket nobody receives any
  /// more (the environment ended meanwhile) is closed at once.
  pub fn resolve_then_bind(id: HandleId, sink: Arc<dyn EventSink>, target: UdpTarget) {
    let reporter = Reporter { id, sink };
    crate::runtime::handle().spawn(async move {
      let answers = reporter.clone();
      let unanswered = crate::net::OnPanic::new(move || {
        answers.emit(Event::ConnectError(SocketError::Internal));
      });
      let bound = match target.resolve().await {
        Ok(config) => Udp::bind(reporter.id, reporter.sink.clone(), &config),
        Err(err) => Err(err),
      };
      unanswered.disarm();
      match bound {
        // `Bound` goes out before the receive loop `bind` spawned can report anything: it runs
        // on this same current-thread runtime, not before this task yields.
        Ok(udp) => {
          if !reporter.emit(Event::Bound(udp.clone())) {
            udp.close();
          }
        }
        Err(err) => {
          reporter.emit(Event::ConnectError(err));
        }
      }
    });
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
      match self.with(|socket| send_batch(socket, chunk)) {
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
  /// is pointed at a fresh unbound socket (`dup3`, or `dup2` where there is none), which
  /// releases the bound one at once, while the task that still holds the descriptor is woken to
  /// drop it. The task never reads once `closed` is set.
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
      replace_fd(&placeholder, self.socket.as_raw_fd());
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

async fn run(udp: Arc<Udp>) {
  let owner = udp.clone();
  let _closes = crate::net::OnPanic::new(move || {
    owner.close();
    owner
      .reporter
      .emit(Event::Error(crate::error::SocketError::Internal));
  });
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
    let read = match guard.try_io(|socket| receive_batch(socket.get_ref())) {
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
      // reports it, with its details. Without one, this error is all there is.
      Err(err) => {
        if !HAS_ERROR_QUEUE {
          if let Some(errno) = err.raw_os_error() {
            if !udp
              .reporter
              .emit(Event::Error(SocketError::queued(Syscall::Recv, errno)))
            {
              return false;
            }
          }
        }
        return report_errors(udp);
      }
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
    // The descriptor stays open while `udp` lives.
    if crate::net::writable_now(udp.socket.as_raw_fd()) {
      return Ok(());
    }
    tokio::time::sleep(DRAIN_POLL).await;
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

#[cfg(test)]
mod tests {
  /// CI runs the UDP tests with `portable-fallbacks` too: they must then reach `portable.rs`.
  #[test]
  fn the_feature_picks_the_calls() {
    let linux = cfg!(any(target_os = "linux", target_os = "android"));
    assert_eq!(
      super::HAS_ERROR_QUEUE,
      linux && !cfg!(feature = "portable-fallbacks")
    );
  }
}
