//! A listening socket and its accept loop on the I/O thread.
//!
//! `stop()` runs on the JS thread and closes the descriptor at once (the port is free when it
//! returns); the accept loop notices and ends.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::Notify;

use crate::error::SocketError;
use crate::net::conn::{Conn, Kind};
use crate::net::secure::Secure;
use crate::net::tcp::{self, BoundListener, ListenConfig};
use crate::net::tls::ServerTls;
use crate::net::{next_id, Event, EventSink, Reporter, Target};

/// Pause after the process ran out of descriptors, instead of spinning on accept.
const EMFILE_BACKOFF: Duration = Duration::from_millis(50);

pub struct Listener {
  reporter: Reporter,
  acceptor: Mutex<Option<Acceptor>>,
  stopped: Notify,
  local: Option<SocketAddr>,
  unix_path: Option<PathBuf>,
  /// Accepted connections speak TLS with this.
  tls: Option<Arc<ServerTls>>,
}

/// The listening socket, registered for readability only. Accepted sockets are not registered
/// here: their reader does that (the JS thread for plain sockets, the TLS task otherwise).
struct Acceptor {
  socket: AsyncFd<Socket>,
  kind: Kind,
}

impl Listener {
  /// Binds now and starts accepting on the I/O thread.
  pub fn bind(
    id: crate::net::HandleId,
    sink: Arc<dyn EventSink>,
    config: &ListenConfig,
    tls: Option<Arc<ServerTls>>,
  ) -> Result<Arc<Listener>, SocketError> {
    let bound = tcp::bind(config)?;
    let _runtime = crate::runtime::handle().enter();
    let target = config.target.error_target();
    let register_err = |err: io::Error| SocketError::os(crate::error::Syscall::Listen, &err, target.clone());
    let (socket, kind, local) = match bound {
      BoundListener::Tcp(std) => {
        let local = std.local_addr().ok();
        (Socket::from(std), Kind::Tcp, local)
      }
      BoundListener::Unix(std) => (Socket::from(std), Kind::Unix, None),
    };
    // SAFETY: `socket` owns its descriptor, which closes only when the `AsyncFd` drops it.
    let registered = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) };
    let acceptor = Acceptor {
      socket: registered.map_err(|err| register_err(io::Error::from(err)))?,
      kind,
    };
    let unix_path = match &config.target {
      Target::Unix(path) => Some(path.clone()),
      Target::Tcp { .. } => None,
    };
    let listener = Arc::new(Listener {
      reporter: Reporter { id, sink },
      acceptor: Mutex::new(Some(acceptor)),
      stopped: Notify::new(),
      local,
      unix_path,
      tls,
    });
    crate::runtime::handle().spawn(run(listener.clone()));
    Ok(listener)
  }

  pub fn local_addr(&self) -> Option<SocketAddr> {
    self.local
  }

  /// The listening descriptor, or -1 once stopped.
  pub fn fd(&self) -> i32 {
    self
      .lock()
      .as_ref()
      .map_or(-1, |acceptor| acceptor.socket.as_raw_fd())
  }

  pub fn is_listening(&self) -> bool {
    self.lock().is_some()
  }

  /// Closes the listening socket now; connections already accepted stay open.
  pub fn stop(&self) {
    let was = self.lock().take();
    if was.is_some() {
      if let Some(path) = &self.unix_path {
        let _ = std::fs::remove_file(path);
      }
    }
    drop(was);
    self.stopped.notify_one();
  }

  fn lock(&self) -> MutexGuard<'_, Option<Acceptor>> {
    // Only a panic inside `poll_accept` could poison this; the data stays consistent.
    self
      .acceptor
      .lock()
      .unwrap_or_else(|poisoned| poisoned.into_inner())
  }

  fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<Option<io::Result<(Socket, Kind)>>> {
    let guard = self.lock();
    let Some(acceptor) = guard.as_ref() else {
      return Poll::Ready(None);
    };
    loop {
      let mut ready = match acceptor.socket.poll_read_ready(cx) {
        Poll::Ready(Ok(ready)) => ready,
        Poll::Ready(Err(err)) => return Poll::Ready(Some(Err(err))),
        Poll::Pending => return Poll::Pending,
      };
      match ready.try_io(|socket| accept(socket.get_ref())) {
        Ok(Ok(socket)) => {
          if acceptor.kind == Kind::Tcp {
            let _ = socket.set_tcp_nodelay(true);
          }
          return Poll::Ready(Some(Ok((socket, acceptor.kind))));
        }
        Ok(Err(err)) => return Poll::Ready(Some(Err(err))),
        // Not ready after all: readiness was cleared; poll again.
        Err(_would_block) => continue,
      }
    }
  }
}

