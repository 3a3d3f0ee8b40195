//! One connection: its socket, the one state machine that says what may happen to it, and the
//! one write path for plain and TLS.
//!
//! Who reads: a plain socket is read by the JS thread that owns it (`js/reader.rs` watches it
//! in its `Poller` and calls `read_step` when it is ready); a TLS socket by its task on the I/O
//! thread (`net/secure_task.rs`), which keeps the crypto off the JS thread. `upgrade_tls` hands a socket from the first to the second, in one step on the JS
//! thread. Both write through `write` on the JS thread, without blocking or buffering beyond
//! one TLS batch. Every change of state goes through `Core` under one lock; nothing here blocks
//! and no lock is held while JS runs.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use socket2::Socket;
use tokio::sync::Notify;

use crate::error::{ErrorTarget, SocketError, Syscall};
use crate::net::poller::Lease;
use crate::net::secure::{Secure, Written};
use crate::net::timer::Timer;
use crate::net::{Creditor, Event, HandleId, OnPanic, Reporter};

/// Chunks of one TLS socket in flight to JS at once. Four kept throughput at the unbounded
/// figure while a slow `data` handler held RSS at ~50 MB instead of 300+ MB.
pub const CREDIT: u32 = 4;

/// What `write` reports once the socket cannot be written, as Bun does.
pub const WRITE_CLOSED_RESULT: i64 = -1;

/// Which kind of stream the socket is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
  Tcp,
  Unix,
}

/// Where a connection is. Transitions happen under `Conn::core`, on the thread of whoever
/// reads the socket (or on the JS thread for JS's own requests).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Phase {
  /// Reading (unless paused) and writing.
  Open,
  /// We sent FIN (`shutdown()`); still reading. The peer's FIN then closes without `end`, as
  /// in Bun.
  WriteClosed,
  /// The peer sent FIN and `end` was reported; writes go on (allowHalfOpen).
  ReadClosed,
  /// `end()` after a short write: closes, reporting `close`, once the socket drains.
  Ending,
  /// TLS: the task sends what `write` accepted, then close_notify, then FIN (or closes).
  Flushing(After),
  /// The descriptor is closed.
  Closed,
}

/// What a TLS socket does once its accepted bytes are out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum After {
  /// `shutdown()`: FIN, and reading goes on.
  HalfClose,
  /// `close()`/`end()`: close the descriptor (JS already reported `close`).
  Close,
}

/// What the JS reader should watch a plain socket for.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Wants {
  pub read: bool,
  pub write: bool,
}

/// What one step of the JS reader produced, in the order to report it.
#[derive(Debug)]
pub enum Readout {
  /// `n` bytes were read into the caller's buffer.
  Data(usize),
  End,
  Drain,
  /// Closed by the core; report `close` (with the error, if any).
  Close(Option<SocketError>),
}

/// What the peer or the kernel says about a plain socket, from the JS reader's poll.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ready {
  pub readable: bool,
  pub writable: bool,
  /// A reset (EPOLLERR/EPOLLHUP; elsewhere an error tokio saw): reported even while paused, as
  /// Bun does.
  pub failed: bool,
}

/// A request from the JS thread to a TLS socket's task, applied in the order made.
#[derive(Debug)]
pub enum Request {
  /// A client session starts its handshake.
  StartTls,
  /// Bytes read before `upgradeTLS` (Bun's `initialData`), fed to the session first.
  Feed(Vec<u8>),
  /// Accepted bytes out, then close_notify and FIN: `shutdown()`.
  HalfClose,
  /// Accepted bytes out, then close: `close()`/`end()`. JS reported `close` already.
  Close,
  /// RST now: `terminate()`, or the environment ended.
  Reset,
  /// `shutdown(true)`: stop reading.
  ShutdownRead,
}

/// A live connection, shared by the JS thread and (for TLS) its task.
pub struct Conn {
  reporter: Reporter,
  kind: Kind,
  /// The descriptor, for the reader's set and `fd`; valid while `core.sock` is `Some`.
  raw_fd: RawFd,
  core: Mutex<Core>,
  /// Set once, at connect or accept, or by `upgrade_tls`.
  secure: OnceLock<Box<Secure>>,
  /// TLS: the task's requests, in order, and its wake-up.
  requests: Mutex<Vec<Request>>,
  pub(crate) wake: Notify,
  /// TLS: chunks in flight to JS.
  pub(crate) in_flight: AtomicU32,
  bytes_written: AtomicU64,
  timer: Timer,
}

