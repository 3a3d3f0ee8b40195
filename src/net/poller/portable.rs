//! Where epoll is missing (and on Linux with the `portable-fallbacks` feature): the I/O thread
//! waits for each plain socket through tokio (kqueue on macOS and the BSDs) and queues what is
//! ready for the owner, who serves it on its own thread with the same `serve` as the epoll set.
//!
//! One watcher task per socket and one readiness in flight at a time: the watcher queues what
//! tokio saw, wakes the owner, waits until the owner served it (`served`), then clears what the
//! turn used up. tokio's readiness is edge-triggered, and a clear only takes if no new event
//! came since the readiness was seen, so bytes left for a later turn (paused, or the turn's
//! reads spent) are reported again without a new edge, and none are missed. Paused or
//! half-open, the watcher waits for an error only: a reset is still noticed, as Bun does.
//!
//! While the watcher has the descriptor registered with tokio, closing it is the watcher's job
//! (`Lease`): closed by the owner first, its number could go to a new socket before the stale
//! deregistration, which would then remove the new one from tokio.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
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
}

struct Entry<T> {
  conn: Arc<Conn>,
  value: T,
  watch: Arc<Watch>,
  /// What the watcher was last told the socket wants (it is woken only when this changes).
  wants: Wants,
}

/// Ready sockets on their way to the owner, and how to wake it.
struct Inbox {
  queue: Mutex<Vec<(HandleId, Ready)>>,
  arrived: Condvar,
  waker: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

/// The owner's word to one socket's watcher.
#[derive(Default)]
struct Watch {
  told: Mutex<Told>,
  wake: Notify,
}

#[derive(Default)]
struct Told {
  stopped: bool,
  /// The queued readiness was served: what the turn left.
  served: Option<Ready>,
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
    })
  }

  /// No descriptor: see `set_waker`.
  pub fn fd(&self) -> Option<RawFd> {
    None
  }

  /// What the I/O thread calls once it queued a ready socket (the addon's `uv_async_send`).
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
        wants: conn.wants().unwrap_or_default(),
      },
    );
    Ok(())
  }

  /// Brings a socket's watcher in line with its state (after pause, resume, a short write, end
  /// or shutdown); removes it once it is no longer ours to read.
  pub fn update(&mut self, id: HandleId) {
    let Some(entry) = self.entries.get_mut(&id) else {
      return;
    };
    let Some(wants) = entry.conn.wants() else {
      return self.remove(id);
    };
    if wants != entry.wants {
      entry.wants = wants;
      entry.watch.wake.notify_one();
    }
  }

  /// The owner served a socket `ready` reported; `left` is what its turn did not use up.
  pub fn served(&mut self, id: HandleId, left: Ready) {
    if let Some(entry) = self.entries.get_mut(&id) {
      lock(&entry.watch.told).served = Some(left);
      entry.wants = entry.conn.wants().unwrap_or_default();
      entry.watch.wake.notify_one();
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
  pub fn ready(&self, timeout_ms: i32, out: &mut Vec<(Arc<Conn>, T, Ready)>) {
    let mut queue = lock(&self.inbox.queue);
    if queue.is_empty() && timeout_ms > 0 {
      let wait = Duration::from_millis(timeout_ms as u64);
      queue = match self.inbox.arrived.wait_timeout(queue, wait) {
        Ok((queue, _)) => queue,
        Err(poisoned) => poisoned.into_inner().0,
      };
    }
    for (id, mut ready) in queue.drain(..) {
      // Gone since: its watcher was stopped.
      let Some(entry) = self.entries.get(&id) else {
        continue;
      };
      // Writability seen on the I/O thread may predate a short write since: `drain` must wait
      // for room the kernel has now.
      if ready.writable && !writable_now(entry.conn.raw_fd()) {
        ready.writable = false;
      }
      out.push((entry.conn.clone(), entry.value.clone(), ready));
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
    lock(&self.told).stopped = true;
    self.wake.notify_one();
  }

  fn is_stopped(&self) -> bool {
    lock(&self.told).stopped
  }

  /// What the owner's turn left of the queued readiness; None once stopped.
  async fn served(&self) -> Option<Ready> {
    loop {
      {
        let mut told = lock(&self.told);
        if told.stopped {
          return None;
        }
        if let Some(left) = told.served.take() {
          return Some(left);
        }
      }
      // `notify_one` keeps a permit when nobody waits: nothing said in between is missed.
      self.wake.notified().await;
    }
  }
}

impl Inbox {
  fn post(&self, id: HandleId, ready: Ready) {
    lock(&self.queue).push((id, ready));
    self.arrived.notify_one();
    if let Some(waker) = &*lock(&self.waker) {
      waker();
    }
  }
}

/// One socket's watcher, on the I/O thread, until the owner stops it or the socket is no longer
/// its owner's to read.
async fn run(conn: Arc<Conn>, io: AsyncFd<FdRef>, watch: Arc<Watch>, inbox: Arc<Inbox>) {
  while let Some(wants) = conn.wants() {
    if watch.is_stopped() {
      break;
    }
    // An error (a reset) whatever the socket wants, as epoll reports one.
    let mut interest = Interest::ERROR;
    if wants.read {
      interest |= Interest::READABLE;
    }
    if wants.write {
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
    let ready = Ready {
      readable: seen.is_readable() || seen.is_read_closed(),
      writable: seen.is_writable() || seen.is_write_closed(),
      failed: seen.is_error(),
    };
    inbox.post(conn.id(), ready);
    let Some(left) = watch.served().await else {
      break;
    };
    // What the turn used up is gone until the next edge; what it left is reported again.
    let mut spent = tokio::io::Ready::EMPTY;
    if ready.readable && !left.readable {
      spent |= tokio::io::Ready::READABLE;
    }
    if ready.writable && !left.writable {
      spent |= tokio::io::Ready::WRITABLE;
    }
    if ready.failed && !left.failed {
      spent |= tokio::io::Ready::ERROR;
    }
    guard.clear_ready_matching(spent);
  }
  let orphan = {
    let mut core = conn.lock();
    // Deregistered while the descriptor is still open; from now on its closer closes it.
    drop(io);
    core.lease.watcher = None;
    core.lease.orphan.take()
  };
  if let Some(sock) = orphan {
    // Bytes that came since the owner closed: a close(2) with unread bytes sends a reset.
    discard_unread(&sock);
  }
  // A TLS task may wait for the descriptor (`released`).
  conn.wake.notify_one();
}

/// Who closes a plain socket's descriptor: the one who closes the socket, unless a watcher has
/// it registered with tokio; then the watcher, once it deregistered it.
pub struct Lease {
  /// The watcher that has the descriptor registered.
  watcher: Option<Arc<Watch>>,
  /// Closed while registered: the watcher closes it.
  orphan: Option<Socket>,
}

impl Lease {
  pub(crate) fn new() -> Lease {
    Lease {
      watcher: None,
      orphan: None,
    }
  }

  /// Closes `sock`, or leaves it to the watcher, which wakes up to find the socket closed.
  pub fn close(&mut self, sock: Socket) {
    if let Some(watch) = &self.watcher {
      self.orphan = Some(sock);
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

/// True when the kernel takes writes on `fd` now.
fn writable_now(fd: RawFd) -> bool {
  let mut pfd = libc::pollfd {
    fd,
    events: libc::POLLOUT,
    revents: 0,
  };
  // SAFETY: one valid pollfd, zero timeout, on a socket that is open while in the set.
  unsafe { libc::poll(&mut pfd, 1, 0) > 0 && pfd.revents & libc::POLLOUT != 0 }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
  // Nothing panics under these locks; the data stays consistent.
  mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
