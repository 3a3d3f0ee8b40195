//! A TLS connection's task on the I/O thread: it reads records, drives the handshake, decrypts,
//! sends what the session must answer and the records `write` left waiting, and closes.
//!
//! The task is the only code that reads or closes a TLS socket, and the only one that registers
//! its descriptor with tokio. JS's requests (`Conn::request`) are applied in the order they were
//! made, before each wait; the phase in `Core` says what is left to do. Decrypted bytes go to JS
//! with a credit each, so at most `CREDIT` chunks are in flight.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::Instant;

use crate::error::{ErrorTarget, SocketError, Syscall};
use crate::net::conn::{recv, After, Conn, Phase, Request, CREDIT};
use crate::net::timer::Owner;
use crate::net::tls::HandshakeOutcome;
use crate::net::{Credit, Event, OnPanic};

/// Bytes read per syscall. Node reads 64 KiB too; larger reads did not raise loopback throughput.
const READ_SIZE: usize = 64 * 1024;

/// How long a closed TLS socket keeps trying to send its last records to a peer that does not
/// read, before it gives up and closes anyway.
const LINGER: Duration = Duration::from_secs(10);

thread_local! {
  /// One read buffer for every connection on the I/O thread: an idle connection owns none.
  static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_SIZE]);
}

/// The descriptor as tokio sees it; `Core` owns (and closes) the socket itself.
struct FdRef(RawFd);

impl AsRawFd for FdRef {
  fn as_raw_fd(&self) -> RawFd {
    self.0
  }
}

/// How the task ends.
struct Finish {
  err: Option<SocketError>,
  /// Report `close` (the core closed it); JS reported it already when it closed.
  report: bool,
  reset: bool,
}

impl Finish {
  fn reported(err: Option<SocketError>) -> Finish {
    Finish {
      err,
      report: true,
      reset: false,
    }
  }

  fn silent(reset: bool) -> Finish {
    Finish {
      err: None,
      report: false,
      reset,
    }
  }
}

/// What only the task knows.
#[derive(Default)]
struct Task {
  /// The peer's FIN (or close_notify) was seen.
  read_done: bool,
  /// close_notify went out.
  notified: bool,
  /// When a closed socket stops trying to flush.
  linger_until: Option<Instant>,
}

pub async fn run(conn: Arc<Conn>) {
  let owner = conn.clone();
  let _closes = OnPanic::new(move || {
    let silent = matches!(owner.lock().phase, Phase::Flushing(After::Close) | Phase::Closed);
    owner.lock().close_now(true);
    if !silent {
      owner.emit(Event::Close(Some(SocketError::Internal)));
    }
  });
  // After an upgradeTLS, the portable reader's watcher may still have the descriptor registered
  // with tokio (epoll's set never has).
  crate::net::poller::released(&conn).await;
  // SAFETY: the descriptor stays open while `io` lives: only this task closes a TLS socket, and
  // `finish` drops `io` first.
  let registered =
    unsafe { AsyncFd::register_with_interest(FdRef(conn.raw_fd()), Interest::READABLE | Interest::WRITABLE) };
  let io = match registered {
    Ok(io) => io,
    Err(err) => {
      let err = io::Error::from(err);
      let err = SocketError::os(Syscall::Read, &err, ErrorTarget::default());
      return finish(&conn, None, Finish::reported(Some(err))).await;
    }
  };
  let mut task = Task::default();
  let end = loop {
    if let Some(end) = apply_requests(&conn, &mut task) {
      break end;
    }
    if let Some(end) = advance(&conn, &mut task) {
      break end;
    }
    let (read, watch, write) = waits(&conn, &task);
    let linger = task.linger_until;
    let step = tokio::select! {
      biased;
      _ = conn.wake.notified() => None,
      ready = io.readable(), if read => match ready {
        Ok(mut guard) => read_available(&conn, &mut task, &mut guard),
        Err(err) => Some(Finish::reported(Some(SocketError::os(Syscall::Read, &err, ErrorTarget::default())))),
      },
      // Paused or half-open: only a reset is reported, after the data ahead of it, as in Bun.
      // (Readable readiness would not do: tokio never clears a read-closed one.)
      ready = io.ready(Interest::ERROR), if watch => match ready {
        Ok(mut guard) => {
          let end = read_all(&conn, &mut task);
          if end.is_none() {
            // A readiness with no error behind it: wait for the next one.
            guard.clear_ready();
          }
          end
        }
        Err(err) => Some(Finish::reported(Some(SocketError::os(Syscall::Read, &err, ErrorTarget::default())))),
      },
      ready = io.writable(), if write => match ready {
        Ok(mut guard) => {
          if !flush(&conn) {
            guard.clear_ready();
          }
          None
        }
        Err(_) => None,
      },
      _ = sleep_until(linger), if linger.is_some() => Some(Finish::silent(false)),
    };
    if let Some(end) = step {
      break end;
    }
  };
  finish(&conn, Some(io), end).await;
}