/// The state machine's data. Only code in this module and the TLS task touch it.
pub(crate) struct Core {
  pub(crate) sock: Option<Socket>,
  pub(crate) phase: Phase,
  pub(crate) paused: bool,
  /// A write fell short: report `drain` once the socket takes writes again.
  pub(crate) drain_armed: bool,
  /// TLS: ciphertext waits for the kernel.
  pub(crate) flush_pending: bool,
  /// The task reads this socket (TLS); otherwise the JS reader does.
  pub(crate) task_reads: bool,
  /// A duplicate of a descriptor the caller still holds (connect({ fd })).
  pub(crate) adopted: bool,
  /// Who closes the descriptor (`close_now` hands it over).
  pub(crate) lease: Lease,
}

impl Conn {
  pub fn new(id: HandleId, sink: Arc<dyn crate::net::EventSink>, sock: Socket, kind: Kind) -> Arc<Conn> {
    let raw_fd = sock.as_raw_fd();
    Self::build(id, sink, Some(sock), raw_fd, kind, Phase::Open)
  }

  /// A connection the peer reset before we saw it established: already closed.
  fn reset(id: HandleId, sink: Arc<dyn crate::net::EventSink>) -> Arc<Conn> {
    Self::build(id, sink, None, -1, Kind::Tcp, Phase::Closed)
  }

  fn build(
    id: HandleId,
    sink: Arc<dyn crate::net::EventSink>,
    sock: Option<Socket>,
    raw_fd: RawFd,
    kind: Kind,
    phase: Phase,
  ) -> Arc<Conn> {
    Arc::new(Conn {
      reporter: Reporter { id, sink },
      kind,
      raw_fd,
      core: Mutex::new(Core {
        sock,
        phase,
        paused: false,
        drain_armed: false,
        flush_pending: false,
        task_reads: false,
        adopted: false,
        lease: Lease::new(),
      }),
      secure: OnceLock::new(),
      requests: Mutex::new(Vec::new()),
      wake: Notify::new(),
      in_flight: AtomicU32::new(0),
      bytes_written: AtomicU64::new(0),
      timer: Timer::default(),
    })
  }

  /// Reports `Open`; a TLS one's task starts once JS has it. Decided before `Open` is out:
  /// JS may upgradeTLS() a plain one (which starts its task) before this thread goes on.
  fn open(self: &Arc<Self>, secure: Option<Box<Secure>>) {
    let is_tls = secure.is_some_and(|secure| self.set_secure(secure));
    if self.emit(Event::Open(self.clone())) && is_tls {
      self.start_task();
    }
  }

  /// Connects on the I/O thread, then reports `Open` or `ConnectError`. A peer that resets
  /// the connection before we saw it established still counts as connected, as in Bun: `Open`,
  /// then `Close(ECONNRESET)`.
  pub fn connect(
    id: HandleId,
    sink: Arc<dyn crate::net::EventSink>,
    target: crate::net::Target,
    // Boxed: a session is large, and inline it would enlarge every connect task.
    secure: Option<Box<Secure>>,
  ) {
    crate::runtime::handle().spawn(async move {
      let reporter = Reporter {
        id,
        sink: sink.clone(),
      };
      let unanswered = OnPanic::new(move || {
        reporter.emit(Event::ConnectError(SocketError::Internal));
      });
      let connected = crate::net::tcp::connect(&target).await;
      // A loopback connect is often done before the listener in this process saw the
      // connection: let the I/O driver run once, so a server's `open` comes first, as in Bun.
      tokio::task::yield_now().await;
      unanswered.disarm();
      match connected {
        Ok((sock, kind)) => {
          Conn::new(id, sink, sock, kind).open(secure);
        }
        Err(err) if err.code() == "ECONNRESET" => {
          let conn = Conn::reset(id, sink);
          if conn.emit(Event::Open(conn.clone())) {
            conn.emit(Event::Close(Some(err)));
          }
        }
        Err(err) => {
          crate::runtime::note_activity();
          Reporter { id, sink }.emit(Event::ConnectError(err));
        }
      }
    });
  }

