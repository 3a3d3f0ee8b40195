//! A listening socket and its accept loop on the I/O thread.
//!
//! `stop()` runs on the JS thread and closes the descriptor at once (the port is free when it
//! returns); the accept loop notices and ends.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Notify;

use crate::error::SocketError;
use crate::net::conn::{Conn, Stream};
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

enum Acceptor {
  Tcp(TcpListener),
  Unix(UnixListener),
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
    let (acceptor, local) = match bound {
      BoundListener::Tcp(std) => {
        let local = std.local_addr().ok();
        (
          Acceptor::Tcp(TcpListener::from_std(std).map_err(register_err)?),
          local,
        )
      }
      BoundListener::Unix(std) => (
        Acceptor::Unix(UnixListener::from_std(std).map_err(register_err)?),
        None,
      ),
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
    use std::os::fd::AsRawFd;
    match self.lock().as_ref() {
      Some(Acceptor::Tcp(l)) => l.as_raw_fd(),
      Some(Acceptor::Unix(l)) => l.as_raw_fd(),
      None => -1,
    }
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

  fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Stream>>> {
    match self.lock().as_ref() {
      None => Poll::Ready(None),
      Some(Acceptor::Tcp(l)) => l.poll_accept(cx).map(|r| {
        Some(r.map(|(stream, _)| {
          let _ = stream.set_nodelay(true);
          Stream::Tcp(stream)
        }))
      }),
      Some(Acceptor::Unix(l)) => l
        .poll_accept(cx)
        .map(|r| Some(r.map(|(stream, _)| Stream::Unix(stream)))),
    }
  }
}

async fn run(listener: Arc<Listener>) {
  loop {
    let accepted = tokio::select! {
      biased;
      _ = listener.stopped.notified() => None,
      accepted = poll_fn(|cx| listener.poll_accept(cx)) => accepted,
    };
    match accepted {
      None => return,
      Some(Ok(stream)) => {
        let conn = Conn::new(next_id(), listener.reporter.sink.clone(), stream);
        if let Some(tls) = &listener.tls {
          match Secure::server(tls.clone()) {
            Ok(secure) => conn.set_secure(Box::new(secure)),
            // Cannot happen with a config that built; the connection just closes.
            Err(_) => continue,
          };
        }
        if !listener.reporter.emit(Event::Accept(conn.clone())) {
          return;
        }
        conn.start();
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