/// JS's requests, in the order they were made.
fn apply_requests(conn: &Arc<Conn>, task: &mut Task) -> Option<Finish> {
  for request in conn.take_requests() {
    let Some(secure) = conn.secure() else {
      continue;
    };
    match request {
      Request::StartTls => {
        match conn.with_socket(|sock| secure.start(sock)) {
          Some(Ok(notes)) => {
            for note in notes {
              conn.emit(Event::Tls(note));
            }
          }
          Some(Err(err)) => return Some(handshake_failed(conn, err)),
          None => continue,
        }
        flush(conn);
      }
      Request::Feed(bytes) => {
        // Bytes the old socket read (upgradeTLS's initialData): its handlers already saw them.
        if let Some(end) = on_records(conn, task, &bytes, false) {
          return Some(end);
        }
      }
      Request::Reset => return Some(Finish::silent(true)),
      // The phase JS set says what to do; these only wake the task.
      Request::HalfClose | Request::Close | Request::ShutdownRead => {}
    }
  }
  None
}

/// Moves a closing phase on once the accepted records are out.
fn advance(conn: &Conn, task: &mut Task) -> Option<Finish> {
  let phase = conn.lock().phase;
  match phase {
    Phase::Flushing(_) | Phase::Ending if flush(conn) => {
      send_close_notify(conn, task);
      match phase {
        Phase::Flushing(After::HalfClose) => {
          let mut core = conn.lock();
          if let Some(sock) = &core.sock {
            let _ = sock.shutdown(std::net::Shutdown::Write);
          }
          if task.read_done {
            return Some(Finish::reported(None));
          }
          core.phase = Phase::WriteClosed;
          None
        }
        Phase::Flushing(After::Close) => Some(Finish::silent(false)),
        // `end()` returned false: `close` is ours to report.
        _ => Some(Finish::reported(None)),
      }
    }
    Phase::Flushing(_) | Phase::Ending => {
      if task.linger_until.is_none() {
        task.linger_until = Some(Instant::now() + LINGER);
      }
      None
    }
    Phase::Closed => Some(Finish::silent(false)),
    _ => None,
  }
}

/// (read, watch for a reset only, wait for writability).
fn waits(conn: &Conn, task: &Task) -> (bool, bool, bool) {
  let core = conn.lock();
  let pending = conn.secure().is_some_and(|secure| secure.is_pending());
  let credit = conn.in_flight.load(Ordering::Acquire) < CREDIT;
  let readable_phase = !task.read_done && !matches!(core.phase, Phase::ReadClosed | Phase::Closed);
  let read = readable_phase && !core.paused && credit && !pending;
  // Paused or half-open: a reset is still noticed, as in Bun.
  let watch = !read && core.phase != Phase::Closed && !pending && (core.paused || !readable_phase);
  (read, watch, core.flush_pending || core.drain_armed)
}

/// Sends the records the session holds; true once none are left. Reports `drain` when a short
/// write was waiting for it.
fn flush(conn: &Conn) -> bool {
  let Some(secure) = conn.secure() else {
    return true;
  };
  let mut core = conn.lock();
  let Some(sock) = &core.sock else {
    return true;
  };
  if !secure.flush(sock) {
    core.flush_pending = true;
    return false;
  }
  core.flush_pending = false;
  if core.drain_armed && matches!(core.phase, Phase::Open | Phase::ReadClosed) {
    core.drain_armed = false;
    drop(core);
    conn.emit(Event::Drain);
  }
  true
}