  /// connect({ fd }): works on a duplicate of `fd`, which must be a connected stream socket
  /// (else `ConnectError`, ECONNREFUSED as Bun reports it). The caller's descriptor stays the
  /// caller's: closing this socket shuts its write side down first, so the peer sees FIN even
  /// while the original stays open.
  pub fn adopt(id: HandleId, sink: Arc<dyn crate::net::EventSink>, fd: RawFd, secure: Option<Box<Secure>>) {
    // Duplicated now, on the caller's thread: once connect() returned, the caller may close
    // `fd`, and its number may name another descriptor.
    let adopted = crate::net::tcp::adopt(fd);
    crate::runtime::handle().spawn(async move {
      let Some((sock, kind)) = adopted else {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        crate::runtime::note_activity();
        Reporter { id, sink }.emit(Event::ConnectError(SocketError::os(
          Syscall::Connect,
          &refused,
          ErrorTarget::default(),
        )));
        return;
      };
      let conn = Conn::new(id, sink, sock, kind);
      conn.lock().adopted = true;
      conn.open(secure);
    });
  }

  pub fn id(&self) -> HandleId {
    self.reporter.id
  }

  pub fn kind(&self) -> Kind {
    self.kind
  }

  /// Makes this a TLS connection before anyone reads it (false if it already was).
  pub fn set_secure(&self, secure: Box<Secure>) -> bool {
    let set = self.secure.set(secure).is_ok();
    if set {
      self.lock().task_reads = true;
    }
    set
  }

  pub fn secure(&self) -> Option<&Secure> {
    self.secure.get().map(|secure| &**secure)
  }

  /// Starts the TLS task. Call after `Open`/`Accept` is queued, so no chunk can reach JS
  /// before the socket object exists.
  pub fn start_task(self: &Arc<Conn>) {
    crate::runtime::handle().spawn(crate::net::secure_task::run(self.clone()));
  }

  /// STARTTLS on the JS thread: from now on every byte read goes to `secure`, starting with
  /// `initial`. The caller has stopped watching the socket; false once closed or already TLS.
  pub fn upgrade_tls(self: &Arc<Conn>, secure: Box<Secure>, initial: Option<Vec<u8>>) -> bool {
    {
      let core = self.lock();
      if core.sock.is_none() || !matches!(core.phase, Phase::Open) || self.secure.get().is_some() {
        return false;
      }
    }
    if !self.set_secure(secure) {
      return false;
    }
    if let Some(bytes) = initial.filter(|bytes| !bytes.is_empty()) {
      self.request(Request::Feed(bytes));
    }
    self.start_task();
    true
  }

  /// Queues a request for the TLS task.
  pub fn request(&self, request: Request) {
    self
      .requests
      .lock()
      .unwrap_or_else(|poisoned| poisoned.into_inner())
      .push(request);
    self.wake.notify_one();
  }