/// accept4(2): the new socket comes non-blocking and close-on-exec in one call.
#[cfg(all(
  any(target_os = "linux", target_os = "android"),
  not(feature = "portable-fallbacks")
))]
fn accept(listener: &Socket) -> io::Result<Socket> {
  use std::os::fd::FromRawFd;
  loop {
    // SAFETY: a listening socket we own; null address arguments are allowed.
    let fd = unsafe {
      libc::accept4(
        listener.as_raw_fd(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
      )
    };
    if fd >= 0 {
      // SAFETY: accept4 returned a new descriptor that nothing else owns.
      return Ok(unsafe { Socket::from_raw_fd(fd) });
    }
    let err = io::Error::last_os_error();
    if err.kind() != io::ErrorKind::Interrupted {
      return Err(err);
    }
  }
}

/// accept(2), then non-blocking and close-on-exec (and no SIGPIPE on Apple's systems), where
/// accept4 is missing, and on Linux with the `portable-fallbacks` feature. A fork on another
/// thread between the calls could inherit the descriptor, as with libuv on those systems.
#[cfg(any(
  not(any(target_os = "linux", target_os = "android")),
  feature = "portable-fallbacks"
))]
fn accept(listener: &Socket) -> io::Result<Socket> {
  let socket = loop {
    match listener.accept_raw() {
      Ok((socket, _)) => break socket,
      Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
      Err(err) => return Err(err),
    }
  };
  socket.set_cloexec(true)?;
  socket.set_nonblocking(true)?;
  #[cfg(target_vendor = "apple")]
  socket.set_nosigpipe(true)?;
  Ok(socket)
}

async fn run(listener: Arc<Listener>) {
  // A listener that cannot accept any more refuses connections rather than leave them waiting.
  let owner = listener.clone();
  let _stops = crate::net::OnPanic::new(move || owner.stop());
  loop {
    let accepted = tokio::select! {
      biased;
      _ = listener.stopped.notified() => None,
      accepted = poll_fn(|cx| listener.poll_accept(cx)) => accepted,
    };
    match accepted {
      None => return,
      Some(Ok((socket, kind))) => {
        let conn = Conn::new(next_id(), listener.reporter.sink.clone(), socket, kind);
        // Decided before `Accept` is out: JS may upgradeTLS() a plain one (which starts its
        // task) before this thread goes on.
        let is_tls = match &listener.tls {
          Some(tls) => match Secure::server(tls.clone()) {
            Ok(secure) => conn.set_secure(Box::new(secure)),
            // Cannot happen with a config that built; the connection just closes.
            Err(_) => continue,
          },
          None => false,
        };
        crate::runtime::note_activity();
        if !listener.reporter.emit(Event::Accept(conn.clone())) {
          return;
        }
        if is_tls {
          conn.start_task();
        }
      }
      Some(Err(err))
        if matches!(
          err.raw_os_error(),
          Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        ) =>
      {
        tokio::time::sleep(EMFILE_BACKOFF).await;
      }
      // A connection that died in the backlog (ECONNABORTED…) concerns no one.
      Some(Err(_)) => {}
    }
  }
}
