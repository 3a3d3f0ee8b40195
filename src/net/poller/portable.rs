//! Where epoll is missing (and on Linux with the `portable-fallbacks` feature): the I/O thread
//! waits for each plain socket through tokio (kqueue on macOS and the BSDs) and queues what is
//! ready for the owner, who serves it on its own thread with the same `serve` as the epoll set.
//!
//! One watcher task per socket reports each readiness tokio sees (edge-triggered) and clears it
//! at once, so the owner never has to tell the I/O thread it is done: what a turn leaves
//! (paused, or its reads spent) the owner keeps (`pending`) and serves again by itself once the
//! socket can use it, as a level-triggered set would report it again. The end of either
//! direction is final (tokio never clears it): reported once, the owner keeps it for good, so
//! the peer's FIN is read even after a short read that took the last bytes ahead of it. The
//! watcher waits for what the socket wants now (the owner tells it when that changes), and for
//! an error always: paused or half-open, a reset is still noticed, as Bun does.
//!
//! While the watcher has the descriptor registered with tokio, closing it is the watcher's job
//! (`Lease`): closed by the owner first, its number could go to a new socket before the stale
//! deregistration, which would then remove the new one from tokio.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::Notify;

use crate::net::conn::{discard_unread, Conn, Ready, Wants};
use crate::net::HandleId;

/// The set is no descriptor: the owner is woken through `set_waker`'s callback.
pub const NESTED: bool = false;

/// Sockets in the set, each with a value of the owner's (where its events go).
pub struct Poller<T> {
  entries: HashMap<HandleId, Entry<T>>,
  inbox: Arc<Inbox>,
  /// Sockets whose `pending` readiness they can use now: served on the next turn.
  due: Vec<HandleId>,
}

struct Entry<T> {
  conn: Arc<Conn>,
  value: T,
  watch: Arc<Watch>,
  /// Readiness reported and not used up by a turn yet.
  pending: Ready,
  /// The end of each direction: readable or writable until the socket no longer wants to read
  /// or write.
  read_closed: bool,
  write_closed: bool,
  /// In `due`.
  is_due: bool,
}

/// What a watcher saw.
#[derive(Clone, Copy)]
struct Seen {
  ready: Ready,
  read_closed: bool,
  write_closed: bool,
}

/// Ready sockets on their way to the owner, and how to wake it.
struct Inbox {
  queue: Mutex<Vec<(HandleId, Seen)>>,
  arrived: Condvar,
  waker: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

/// The owner's word to one socket's watcher: look at what the socket wants again, or stop.
#[derive(Default)]
struct Watch {
  stopped: AtomicBool,
  wake: Notify,
}

/// The descriptor as tokio sees it; `Core` owns the socket itself.
struct FdRef(RawFd);

impl AsRawFd for FdRef {
  fn as_raw_fd(&self) -> RawFd {
    self.0
  }
}

impl<T: Clone> Poller<T> {
  pub fn new() -> io::Result<Poller<T>> {
    Ok(Poller {
      entries: HashMap::new(),
      inbox: Arc::new(Inbox {
        queue: Mutex::new(Vec::new()),
        arrived: Condvar::new(),
        waker: Mutex::new(None),
      }),
      due: Vec::new(),
    })
  }

  /// No descriptor: see `set_waker`.
  pub fn fd(&self) -> Option<RawFd> {
    None
  }

  /// What wakes the owner once a socket is ready (the addon's `uv_async_send`; thread-safe).
  /// Without one, the owner waits in `ready`.
  pub fn set_waker(&mut self, waker: Box<dyn Fn() + Send + Sync>) {
    *lock(&self.inbox.waker) = Some(waker);
  }

  /// Starts watching `conn`, whose events go to `value`. Registers the descriptor with tokio
  /// now, so a failure is the caller's, as with epoll.
  pub fn add(&mut self, conn: &Arc<Conn>, value: T) -> io::Result<()> {
    let watch = Arc::new(Watch::default());
    let io = {
      let mut core = conn.lock();
      let _runtime = crate::runtime::handle().enter();
      // SAFETY: the descriptor stays open while `io` lives: the lease makes the watcher, which
      // drops `io` first, the one to close it.
      let io = unsafe {
        AsyncFd::register_with_interest(FdRef(conn.raw_fd()), Interest::READABLE | Interest::WRITABLE)
      }
      .map_err(io::Error::from)?;
      core.lease.watcher = Some(watch.clone());
      io
    };
    crate::runtime::handle().spawn(run(conn.clone(), io, watch.clone(), self.inbox.clone()));
    self.entries.insert(
      conn.id(),
      Entry {
        conn: conn.clone(),
        value,
        watch,
        pending: Ready::default(),
        read_closed: false,
        write_closed: false,
        is_due: false,
      },
    );
    Ok(())
  }