  pub(crate) fn take_requests(&self) -> Vec<Request> {
    std::mem::take(
      &mut *self
        .requests
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()),
    )
  }

  /// Writes what the socket takes now, without blocking: plain bytes to the kernel, or TLS
  /// records of at most one batch beyond what the kernel took. Returns the byte count (possibly
  /// short, 0 while full), or -1 once the socket cannot be written. A short write arms `drain`.
  pub fn write(&self, data: &[u8]) -> i64 {
    let mut core = self.lock();
    if !matches!(core.phase, Phase::Open | Phase::ReadClosed) {
      return WRITE_CLOSED_RESULT;
    }
    let Some(sock) = core.sock.as_ref() else {
      return WRITE_CLOSED_RESULT;
    };
    if data.is_empty() {
      return 0;
    }
    let (taken, pending) = match self.secure() {
      None => match send(sock, data) {
        Ok(n) => (n, false),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => (0, false),
        // EPIPE/ECONNRESET: the read side reports the failure.
        Err(_) => return WRITE_CLOSED_RESULT,
      },
      Some(secure) => match secure.write(data, sock) {
        Written::Took { taken, pending } => (taken, pending),
        // Before the handshake, Bun drops the bytes and reports 0, without `drain`.
        Written::NotReady => return 0,
        Written::Closed => return WRITE_CLOSED_RESULT,
      },
    };
    self.bytes_written.fetch_add(taken as u64, Ordering::Relaxed);
    let short = taken < data.len();
    core.drain_armed |= short;
    core.flush_pending |= pending;
    if core.task_reads && (short || pending) {
      drop(core);
      self.wake.notify_one();
    }
    taken as i64
  }

  pub fn bytes_written(&self) -> u64 {
    self.bytes_written.load(Ordering::Relaxed)
  }

  pub fn is_closed(&self) -> bool {
    self.lock().phase == Phase::Closed
  }

  /// Bun's `end()`: closes gracefully now and returns true, or, while a short write's `drain`
  /// is pending, closes once the socket drained (reporting `Close`) and returns false.
  pub fn end(&self) -> bool {
    let mut core = self.lock();
    match core.phase {
      Phase::Open | Phase::ReadClosed | Phase::WriteClosed if core.drain_armed || core.flush_pending => {
        if core.task_reads {
          // The task sends the rest, then close_notify; it reports `close` then.
          core.phase = Phase::Ending;
          drop(core);
          self.wake.notify_one();
        } else {
          core.phase = Phase::Ending;
        }
        false
      }
      _ => {
        drop(core);
        self.close();
        true
      }
    }
  }

  /// Closes gracefully (FIN after what the kernel holds; TLS: after our accepted records and
  /// close_notify). The caller reports `close`.
  pub fn close(&self) {
    let mut core = self.lock();
    if core.task_reads {
      if !matches!(core.phase, Phase::Closed | Phase::Flushing(After::Close)) {
        core.phase = Phase::Flushing(After::Close);
        drop(core);
        self.request(Request::Close);
      }
      return;
    }
    core.close_now(false);
    self.timer.clear();
  }

  /// Closes now with a reset (RST), dropping unsent data. The caller reports `close`.
  pub fn terminate(&self) {
    let mut core = self.lock();
    if core.task_reads {
      if core.phase != Phase::Closed {
        // The task owns the descriptor's registration: it closes it.
        core.phase = Phase::Flushing(After::Close);
        drop(core);
        self.request(Request::Reset);
      }
      return;
    }
    core.close_now(true);
    self.timer.clear();
  }

  /// `shutdown(2)` of the write side (the socket stays open for reading: the peer's FIN then
  /// closes), or with `read_side` of the read side only (reading then ends, writes still go
  /// out), as in Bun.
  pub fn shutdown(&self, read_side: bool) {
    let mut core = self.lock();
    if read_side {
      if let Some(sock) = &core.sock {
        let _ = sock.shutdown(std::net::Shutdown::Read);
      }
      if core.task_reads {
        drop(core);
        self.request(Request::ShutdownRead);
      }
      return;
    }
    match core.phase {
      Phase::Open | Phase::ReadClosed if core.task_reads => {
        core.phase = Phase::Flushing(After::HalfClose);
        drop(core);
        self.request(Request::HalfClose);
      }
      Phase::Open => {
        core.phase = Phase::WriteClosed;
        if let Some(sock) = &core.sock {
          let _ = sock.shutdown(std::net::Shutdown::Write);
        }
      }
      Phase::ReadClosed => {
        // Both directions done.
        if let Some(sock) = &core.sock {
          let _ = sock.shutdown(std::net::Shutdown::Write);
        }
        core.phase = Phase::WriteClosed;
      }
      _ => {}
    }
  }

  /// Stops reading. The last of `pause`/`resume` wins, however many come in one tick.
  pub fn set_paused(&self, paused: bool) {
    let mut core = self.lock();
    if core.paused == paused {
      return;
    }
    core.paused = paused;
    if core.task_reads {
      drop(core);
      self.wake.notify_one();
    }
  }

  /// Arms a one-shot `Timeout` after `seconds` (any finite or infinite number), replacing any
  /// earlier one; zero, negative or NaN disables. As in Bun, reads and writes do not push it
  /// back.
  pub fn set_timeout(self: &Arc<Conn>, seconds: f64) {
    self.timer.set(self, seconds);
  }

  pub fn set_no_delay(&self, on: bool) -> bool {
    let core = self.lock();
    match (&core.sock, self.kind) {
      (Some(sock), Kind::Tcp) => sock.set_tcp_nodelay(on).is_ok(),
      _ => false,
    }
  }

  pub fn set_keep_alive(&self, on: bool, initial_delay: Duration) -> bool {
    let core = self.lock();
    let (Some(sock), Kind::Tcp) = (&core.sock, self.kind) else {
      return false;
    };
    if sock.set_keepalive(on).is_err() {
      return false;
    }
    if on && !initial_delay.is_zero() {
      let params = socket2::TcpKeepalive::new().with_time(initial_delay);
      return sock.set_tcp_keepalive(&params).is_ok();
    }
    true
  }

  pub fn local_addr(&self) -> Option<SocketAddr> {
    let core = self.lock();
    core.sock.as_ref()?.local_addr().ok()?.as_socket()
  }

  pub fn peer_addr(&self) -> Option<SocketAddr> {
    let core = self.lock();
    core.sock.as_ref()?.peer_addr().ok()?.as_socket()
  }

  /// The OS descriptor, for Bun's `fd`; -1 once closed.
  pub fn fd(&self) -> i32 {
    if self.lock().sock.is_some() {
      self.raw_fd
    } else {
      -1
    }
  }

  /// The descriptor the JS reader registers (plain sockets only).
  pub fn raw_fd(&self) -> RawFd {
    self.raw_fd
  }

  /// Runs `f` on the socket under the connection's lock, so that it cannot close meanwhile;
  /// `None` once closed.
  pub(crate) fn with_socket<R>(&self, f: impl FnOnce(&Socket) -> R) -> Option<R> {
    self.lock().sock.as_ref().map(f)
  }

  // --- the JS reader (plain sockets, on the JS thread) ---

  /// What the JS reader should watch for now; `None` once it should not watch at all
  /// (closed, or read by the TLS task).
  pub fn wants(&self) -> Option<Wants> {
    self.lock().wants()
  }

  /// One step of a plain socket's reading, with what its poll reported: reads once into
  /// `buf`, or reports `drain`, the end or the close. `None` when there is nothing more to do
  /// for this readiness. Called again after each readout, so a handler's `pause()` or
  /// `close()` takes effect before the next read.
  pub fn read_step(&self, ready: &mut Ready, buf: &mut [u8]) -> Option<Readout> {
    let out = self.read_once(ready, buf);
    if matches!(out, Some(Readout::Close(_))) {
      self.timer.clear();
    }
    out
  }

  fn read_once(&self, ready: &mut Ready, buf: &mut [u8]) -> Option<Readout> {
    let mut core = self.lock();
    if core.task_reads {
      return None;
    }
    let sock = core.sock.as_ref()?;
    // A reset is reported even while paused, after the data queued ahead of it, as in Bun.
    let reading = matches!(core.phase, Phase::Open | Phase::WriteClosed | Phase::Ending)
      && (!core.paused || ready.failed);
    if ready.readable || ready.failed {
      if reading {
        match recv(sock, buf) {
          Ok(0) => return core.on_eof(),
          Ok(n) => {
            if n < buf.len() && !ready.failed {
              // A short read drained the socket: no need to ask again this time.
              ready.readable = false;
            }
            return Some(Readout::Data(n));
          }
          Err(err) if err.kind() == io::ErrorKind::WouldBlock => ready.readable = false,
          // Rare: the next readiness asks again.
          Err(err) if err.kind() == io::ErrorKind::Interrupted => return None,
          Err(err) => return core.fail(Syscall::Read, &err),
        }
      } else if ready.failed {
        // Half-open (the peer already ended): the reset still closes, as `EPIPE`.
        if let Some(err) = take_error(sock) {
          return core.fail(Syscall::Read, &err);
        }
      }
    }
    if ready.failed && core.phase != Phase::Closed {
      ready.failed = false;
      // A failure with nothing left to read: take the socket's error if it has one.
      if let Some(sock) = core.sock.as_ref() {
        if let Some(err) = take_error(sock) {
          return core.fail(Syscall::Read, &err);
        }
      }
    }
    if ready.writable {
      ready.writable = false;
      if core.phase == Phase::Ending {
        core.close_now(false);
        return Some(Readout::Close(None));
      }
      if core.drain_armed {
        core.drain_armed = false;
        return Some(Readout::Drain);
      }
    }
    None
  }

  /// The environment ended: close without reporting anything.
  pub fn abandon(&self) {
    let mut core = self.lock();
    if core.task_reads {
      drop(core);
      self.request(Request::Reset);
      return;
    }
    core.close_now(false);
    self.timer.clear();
  }

  pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
    // Nothing under this lock can panic but an allocation failure; the state stays consistent.
    self.core.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
  }

  pub(crate) fn emit(&self, event: Event) -> bool {
    crate::runtime::note_activity();
    self.reporter.emit(event)
  }
}

