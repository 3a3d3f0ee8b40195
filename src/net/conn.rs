//! One connection: the socket shared by the JS thread (writes, options) and its task on the I/O
//! thread (reads, waits for writability, timeouts, closing).
//!
//! The task is the only code that reads or closes; the JS thread writes without blocking and
//! signals the task through `signals` + `wake` for everything else. Nothing here blocks.
//! A TLS connection adds a `Secure` session that both lock: JS to encrypt and send, the task
//! to receive and handshake.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{ErrorTarget, SocketError, Syscall};
use crate::net::secure::{Secure, Written};
use crate::net::tls::HandshakeOutcome;
use crate::net::{Credit, Creditor, Event, HandleId, Reporter};

/// Chunks of one socket in flight to JS at once. Four kept throughput at the unbounded figure
/// while a slow `data` handler held RSS at ~50 MB instead of 300+ MB.
pub const CREDIT: u32 = 4;

/// Bytes read per syscall. Node reads 64 KiB too; larger reads did not raise loopback throughput.
const READ_SIZE: usize = 64 * 1024;

// Signals from the JS thread to the task.
const SIG_END: u32 = 1;
const SIG_TERMINATE: u32 = 1 << 1;
const SIG_CLOSE: u32 = 1 << 2;
const SIG_PAUSE: u32 = 1 << 3;
const SIG_RESUME: u32 = 1 << 4;
const SIG_DRAIN: u32 = 1 << 5;
const SIG_TIMEOUT: u32 = 1 << 6;
const SIG_SHUTDOWN_WRITE: u32 = 1 << 7;
const SIG_START_TLS: u32 = 1 << 8;

// `state` bits, readable from any thread.
const WRITE_CLOSED: u8 = 1;
const CLOSED: u8 = 1 << 1;
/// Closed by a JS call that already reported `close`: the task ends without a `Close` event.
const SILENT: u8 = 1 << 2;

/// Plain byte streams a connection runs over. TLS wraps one of these.
pub enum Stream {
  Tcp(TcpStream),
  Unix(UnixStream),
}

/// A live connection.
pub struct Conn {
  reporter: Reporter,
  stream: Stream,
  signals: AtomicU32,
  wake: Notify,
  state: AtomicU8,
  in_flight: AtomicU32,
  drain_requested: AtomicBool,
  bytes_written: AtomicU64,
  /// Idle timeout in milliseconds; 0 = none.
  timeout_ms: AtomicU64,
  /// Set once, at connect or by `upgradeTLS`.
  secure: OnceLock<Box<Secure>>,
}

/// What `write` reports, as Bun does: bytes taken, or -1 once closed.
pub const WRITE_CLOSED_RESULT: i64 = -1;

impl Conn {
  pub fn new(id: HandleId, sink: Arc<dyn crate::net::EventSink>, stream: Stream) -> Arc<Conn> {
    Arc::new(Conn {
      reporter: Reporter { id, sink },
      stream,
      signals: AtomicU32::new(0),
      wake: Notify::new(),
      state: AtomicU8::new(0),
      in_flight: AtomicU32::new(0),
      drain_requested: AtomicBool::new(false),
      bytes_written: AtomicU64::new(0),
      timeout_ms: AtomicU64::new(0),
      secure: OnceLock::new(),
    })
  }

  /// Connects on the I/O thread, then reports `Open` (and starts reading) or `ConnectError`.
  /// A TLS client session waits for `start_tls`.
  pub fn connect(
    id: HandleId,
    sink: Arc<dyn crate::net::EventSink>,
    target: crate::net::Target,
    // Boxed: a session is large, and inline it would enlarge every connect task.
    secure: Option<Box<Secure>>,
  ) {
    crate::runtime::handle().spawn(async move {
      match crate::net::tcp::connect(&target).await {
        Ok(stream) => {
          let conn = Conn::new(id, sink, stream);
          if let Some(secure) = secure {
            conn.set_secure(secure);
          }
          // Nobody to report to (the environment ended): let the connection drop.
          if conn.emit(Event::Open(conn.clone())) {
            conn.start();
          }
        }
        Err(err) => {
          Reporter { id, sink }.emit(Event::ConnectError(err));
        }
      }
    });
  }