fn send_close_notify(conn: &Conn, task: &mut Task) {
  if task.notified {
    return;
  }
  task.notified = true;
  if let Some(secure) = conn.secure().filter(|secure| secure.is_established()) {
    conn.with_socket(|sock| secure.close_notify(sock));
  }
}

/// Reads until the socket is drained or the credit is spent (or JS paused).
fn read_available(
  conn: &Arc<Conn>,
  task: &mut Task,
  guard: &mut tokio::io::unix::AsyncFdReadyGuard<'_, FdRef>,
) -> Option<Finish> {
  let more = || conn.in_flight.load(Ordering::Acquire) < CREDIT && !conn.lock().paused;
  match read_loop(conn, task, true, more) {
    Read::Finished(end) => Some(end),
    // Drained: wait for the next edge (a short read saves the read that would say EAGAIN).
    Read::Drained => {
      guard.clear_ready();
      None
    }
    Read::Stopped => None,
  }
}

/// A reset while paused or half-open: deliver what is queued ahead of it, paused or not, then
/// close with the error, as Bun does.
fn read_all(conn: &Arc<Conn>, task: &mut Task) -> Option<Finish> {
  // Until the error: short reads do not mean drained here.
  match read_loop(conn, task, false, || true) {
    Read::Finished(end) => Some(end),
    // No error came with the data: take the socket's own, or go on if there is none.
    _ => {
      let err = conn
        .lock()
        .sock
        .as_ref()
        .and_then(|sock| sock.take_error().ok().flatten())?;
      Some(Finish::reported(Some(SocketError::os(
        Syscall::Read,
        &err,
        ErrorTarget::default(),
      ))))
    }
  }
}

/// How a read loop ended.
enum Read {
  Finished(Finish),
  /// Nothing more to read now.
  Drained,
  /// `more` said stop.
  Stopped,
}

/// Reads records and feeds them to the session while `more()` (a short read ends it when
/// `short_drains`); a read error or the peer's end finishes the connection.
fn read_loop(conn: &Arc<Conn>, task: &mut Task, short_drains: bool, more: impl Fn() -> bool) -> Read {
  while more() {
    let result = SCRATCH.with(|scratch| {
      let mut scratch = scratch.borrow_mut();
      let n = read_socket(conn, &mut scratch)?;
      let fed = (n > 0).then(|| on_records(conn, task, &scratch[..n], true));
      Ok::<_, io::Error>((fed.flatten(), n))
    });
    match result {
      Ok((_, 0)) => return on_eof(conn, task).map_or(Read::Drained, Read::Finished),
      Ok((Some(end), _)) => return Read::Finished(end),
      Ok((None, n)) if short_drains && n < READ_SIZE => return Read::Drained,
      Ok((None, _)) => {}
      Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Read::Drained,
      Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
      Err(err) => {
        return Read::Finished(Finish::reported(Some(SocketError::os(
          Syscall::Read,
          &err,
          ErrorTarget::default(),
        ))))
      }
    }
  }
  Read::Stopped
}

fn read_socket(conn: &Conn, buf: &mut [u8]) -> io::Result<usize> {
  conn.with_socket(|sock| recv(sock, buf)).unwrap_or(Ok(0))
}

/// TLS records arrived: report the handshake's end, then the plaintext they carried, then a
/// failure or the peer's close_notify. `tap`: also show them to upgradeTLS's `raw` socket.
fn on_records(conn: &Arc<Conn>, task: &mut Task, records: &[u8], tap: bool) -> Option<Finish> {
  let secure = conn.secure()?;
  let silent = matches!(conn.lock().phase, Phase::Flushing(After::Close));
  let was_handshaking = secure.is_handshaking();
  if tap && secure.is_tapped() && !silent {
    conn.in_flight.fetch_add(1, Ordering::AcqRel);
    conn.emit(Event::Records(records.to_vec(), Credit::new(conn.clone())));
  }
  let mut plain = Vec::new();
  // Only this task takes a TLS connection's socket away, so it is still here (were it not,
  // there would be no one to answer).
  let fed = conn.with_socket(|sock| secure.feed(records, &mut plain, sock))?;
  if fed.backlog {
    conn.lock().flush_pending = true;
  }
  if let Some(outcome) = fed.handshake {
    let close = outcome.close;
    if close {
      // Bun's socket is already closed inside that `handshake` callback.
      conn.lock().phase = Phase::Closed;
    }
    conn.emit(Event::Handshake(outcome));
    if close {
      return Some(Finish::reported(None));
    }
  }
  for note in fed.notes {
    conn.emit(Event::Tls(note));
  }
  if !plain.is_empty() && !silent {
    conn.in_flight.fetch_add(1, Ordering::AcqRel);
    if !conn.emit(Event::Data(plain, Credit::new(conn.clone()))) {
      return Some(Finish::silent(false));
    }
  }
  if let Some(err) = fed.failure {
    if was_handshaking {
      return Some(handshake_failed(conn, err));
    }
    // An established session failed: `error`, then `close`, as in Bun.
    conn.emit(Event::Error(err));
    return Some(Finish::reported(None));
  }
  if fed.closed {
    return on_eof(conn, task);
  }
  None
}