impl Core {
  /// `Conn::wants`, under the lock the caller holds.
  pub(crate) fn wants(&self) -> Option<Wants> {
    if self.task_reads || self.sock.is_none() {
      return None;
    }
    Some(Wants {
      read: !self.paused && matches!(self.phase, Phase::Open | Phase::WriteClosed | Phase::Ending),
      write: self.drain_armed || self.phase == Phase::Ending,
    })
  }

  /// The peer sent FIN.
  pub(crate) fn on_eof(&mut self) -> Option<Readout> {
    match self.phase {
      // Already half-closed by us: both directions are done; close without `end`, as in Bun.
      Phase::WriteClosed | Phase::Ending => {
        self.close_now(false);
        Some(Readout::Close(None))
      }
      Phase::Open => {
        self.phase = Phase::ReadClosed;
        Some(Readout::End)
      }
      _ => None,
    }
  }

  /// A read failed: close and report the error.
  pub(crate) fn fail(&mut self, syscall: Syscall, err: &io::Error) -> Option<Readout> {
    self.close_now(false);
    Some(Readout::Close(Some(SocketError::os(
      syscall,
      err,
      ErrorTarget::default(),
    ))))
  }

  /// Closes the descriptor now: FIN (the kernel still sends what it holds), or RST with
  /// `reset`.
  pub(crate) fn close_now(&mut self, reset: bool) {
    let read_closed = self.phase == Phase::ReadClosed;
    self.phase = Phase::Closed;
    self.drain_armed = false;
    self.flush_pending = false;
    if let Some(sock) = self.sock.take() {
      // close(2) with unread bytes sends a reset and drops what we sent that is still queued
      // (a TLS 1.3 peer's session tickets are enough): read them away first. (After the peer's
      // FIN nothing more can come.) close(2) itself then sends FIN: this is the descriptor's
      // only owner. An adopted socket stays open through the caller's descriptor, with what
      // it holds left to the caller.
      let discard = !reset && !read_closed && !self.adopted;
      if reset {
        // A zero linger turns close(2) into a reset, as Bun's terminate() does.
        let _ = sock.set_linger(Some(Duration::ZERO));
      } else if discard {
        discard_unread(&sock);
      }
      if self.adopted && !reset {
        // The caller's descriptor keeps the socket open: say FIN ourselves.
        let _ = sock.shutdown(std::net::Shutdown::Write);
      }
      // Closes it now, or, while the portable reader's watcher has it registered with tokio,
      // right after that watcher let go of it (reading away what came meanwhile if `discard`).
      self.lease.close(sock, discard);
    }
  }
}