  pub fn id(&self) -> HandleId {
    self.reporter.id
  }

  /// Makes this a TLS connection (once; false if it already was). A server session starts
  /// with the next bytes read, a client one on `start_tls`.
  pub fn set_secure(&self, secure: Box<Secure>) -> bool {
    self.secure.set(secure).is_ok()
  }

  pub fn secure(&self) -> Option<&Secure> {
    self.secure.get().map(|secure| &**secure)
  }

  /// Starts a client handshake.
  pub fn start_tls(&self) {
    self.signal(SIG_START_TLS);
  }

  /// Starts the connection's task. Call after `Open`/`Accept` is queued, so no chunk can reach
  /// JS before the socket object exists.
  #[cfg(test)]
  pub fn task_size(self: &Arc<Conn>) -> usize {
    std::mem::size_of_val(&run(self.clone()))
  }

  pub fn start(self: &Arc<Conn>) {
    crate::runtime::handle().spawn(run(self.clone()));
  }

  /// Writes what the kernel takes now, without blocking or buffering. Returns the byte count
  /// (possibly short, 0 while the kernel buffer is full) or -1 once closed; a short write arms
  /// `drain`.
  pub fn write(&self, data: &[u8]) -> i64 {
    if self.state.load(Ordering::Acquire) & (WRITE_CLOSED | CLOSED) != 0 {
      return WRITE_CLOSED_RESULT;
    }
    if data.is_empty() {
      return 0;
    }
    if let Some(secure) = self.secure() {
      return self.write_secure(secure, data);
    }
    match self.stream.try_write(data) {
      Ok(n) => {
        self.bytes_written.fetch_add(n as u64, Ordering::Relaxed);
        if n < data.len() {
          self.request_drain();
        }
        n as i64
      }
      Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
        self.request_drain();
        0
      }
      // EPIPE/ECONNRESET: the read side reports the failure.
      Err(_) => WRITE_CLOSED_RESULT,
    }
  }

  /// Plaintext counts, as Bun reports them: the whole chunk, or 0 while earlier records wait
  /// for the kernel (or before the handshake finished, when Bun drops the bytes).
  fn write_secure(&self, secure: &Secure, data: &[u8]) -> i64 {
    match secure.write(data, self.fd()) {
      Written::Taken { pending } => {
        self.bytes_written.fetch_add(data.len() as u64, Ordering::Relaxed);
        if pending {
          self.request_drain();
        }
        data.len() as i64
      }
      Written::Full => {
        self.request_drain();
        0
      }
      Written::NotReady => 0,
      Written::Closed => WRITE_CLOSED_RESULT,
    }
  }

  pub fn bytes_written(&self) -> u64 {
    self.bytes_written.load(Ordering::Relaxed)
  }

  pub fn is_closed(&self) -> bool {
    self.state.load(Ordering::Acquire) & CLOSED != 0
  }

  /// Bun's `end()`: closes gracefully now and returns true, or, while earlier writes wait for
  /// the kernel, closes once they are out (reporting `Close`) and returns false.
  pub fn end(&self) -> bool {
    if self.drain_requested.load(Ordering::Acquire) {
      self.state.fetch_or(WRITE_CLOSED, Ordering::AcqRel);
      self.signal(SIG_END);
      return false;
    }
    self.close();
    true
  }

  /// Closes now with a reset (RST), dropping unsent data. The caller reports `close`.
  pub fn terminate(&self) {
    self
      .state
      .fetch_or(WRITE_CLOSED | CLOSED | SILENT, Ordering::AcqRel);
    self.signal(SIG_TERMINATE);
  }

  /// Closes now, gracefully (FIN). The caller reports `close`.
  pub fn close(&self) {
    self
      .state
      .fetch_or(WRITE_CLOSED | CLOSED | SILENT, Ordering::AcqRel);
    self.signal(SIG_CLOSE);
  }

  /// `shutdown(2)` of the write side (the socket stays open for reading), or with `read_side`
  /// of the read side only: reading then ends (`end`), writes still go out, as in Bun.
  pub fn shutdown(&self, read_side: bool) {
    if read_side {
      let _ = self.stream.sock().shutdown(std::net::Shutdown::Read);
      return;
    }
    self.state.fetch_or(WRITE_CLOSED, Ordering::AcqRel);
    if let Some(secure) = self.secure().filter(|secure| secure.is_established()) {
      secure.close_notify(self.fd());
    }
    let _ = self.stream.sock().shutdown(std::net::Shutdown::Write);
    self.signal(SIG_SHUTDOWN_WRITE);
  }

  pub fn pause(&self) {
    self.signal(SIG_PAUSE);
  }

  pub fn resume(&self) {
    self.signal(SIG_RESUME);
  }

  /// Arms a one-shot `Timeout` after `timeout`, replacing any earlier one; zero disables.
  /// As in Bun, reads and writes do not push it back.
  pub fn set_timeout(&self, timeout: Duration) {
    self
      .timeout_ms
      .store(timeout.as_millis() as u64, Ordering::Relaxed);
    self.signal(SIG_TIMEOUT);
  }

  pub fn set_no_delay(&self, on: bool) -> bool {
    match &self.stream {
      Stream::Tcp(tcp) => tcp.set_nodelay(on).is_ok(),
      Stream::Unix(_) => false,
    }
  }

  pub fn set_keep_alive(&self, on: bool, initial_delay: Duration) -> bool {
    let Stream::Tcp(_) = &self.stream else {
      return false;
    };
    let sock = self.stream.sock();
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
    match &self.stream {
      Stream::Tcp(tcp) => tcp.local_addr().ok(),
      Stream::Unix(_) => None,
    }
  }

  pub fn peer_addr(&self) -> Option<SocketAddr> {
    match &self.stream {
      Stream::Tcp(tcp) => tcp.peer_addr().ok(),
      Stream::Unix(_) => None,
    }
  }

  /// The OS descriptor, for Bun's `fd`.
  pub fn fd(&self) -> i32 {
    self.stream.sock().as_raw_fd()
  }

  fn request_drain(&self) {
    if !self.drain_requested.swap(true, Ordering::AcqRel) {
      self.signal(SIG_DRAIN);
    }
  }

  fn signal(&self, bits: u32) {
    self.signals.fetch_or(bits, Ordering::AcqRel);
    self.wake.notify_one();
  }

  fn emit(&self, event: Event) -> bool {
    crate::runtime::note_activity();
    self.reporter.emit(event)
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

impl Stream {
  async fn readable(&self) -> io::Result<()> {
    match self {
      Stream::Tcp(s) => s.readable().await,
      Stream::Unix(s) => s.readable().await,
    }
  }

  /// Reads into `buf`: the byte count (0 at end of stream) and whether the socket is drained.
  /// A short read means it is: tokio is told so at once (the read answers `WouldBlock` inside
  /// `try_io`, which clears the readiness it saw) instead of after one more read that would only
  /// return EAGAIN: one syscall less per message.
  fn read_chunk(&self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
    let mut short = None;
    let mut read = || {
      let n = recv(self.sock().as_raw_fd(), buf)?;
      if n > 0 && n < buf.len() {
        short = Some(n);
        return Err(io::Error::from(io::ErrorKind::WouldBlock));
      }
      Ok(n)
    };
    let result = match self {
      Stream::Tcp(s) => s.try_io(Interest::READABLE, &mut read),
      Stream::Unix(s) => s.try_io(Interest::READABLE, &mut read),
    };
    match (result, short) {
      (_, Some(n)) => Ok((n, true)),
      (Ok(n), None) => Ok((n, false)),
      (Err(err), None) => Err(err),
    }
  }

  /// tokio answers `WouldBlock` without a syscall until its reactor has seen the socket
  /// writable, which a socket written from the JS thread right after accept may not be yet:
  /// fall back to a plain non-blocking `send` before reporting a full buffer.
  fn try_write(&self, data: &[u8]) -> io::Result<usize> {
    let first = match self {
      Stream::Tcp(s) => s.try_write(data),
      Stream::Unix(s) => s.try_write(data),
    };
    match first {
      Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.sock().send(data),
      other => other,
    }
  }

  /// Resolves once the kernel takes writes again. tokio's readiness can be stale (set before a
  /// raw `send` filled the buffer), so confirm with `poll(2)`, which clears it when wrong.
  async fn writable(&self) -> io::Result<()> {
    loop {
      let confirmed = match self {
        Stream::Tcp(s) => {
          s.writable().await?;
          s.try_io(Interest::WRITABLE, || poll_writable(s.as_fd()))
        }
        Stream::Unix(s) => {
          s.writable().await?;
          s.try_io(Interest::WRITABLE, || poll_writable(s.as_fd()))
        }
      };
      match confirmed {
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
        other => return other,
      }
    }
  }

  fn sock(&self) -> SockRef<'_> {
    match self {
      Stream::Tcp(s) => SockRef::from(s),
      Stream::Unix(s) => SockRef::from(s),
    }
  }
}

