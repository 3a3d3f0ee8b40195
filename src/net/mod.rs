//! The networking core: listeners, connections and their tasks on the I/O thread.
//!
//! Never imports napi. Tasks report through an `EventSink`. The JS thread acts on a `Conn`
//! directly for what Bun answers synchronously (`write`, `end`, `pause`…) and reads plain
//! sockets itself (`Conn::read_step`); TLS sockets are read by their task, which takes JS's
//! requests in order.

pub mod addr;
pub mod conn;
pub mod listener;
pub mod poller;
pub mod secure;
pub mod secure_task;
pub mod tcp;
pub mod timer;
pub mod tls;
pub mod udp;
pub mod x509;

use std::sync::Arc;

use crate::error::SocketError;

pub use addr::Target;
pub use conn::Conn;
pub use listener::Listener;

/// Holds one of a socket's in-flight slots until JS is done with what it carries; dropping it
/// (after the handler returned) lets the socket's task read again.
pub struct Credit(Arc<dyn Creditor>, usize);

/// A socket that lends credit.
pub trait Creditor: Send + Sync + 'static {
  /// One slot came back, with the amount (bytes) it stood for.
  fn credit_returned(&self, amount: usize);
}

impl Credit {
  pub fn new(owner: Arc<dyn Creditor>) -> Credit {
    Credit::with_amount(owner, 0)
  }

  pub fn with_amount(owner: Arc<dyn Creditor>, amount: usize) -> Credit {
    Credit(owner, amount)
  }
}

impl Drop for Credit {
  fn drop(&mut self) {
    self.0.credit_returned(self.1);
  }
}

/// Names a socket or listener across the thread boundary; JS keeps the objects, keyed by it.
pub type HandleId = u32;

/// What a task reports. Variants mirror Bun's handler names, in Bun's order.
pub enum Event {
  /// A client connection is up (or was reset at once: `Close` follows).
  Open(Arc<Conn>),
  /// A listener accepted `Conn` (reported on the listener's id).
  Accept(Arc<Conn>),
  /// A chunk, with the credit it holds until the `data` handler has returned.
  Data(Vec<u8>, Credit),
  Drain,
  /// The peer finished sending.
  End,
  /// The socket is closed; no more events for it.
  Close(Option<SocketError>),
  Error(SocketError),
  /// A connect failed; `Close` does not follow.
  ConnectError(SocketError),
  Timeout,
  /// UDP: datagrams from one receive call, with the credit they hold.
  Datagrams(udp::Batch, Credit),
  /// UDP: a socket whose names were resolved is bound (and connected); a failure is
  /// `ConnectError` instead.
  Bound(Arc<udp::Udp>),
  /// TLS records as read, for the `raw` socket `upgradeTLS` returns.
  Records(Vec<u8>, Credit),
  /// A TLS handshake ended (or failed, then `Close` follows).
  Handshake(tls::HandshakeOutcome),
  /// A key log line, a client session, or a server's ClientHello for JS to choose.
  Tls(tls::TlsNote),
}

/// Where events go: to JS in the addon, to a channel in tests.
pub trait EventSink: Send + Sync + 'static {
  /// False when nobody will ever receive events again (the environment ended).
  fn emit(&self, id: HandleId, event: Event) -> bool;
}

/// The sink a handle reports to, with its id.
#[derive(Clone)]
pub struct Reporter {
  pub id: HandleId,
  pub sink: Arc<dyn EventSink>,
}

impl Reporter {
  pub fn emit(&self, event: Event) -> bool {
    self.sink.emit(self.id, event)
  }
}

/// Runs its closure if dropped while the thread panics: a task that panicked closes what it
/// owned and says so, instead of leaving a socket that never answers.
pub(crate) struct OnPanic<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> OnPanic<F> {
  pub(crate) fn new(f: F) -> OnPanic<F> {
    OnPanic(Some(f))
  }

  /// The task got past the point where a panic would leave something unanswered.
  pub(crate) fn disarm(mut self) {
    self.0 = None;
  }
}

impl<F: FnOnce()> Drop for OnPanic<F> {
  fn drop(&mut self) {
    if std::thread::panicking() {
      if let Some(f) = self.0.take() {
        f();
      }
    }
  }
}

static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// A process-wide unique handle id (ids of every environment share one space).
pub fn next_id() -> HandleId {
  NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What a zero-timeout poll(2) for writing reports on `fd`: `None` when nothing is ready,
/// else the revents (POLLOUT, or POLLERR/POLLHUP for a failed socket).
pub(crate) fn poll_writable(fd: std::os::fd::RawFd) -> Option<libc::c_short> {
  let mut pfd = libc::pollfd {
    fd,
    events: libc::POLLOUT,
    revents: 0,
  };
  // SAFETY: one valid pollfd, zero timeout. The callers' descriptors are open (a socket closed
  // meanwhile gives a wrong answer at worst, which its caller ignores on a closed socket).
  (unsafe { libc::poll(&mut pfd, 1, 0) } > 0).then_some(pfd.revents)
}

/// True when the kernel takes writes on `fd` now.
pub(crate) fn writable_now(fd: std::os::fd::RawFd) -> bool {
  poll_writable(fd).is_some_and(|revents| revents & libc::POLLOUT != 0)
}

#[cfg(test)]
mod tests;