  /// Brings a socket's watcher in line with its state (after pause, resume, a short write, end
  /// or shutdown), and serves it again if it can use what it has pending now; removes it once it
  /// is no longer ours to read.
  pub fn update(&mut self, id: HandleId) {
    let Some(entry) = self.entries.get_mut(&id) else {
      return;
    };
    let (wants, watching) = {
      let core = entry.conn.lock();
      (core.wants(), core.lease.watching)
    };
    let Some(wants) = wants else {
      return self.remove(id);
    };
    // Compared under the lock the watcher records what it waits for under: a change it has not
    // seen always wakes it.
    if watching != Some(wants) {
      entry.watch.wake.notify_one();
    }
    let pending = entry.usable();
    let usable = (pending.readable && wants.read) || (pending.writable && wants.write) || pending.failed;
    if usable && !entry.is_due {
      entry.is_due = true;
      self.due.push(id);
      self.inbox.wake_owner();
    }
  }

  /// The owner served a socket `ready` reported; `left` is what its turn did not use up.
  pub fn served(&mut self, id: HandleId, left: Ready) {
    if let Some(entry) = self.entries.get_mut(&id) {
      entry.pending = merge(entry.pending, left);
    }
    self.update(id);
  }

  /// Stops watching a socket (closed, or handed to its TLS task).
  pub fn remove(&mut self, id: HandleId) {
    if let Some(entry) = self.entries.remove(&id) {
      entry.watch.stop();
    }
  }

  /// Empties the set, handing back what was in it.
  pub fn drain(&mut self) -> Vec<Arc<Conn>> {
    self.due.clear();
    self
      .entries
      .drain()
      .map(|(_, entry)| {
        entry.watch.stop();
        entry.conn
      })
      .collect()
  }

  /// Appends the sockets that are ready now (waiting up to `timeout_ms` for one; 0 does not
  /// wait), with their values.
  pub fn ready(&mut self, timeout_ms: i32, out: &mut Vec<(Arc<Conn>, T, Ready)>) {
    {
      let mut queue = lock(&self.inbox.queue);
      if queue.is_empty() && self.due.is_empty() && timeout_ms > 0 {
        let wait = Duration::from_millis(timeout_ms as u64);
        queue = match self.inbox.arrived.wait_timeout(queue, wait) {
          Ok((queue, _)) => queue,
          Err(poisoned) => poisoned.into_inner().0,
        };
      }
      for (id, seen) in queue.drain(..) {
        // Gone since: its watcher was stopped.
        let Some(entry) = self.entries.get_mut(&id) else {
          continue;
        };
        entry.pending = merge(entry.pending, seen.ready);
        entry.read_closed |= seen.read_closed;
        entry.write_closed |= seen.write_closed;
        if !entry.is_due {
          entry.is_due = true;
          self.due.push(id);
        }
      }
    }
    for id in self.due.drain(..) {
      let Some(entry) = self.entries.get_mut(&id) else {
        continue;
      };
      entry.is_due = false;
      let mut ready = entry.usable();
      entry.pending = Ready::default();
      // Writability seen on the I/O thread may predate a short write since: `drain` must wait
      // for room the kernel has now (the watcher reports the next).
      if ready.writable && !crate::net::writable_now(entry.conn.raw_fd()) {
        ready.writable = false;
      }
      if ready.readable || ready.writable || ready.failed {
        out.push((entry.conn.clone(), entry.value.clone(), ready));
      }
    }
  }
}

impl<T> Entry<T> {
  /// What a turn may use now: what is pending, and the end of a direction.
  fn usable(&self) -> Ready {
    Ready {
      readable: self.pending.readable || self.read_closed,
      writable: self.pending.writable || self.write_closed,
      failed: self.pending.failed,
    }
  }
}

impl<T> Drop for Poller<T> {
  fn drop(&mut self) {
    for entry in self.entries.values() {
      entry.watch.stop();
    }
  }
}

impl Watch {
  fn stop(&self) {
    self.stopped.store(true, Ordering::Release);
    self.wake.notify_one();
  }