fn recv(fd: i32, buf: &mut [u8]) -> io::Result<usize> {
  // SAFETY: `buf` is valid for `buf.len()` bytes; `fd` belongs to a live socket.
  let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
  if n < 0 {
    Err(io::Error::last_os_error())
  } else {
    Ok(n as usize)
  }
}

fn poll_writable(fd: BorrowedFd<'_>) -> io::Result<()> {
  let mut pfd = libc::pollfd {
    fd: fd.as_raw_fd(),
    events: libc::POLLOUT,
    revents: 0,
  };
  // SAFETY: one valid pollfd, zero timeout; `fd` is borrowed from a live socket.
  let n = unsafe { libc::poll(&mut pfd, 1, 0) };
  if n < 0 {
    return Err(io::Error::last_os_error());
  }
  if n == 0 || pfd.revents & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) == 0 {
    return Err(io::ErrorKind::WouldBlock.into());
  }
  Ok(())
}

thread_local! {
  /// One read buffer for every connection on the I/O thread: an idle connection owns none.
  static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_SIZE]);
}

/// What the task knows that no other thread needs.
struct TaskState {
  paused: bool,
  /// The peer sent FIN (or reading was shut down).
  read_done: bool,
  /// We sent FIN.
  write_done: bool,
  want_drain: bool,
  /// TLS records (handshake, alerts) wait for the kernel.
  tls_backlog: bool,
  deadline: Option<Instant>,
  /// Closing by `terminate()`: no FIN, the close resets.
  reset: bool,
  /// `end()` waits for pending writes, then closes.
  end_after_drain: bool,
  /// `shutdown()` half-closed us: the peer's FIN then closes without an `end` event, as in Bun.
  quiet_eof: bool,
}

