//! The one tokio runtime every socket runs on.
//!
//! A current_thread runtime on a dedicated I/O thread, started on first use and shared by every
//! Node environment of the process. One thread beat a one-worker multi-thread runtime by 20–30%
//! on single-connection round trips: no work stealing, no cross-thread wake-ups between tasks.
//! The JS thread never blocks on it: it only spawns tasks and touches sockets non-blockingly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::runtime::{Builder, Handle};
use tokio::sync::Notify;
use tokio::time::Instant;

/// getaddrinfo runs on tokio's blocking pool; a few threads cover concurrent lookups without
/// letting a burst of connects spawn hundreds of threads.
const MAX_BLOCKING_THREADS: usize = 4;

/// How long the I/O thread keeps polling for readiness after it last handed JS a connection
/// (open, accept) or a TLS event, instead of sleeping in epoll_wait: the next connect or TLS
/// message usually comes within this window, and a sleeping thread takes tens of microseconds
/// to wake. Plain data never involves this thread.
const SPIN: Duration = Duration::from_micros(500);

static RUNTIME: OnceLock<Handle> = OnceLock::new();
static SPINNER: OnceLock<Arc<Spinner>> = OnceLock::new();

struct Spinner {
  active: AtomicBool,
  wake: Notify,
}

/// Called on the I/O thread after it handed JS a connection or a TLS event: keep polling for
/// a while.
pub fn note_activity() {
  if let Some(spinner) = SPINNER.get() {
    if !spinner.active.swap(true, Ordering::Relaxed) {
      spinner.wake.notify_one();
    }
  }
}

/// The shared runtime's handle, starting the I/O thread on first call.
pub fn handle() -> &'static Handle {
  RUNTIME.get_or_init(start)
}

fn start() -> Handle {
  let runtime = Builder::new_current_thread()
    .enable_io()
    .enable_time()
    .max_blocking_threads(MAX_BLOCKING_THREADS)
    .thread_name("bun-sockets-dns")
    .build()
    // Without a runtime no socket can work at all; failing here means the process is out of
    // file descriptors or memory at load time.
    .expect("bun-sockets: cannot create the tokio runtime");
  let handle = runtime.handle().clone();
  let spinner = SPINNER.get_or_init(|| {
    Arc::new(Spinner {
      active: AtomicBool::new(false),
      wake: Notify::new(),
    })
  });
  handle.spawn(spin(spinner.clone()));
  std::thread::Builder::new()
    .name("bun-sockets-io".into())
    .spawn(move || runtime.block_on(std::future::pending::<()>()))
    .expect("bun-sockets: cannot start the I/O thread");
  handle
}

/// While events flow, yield in a loop: tokio then polls the I/O driver without blocking on
/// every turn. Sleeps once `SPIN` passed without a new event.
async fn spin(spinner: Arc<Spinner>) {
  loop {
    spinner.wake.notified().await;
    let mut until = Instant::now() + SPIN;
    loop {
      // Give the core away too, in case the JS thread waits for this one.
      std::thread::yield_now();
      tokio::task::yield_now().await;
      if spinner.active.swap(false, Ordering::Relaxed) {
        until = Instant::now() + SPIN;
      } else if Instant::now() >= until {
        break;
      }
    }
  }
}