/// Reports a failed handshake, then closes: already closed for writes inside the handler, as
/// in Bun.
fn handshake_failed(conn: &Conn, err: SocketError) -> Finish {
  conn.lock().phase = Phase::Closed;
  conn.emit(Event::Handshake(HandshakeOutcome {
    success: false,
    error: Some(err),
    close: true,
  }));
  Finish::reported(None)
}

/// The peer sent FIN (or close_notify). Report `end`; without `allowHalfOpen` the JS side
/// closes after the handler ran. Already half-closed by us: close now. A handshake cut short
/// fails instead.
fn on_eof(conn: &Conn, task: &mut Task) -> Option<Finish> {
  if let Some(secure) = conn
    .secure()
    .filter(|secure| secure.is_handshaking() || secure.is_pending())
  {
    secure.fail();
    return Some(handshake_failed(conn, crate::net::tls::disconnected_error()));
  }
  task.read_done = true;
  let mut core = conn.lock();
  match core.phase {
    Phase::Open => {
      core.phase = Phase::ReadClosed;
      drop(core);
      conn.emit(Event::End);
      None
    }
    Phase::WriteClosed => Some(Finish::reported(None)),
    // Closing anyway: the rest of the flush decides.
    _ => None,
  }
}

async fn sleep_until(deadline: Option<Instant>) {
  match deadline {
    Some(at) => Box::pin(tokio::time::sleep_until(at)).await,
    None => std::future::pending().await,
  }
}

/// Sends close_notify (unless reset), reports `close` when the core closed the socket, then
/// closes the descriptor. After a close_notify it first lingers: FIN, then reads and drops what
/// the peer still sends until its FIN. Closing at once would answer a late record (a TLS 1.3
/// server's session tickets follow the client's last flight) with a reset, and the reset drops
/// every byte we sent that the peer has not read yet.
async fn finish(conn: &Conn, io: Option<AsyncFd<FdRef>>, end: Finish) {
  let linger = {
    let mut core = conn.lock();
    let mut notified = false;
    if let (false, Some(sock), Some(secure)) = (end.reset, &core.sock, conn.secure()) {
      if secure.is_established() {
        // (Sent already when the task flushed before closing: rustls sends it once.)
        secure.close_notify(sock);
        let _ = sock.shutdown(std::net::Shutdown::Write);
        notified = true;
      } else {
        // A failed handshake's alert.
        secure.flush(sock);
      }
    }
    let silent = matches!(core.phase, Phase::Flushing(After::Close));
    core.phase = Phase::Closed;
    drop(core);
    conn.timer().clear();
    if end.report && !silent {
      conn.emit(Event::Close(end.err));
    }
    notified
  };
  if let (true, Some(io)) = (linger, &io) {
    let until = Instant::now() + LINGER;
    let drained = async {
      loop {
        let Ok(mut guard) = io.readable().await else {
          return;
        };
        let read = SCRATCH.with(|scratch| read_socket(conn, &mut scratch.borrow_mut()));
        match read {
          Ok(0) => return,
          Ok(_) => {}
          Err(err) if err.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
          Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
          Err(_) => return,
        }
      }
    };
    let _ = tokio::time::timeout_at(until, drained).await;
  }
  drop(io);
  conn.lock().close_now(end.reset);
}