enum Step {
  Continue,
  Finish(Option<SocketError>),
}

async fn run(conn: Arc<Conn>) {
  let mut st = TaskState {
    paused: false,
    read_done: false,
    write_done: false,
    want_drain: false,
    tls_backlog: false,
    deadline: None,
    reset: false,
    end_after_drain: false,
    quiet_eof: false,
  };
  let outcome = loop {
    if let Step::Finish(err) = apply_signals(&conn, &mut st) {
      break err;
    }
    let can_read = !st.paused
      && !st.read_done
      && conn.in_flight.load(Ordering::Acquire) < CREDIT
      && !conn.secure().is_some_and(Secure::is_pending);
    let deadline = st.deadline;
    let step = tokio::select! {
      biased;
      _ = conn.wake.notified() => Step::Continue,
      ready = conn.stream.readable(), if can_read => match ready {
        Ok(()) => read_available(&conn, &mut st),
        Err(err) => Step::Finish(Some(SocketError::os(Syscall::Read, &err, ErrorTarget::default()))),
      },
      ready = drained(&conn.stream), if st.want_drain || st.tls_backlog => on_writable(&conn, &mut st, ready),
      _ = sleep_until(deadline), if deadline.is_some() => {
        st.deadline = None;
        conn.emit(Event::Timeout);
        Step::Continue
      },
    };
    if let Step::Finish(err) = step {
      break err;
    }
  };
  finish(&conn, outcome, st.reset);
}