  fn is_stopped(&self) -> bool {
    self.stopped.load(Ordering::Acquire)
  }
}

impl Inbox {
  fn post(&self, id: HandleId, seen: Seen) {
    lock(&self.queue).push((id, seen));
    self.arrived.notify_one();
    self.wake_owner();
  }

  fn wake_owner(&self) {
    if let Some(waker) = &*lock(&self.waker) {
      waker();
    }
  }
}

/// One socket's watcher, on the I/O thread, until the owner stops it or the socket is no longer
/// its owner's to read.
async fn run(conn: Arc<Conn>, io: AsyncFd<FdRef>, watch: Arc<Watch>, inbox: Arc<Inbox>) {
  // The end of each direction is reported once: tokio never clears it.
  let (mut read_closed, mut write_closed) = (false, false);
  loop {
    let wants = {
      let mut core = conn.lock();
      core.lease.watching = core.wants();
      core.lease.watching
    };
    let Some(wants) = wants else {
      break;
    };
    if watch.is_stopped() {
      break;
    }
    let mut interest = Interest::ERROR;
    if wants.read && !read_closed {
      interest |= Interest::READABLE;
    }
    if wants.write && !write_closed {
      interest |= Interest::WRITABLE;
    }
    let mut guard = tokio::select! {
      biased;
      // The owner changed what the socket wants, or stopped this watcher.
      _ = watch.wake.notified() => continue,
      ready = io.ready(interest) => match ready {
        Ok(guard) => guard,
        Err(_) => break,
      },
    };
    let seen = guard.ready();
    read_closed |= seen.is_read_closed();
    write_closed |= seen.is_write_closed();
    inbox.post(
      conn.id(),
      Seen {
        ready: Ready {
          readable: seen.is_readable(),
          writable: seen.is_writable(),
          failed: seen.is_error(),
        },
        read_closed: seen.is_read_closed(),
        write_closed: seen.is_write_closed(),
      },
    );
    // Only edges from now on: a clear with this guard's tick keeps any event that came since.
    guard.clear_ready();
    // The reply usually follows soon: keep the I/O thread polling instead of asleep, as after a
    // TLS event.
    crate::runtime::note_activity();
  }
  let orphan = {
    let mut core = conn.lock();
    // Deregistered while the descriptor is still open; from now on its closer closes it.
    drop(io);
    core.lease.watcher = None;
    core.lease.watching = None;
    core.lease.orphan.take()
  };
  // Bytes that came since the owner closed it, read away as `close_now` decided.
  if let Some((sock, true)) = &orphan {
    discard_unread(sock);
  }
  // A TLS task may wait for the descriptor (`released`).
  conn.wake.notify_one();
}

/// Both readinesses together.
fn merge(a: Ready, b: Ready) -> Ready {
  Ready {
    readable: a.readable || b.readable,
    writable: a.writable || b.writable,
    failed: a.failed || b.failed,
  }
}

/// Who closes a plain socket's descriptor: the one who closes the socket, unless a watcher has
/// it registered with tokio; then the watcher, once it deregistered it.
pub struct Lease {
  /// The watcher that has the descriptor registered.
  watcher: Option<Arc<Watch>>,
  /// What that watcher waits for (`Poller::update` wakes it when the socket wants more).
  watching: Option<Wants>,
  /// Closed while registered: the watcher closes it, first reading away what came since if
  /// the closer said so.
  orphan: Option<(Socket, bool)>,
}

impl Lease {
  pub(crate) fn new() -> Lease {
    Lease {
      watcher: None,
      watching: None,
      orphan: None,
    }
  }

  /// Closes `sock`, or leaves it to the watcher, which wakes up to find the socket closed.
  pub fn close(&mut self, sock: Socket, discard: bool) {
    if let Some(watch) = &self.watcher {
      self.orphan = Some((sock, discard));
      watch.wake.notify_one();
    }
  }
}

/// Waits until no watcher has `conn`'s descriptor registered (a TLS task registers it next).
pub async fn released(conn: &Conn) {
  while conn.lock().lease.watcher.is_some() {
    conn.wake.notified().await;
  }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
  // Nothing panics under these locks; the data stays consistent.
  mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
