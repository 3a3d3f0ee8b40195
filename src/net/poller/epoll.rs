//! Linux: the plain sockets one thread reads, in an epoll set the owner waits on (nested in
//! libuv's loop in the addon).
//!
//! Level-triggered: a socket left with bytes (paused, or its turn's reads spent) is reported
//! again on the next wait, and a reset (EPOLLERR/EPOLLHUP) is reported whatever the interest,
//! as Bun notices one while paused.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::Arc;

use socket2::Socket;

use crate::net::conn::{Conn, Ready};
use crate::net::HandleId;

/// The set is a descriptor its owner waits on.
pub const NESTED: bool = true;

/// Sockets in the set, each with a value of the owner's (where its events go).
pub struct Poller<T> {
  epoll: OwnedFd,
  entries: HashMap<HandleId, Entry<T>>,
}

struct Entry<T> {
  conn: Arc<Conn>,
  value: T,
  /// The epoll events registered now.
  events: u32,
}

impl<T: Clone> Poller<T> {
  pub fn new() -> io::Result<Poller<T>> {
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
      return Err(io::Error::last_os_error());
    }
    Ok(Poller {
      // SAFETY: a new descriptor nothing else owns.
      epoll: unsafe { OwnedFd::from_raw_fd(fd) },
      entries: HashMap::new(),
    })
  }

  /// The set's descriptor: readable when a socket in it is ready.
  pub fn fd(&self) -> Option<RawFd> {
    Some(self.raw_fd())
  }

  /// Nothing to do: the owner learns of ready sockets through `fd`.
  pub fn set_waker(&mut self, _waker: Box<dyn Fn() + Send + Sync>) {}

  fn raw_fd(&self) -> RawFd {
    self.epoll.as_raw_fd()
  }

  /// Starts watching `conn`, whose events go to `value`.
  pub fn add(&mut self, conn: &Arc<Conn>, value: T) -> io::Result<()> {
    let events = interest(conn);
    self.ctl(libc::EPOLL_CTL_ADD, conn, events)?;
    self.entries.insert(
      conn.id(),
      Entry {
        conn: conn.clone(),
        value,
        events,
      },
    );
    Ok(())
  }

  /// Brings a socket's registration in line with its state (after pause, resume, a short
  /// write, end or shutdown); removes it once it is no longer ours to read.
  pub fn update(&mut self, id: HandleId) {
    let Some(entry) = self.entries.get(&id) else {
      return;
    };
    if entry.conn.wants().is_none() {
      return self.remove(id);
    }
    let events = interest(&entry.conn);
    if events == entry.events {
      return;
    }
    let conn = entry.conn.clone();
    if self.ctl(libc::EPOLL_CTL_MOD, &conn, events).is_ok() {
      if let Some(entry) = self.entries.get_mut(&id) {
        entry.events = events;
      }
    }
  }

  /// The owner served a socket `ready` reported; `left` is what its turn did not use up (the
  /// level-triggered set reports that again by itself).
  pub fn served(&mut self, id: HandleId, _left: Ready) {
    self.update(id);
  }

  /// Stops watching a socket (closed, or handed to its TLS task).
  pub fn remove(&mut self, id: HandleId) {
    let Some(entry) = self.entries.remove(&id) else {
      return;
    };
    // A closed socket already left the set with its descriptor.
    if entry.conn.fd() >= 0 {
      // SAFETY: both descriptors are live.
      unsafe {
        libc::epoll_ctl(
          self.raw_fd(),
          libc::EPOLL_CTL_DEL,
          entry.conn.raw_fd(),
          ptr::null_mut(),
        )
      };
    }
  }

  /// Empties the set, handing back what was in it.
  pub fn drain(&mut self) -> Vec<Arc<Conn>> {
    let conns: Vec<_> = self.entries.drain().map(|(_, entry)| entry.conn).collect();
    for conn in &conns {
      if conn.fd() >= 0 {
        // SAFETY: both descriptors are live.
        unsafe { libc::epoll_ctl(self.raw_fd(), libc::EPOLL_CTL_DEL, conn.raw_fd(), ptr::null_mut()) };
      }
    }
    conns
  }

  /// Appends the sockets that are ready now (waiting up to `timeout_ms`; 0 does not wait),
  /// with their values.
  pub fn ready(&mut self, timeout_ms: i32, out: &mut Vec<(Arc<Conn>, T, Ready)>) {
    const EVENTS: usize = 64;
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    // SAFETY: `events` holds EVENTS entries.
    let n = unsafe { libc::epoll_wait(self.raw_fd(), events.as_mut_ptr(), EVENTS as i32, timeout_ms) };
    for event in events.iter().take(n.max(0) as usize) {
      let flags = event.events;
      if let Some(entry) = self.entries.get(&(event.u64 as HandleId)) {
        out.push((
          entry.conn.clone(),
          entry.value.clone(),
          Ready {
            readable: flags & libc::EPOLLIN as u32 != 0,
            writable: flags & libc::EPOLLOUT as u32 != 0,
            failed: flags & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0,
          },
        ));
      }
    }
  }

  fn ctl(&self, op: i32, conn: &Conn, events: u32) -> io::Result<()> {
    let mut event = libc::epoll_event {
      events,
      u64: u64::from(conn.id()),
    };
    // SAFETY: both descriptors are live (the socket while it is in the set).
    if unsafe { libc::epoll_ctl(self.raw_fd(), op, conn.raw_fd(), &mut event) } != 0 {
      return Err(io::Error::last_os_error());
    }
    Ok(())
  }
}

/// The epoll events for what `conn` wants now.
fn interest(conn: &Conn) -> u32 {
  let wants = conn.wants().unwrap_or_default();
  let mut events = 0;
  if wants.read {
    events |= libc::EPOLLIN as u32;
  }
  if wants.write {
    events |= libc::EPOLLOUT as u32;
  }
  events
}

/// Who closes a plain socket's descriptor: whoever closes the socket. Closing it takes it out of
/// the epoll set too.
pub struct Lease;

impl Lease {
  pub(crate) fn new() -> Lease {
    Lease
  }

  /// Closes `sock` (the closer already read away what it held, if it was to).
  pub fn close(&mut self, sock: Socket, _discard: bool) {
    drop(sock);
  }
}

/// Nothing to wait for: only the set holds a plain socket's descriptor, and leaving it is
/// immediate.
pub async fn released(_conn: &Conn) {}