fn apply_signals(conn: &Conn, st: &mut TaskState) -> Step {
  let sig = conn.signals.swap(0, Ordering::AcqRel);
  if sig == 0 {
    return Step::Continue;
  }
  if sig & SIG_TERMINATE != 0 {
    // A zero linger turns close(2) into a reset, as Bun's terminate() does.
    let _ = conn.stream.sock().set_linger(Some(Duration::ZERO));
    st.reset = true;
    return Step::Finish(None);
  }
  if sig & SIG_CLOSE != 0 {
    return Step::Finish(None);
  }
  if sig & SIG_SHUTDOWN_WRITE != 0 {
    st.write_done = true;
    st.quiet_eof = true;
  }
  if sig & SIG_DRAIN != 0 {
    st.want_drain = true;
  }
  if sig & SIG_START_TLS != 0 {
    if let Some(secure) = conn.secure() {
      match secure.start(conn.fd()) {
        Ok(notes) => notes.into_iter().for_each(|note| {
          conn.emit(Event::Tls(note));
        }),
        Err(err) => return handshake_failed(conn, err),
      }
      st.tls_backlog = !secure.flush(conn.fd());
    }
  }
  if sig & SIG_END != 0 {
    if !st.want_drain && !conn.drain_requested.load(Ordering::Acquire) {
      return Step::Finish(None);
    }
    st.want_drain = true;
    st.end_after_drain = true;
  }
  if sig & SIG_PAUSE != 0 {
    st.paused = true;
  }
  if sig & SIG_RESUME != 0 {
    st.paused = false;
  }
  if sig & SIG_TIMEOUT != 0 {
    let ms = conn.timeout_ms.load(Ordering::Relaxed);
    st.deadline = (ms > 0).then(|| Instant::now() + Duration::from_millis(ms));
  }
  Step::Continue
}

/// Reads until the socket is drained or the credit is spent.
fn read_available(conn: &Arc<Conn>, st: &mut TaskState) -> Step {
  while conn.in_flight.load(Ordering::Acquire) < CREDIT {
    // Checked per read: upgradeTLS can make the connection secure between two reads.
    let secure = conn.secure().is_some();
    // TLS records go to rustls straight from the scratch buffer; plain bytes become the chunk.
    let read = SCRATCH.with(|scratch| {
      let mut scratch = scratch.borrow_mut();
      let (n, drained) = conn.stream.read_chunk(&mut scratch)?;
      let got = match n {
        0 => Got::Eof,
        _ if secure => Got::Step(on_records(conn, st, &scratch[..n])),
        _ => Got::Chunk(scratch[..n].to_vec()),
      };
      Ok::<_, io::Error>((got, drained))
    });
    match read {
      Ok((Got::Eof, _)) => return on_eof(conn, st),
      Ok((Got::Step(Step::Finish(err)), _)) => return Step::Finish(err),
      Ok((Got::Step(Step::Continue), drained)) => {
        if drained {
          return Step::Continue;
        }
      }
      Ok((Got::Chunk(chunk), drained)) => {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        if !conn.emit(Event::Data(chunk, Credit::new(conn.clone()))) {
          conn.state.fetch_or(SILENT, Ordering::AcqRel);
          return Step::Finish(None);
        }
        if drained {
          return Step::Continue;
        }
      }
      Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Step::Continue,
      Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
      Err(err) => return Step::Finish(Some(SocketError::os(Syscall::Read, &err, ErrorTarget::default()))),
    }
  }
  Step::Continue
}

/// What one read gave.
enum Got {
  Eof,
  Chunk(Vec<u8>),
  /// TLS records, already handled.
  Step(Step),
}