/// Reads and drops what the socket holds (at most `MAX_DISCARD` bytes), without blocking.
pub(crate) fn discard_unread(sock: &Socket) {
  const MAX_DISCARD: usize = 1 << 20;
  let mut buf = [0u8; 16 * 1024];
  let mut total = 0;
  while total < MAX_DISCARD {
    match recv(sock, &mut buf) {
      Ok(n) if n > 0 => total += n,
      Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
      _ => return,
    }
  }
}

/// A pending socket error (SO_ERROR), if any.
fn take_error(sock: &Socket) -> Option<io::Error> {
  sock.take_error().ok().flatten()
}

/// A non-blocking send that never raises SIGPIPE.
fn send(sock: &Socket, data: &[u8]) -> io::Result<usize> {
  loop {
    match sock.send_with_flags(data, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) {
      Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
      result => return result,
    }
  }
}

/// A non-blocking receive into `buf`.
pub(crate) fn recv(sock: &Socket, buf: &mut [u8]) -> io::Result<usize> {
  // SAFETY: `buf` is valid for `buf.len()` bytes; the descriptor belongs to a live socket.
  let n = unsafe {
    libc::recv(
      sock.as_raw_fd(),
      buf.as_mut_ptr().cast(),
      buf.len(),
      libc::MSG_DONTWAIT,
    )
  };
  if n < 0 {
    Err(io::Error::last_os_error())
  } else {
    Ok(n as usize)
  }
}

impl Drop for Conn {
  fn drop(&mut self) {
    // The last reference went without a close (e.g. an `Accept` nobody received): no RST for
    // data the peer sent, just close.
    let core = self
      .core
      .get_mut()
      .unwrap_or_else(|poisoned| poisoned.into_inner());
    core.sock.take();
  }
}

#[cfg(test)]
impl Conn {
  pub fn phase(&self) -> Phase {
    self.lock().phase
  }

  pub fn timer_running(&self) -> bool {
    self.timer.is_running()
  }
}

impl Creditor for Conn {
  fn credit_returned(&self, _amount: usize) {
    // The task sleeps only when every slot was taken; wake it on the way down from full.
    if self.in_flight.fetch_sub(1, Ordering::AcqRel) == CREDIT {
      self.wake.notify_one();
    }
  }
}

impl crate::net::timer::Owner for Conn {
  fn fire(&self) {
    if !self.is_closed() {
      self.emit(Event::Timeout);
    }
  }

  fn timer(&self) -> &Timer {
    &self.timer
  }
}