/// TLS records arrived: report the handshake's end, then the plaintext they carried, then a
/// failure or the peer's close_notify.
fn on_records(conn: &Arc<Conn>, st: &mut TaskState, records: &[u8]) -> Step {
  let Some(secure) = conn.secure() else {
    return Step::Continue;
  };
  let was_handshaking = secure.is_handshaking();
  if secure.is_tapped() {
    conn.in_flight.fetch_add(1, Ordering::AcqRel);
    conn.emit(Event::Records(records.to_vec(), Credit::new(conn.clone())));
  }
  let mut plain = Vec::new();
  let fed = secure.feed(records, &mut plain, conn.fd());
  st.tls_backlog |= fed.backlog;
  if let Some(outcome) = fed.handshake {
    let close = outcome.close;
    if close {
      // Bun's socket is already closed inside that `handshake` callback.
      conn.state.fetch_or(WRITE_CLOSED, Ordering::AcqRel);
    }
    conn.emit(Event::Handshake(outcome));
    if close {
      return Step::Finish(None);
    }
  }
  for note in fed.notes {
    conn.emit(Event::Tls(note));
  }
  if !plain.is_empty() {
    conn.in_flight.fetch_add(1, Ordering::AcqRel);
    if !conn.emit(Event::Data(plain, Credit::new(conn.clone()))) {
      conn.state.fetch_or(SILENT, Ordering::AcqRel);
      return Step::Finish(None);
    }
  }
  if let Some(err) = fed.failure {
    if was_handshaking {
      return handshake_failed(conn, err);
    }
    // An established session failed: `error`, then `close`, as in Bun.
    conn.state.fetch_or(WRITE_CLOSED, Ordering::AcqRel);
    conn.emit(Event::Error(err));
    return Step::Finish(None);
  }
  if fed.closed {
    return on_eof(conn, st);
  }
  Step::Continue
}

/// Reports a failed handshake, then closes: already closed for writes inside the handler, as
/// in Bun.
fn handshake_failed(conn: &Conn, err: SocketError) -> Step {
  conn.state.fetch_or(WRITE_CLOSED, Ordering::AcqRel);
  conn.emit(Event::Handshake(HandshakeOutcome {
    success: false,
    error: Some(err),
    close: true,
  }));
  Step::Finish(None)
}

/// The socket takes writes again: send waiting TLS records, then report `drain` (or close,
/// for an `end()` that waited) once nothing is left.
fn on_writable(conn: &Conn, st: &mut TaskState, ready: io::Result<()>) -> Step {
  if ready.is_ok() {
    if let Some(secure) = conn.secure() {
      if !secure.flush(conn.fd()) {
        return Step::Continue;
      }
    }
  }
  st.tls_backlog = false;
  if !st.want_drain {
    return Step::Continue;
  }
  st.want_drain = false;
  conn.drain_requested.store(false, Ordering::Release);
  match ready {
    Ok(()) if st.end_after_drain => Step::Finish(None),
    Ok(()) => {
      conn.emit(Event::Drain);
      Step::Continue
    }
    Err(_) => Step::Continue,
  }
}

/// The peer sent FIN. Report `end`; without `allowHalfOpen` the JS side closes after the
/// handler ran (writes made inside it still go out). Already half-closed: close now. A TLS
/// handshake cut short fails instead.
fn on_eof(conn: &Conn, st: &mut TaskState) -> Step {
  if let Some(secure) = conn
    .secure()
    .filter(|secure| secure.is_handshaking() || secure.is_pending())
  {
    secure.fail();
    return handshake_failed(conn, crate::net::tls::disconnected_error());
  }
  st.read_done = true;
  if st.quiet_eof {
    return Step::Finish(None);
  }
  conn.emit(Event::End);
  if st.write_done {
    return Step::Finish(None);
  }
  Step::Continue
}

// The rarely armed waits live on the heap, allocated when first polled: inline they would
// enlarge every connection's task, idle or not.

async fn sleep_until(deadline: Option<Instant>) {
  match deadline {
    Some(at) => Box::pin(tokio::time::sleep_until(at)).await,
    None => std::future::pending().await,
  }
}

async fn drained(stream: &Stream) -> io::Result<()> {
  Box::pin(stream.writable()).await
}

/// The socket's last events. The descriptor itself closes when the JS side lets go of the
/// connection after `close`, so send FIN now rather than then.
fn finish(conn: &Conn, err: Option<SocketError>, reset: bool) {
  let state = conn.state.fetch_or(WRITE_CLOSED | CLOSED, Ordering::AcqRel);
  if !reset {
    if let Some(secure) = conn.secure() {
      if secure.is_established() {
        secure.close_notify(conn.fd());
      } else {
        // A failed handshake's alert.
        secure.flush(conn.fd());
      }
    }
    let _ = conn.stream.sock().shutdown(std::net::Shutdown::Write);
  }
  // A read failure reaches only `close(socket, error)`, as in Bun.
  if state & SILENT == 0 {
    conn.emit(Event::Close(err));
  }
}
