//! The one tokio runtime every socket runs on.
//!
//! A current_thread runtime on a dedicated I/O thread, started on first use and shared by every
//! Node environment of the process. One thread beat a one-worker multi-thread runtime by 20–30%
//! on single-connection round trips: no work stealing, no cross-thread wake-ups between tasks.
//! The JS thread never blocks on it: it only spawns tasks and touches sockets non-blockingly.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle};

/// getaddrinfo runs on tokio's blocking pool; a few threads cover concurrent lookups without
/// letting a burst of connects spawn hundreds of threads.
const MAX_BLOCKING_THREADS: usize = 4;

static RUNTIME: OnceLock<Handle> = OnceLock::new();

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
  std::thread::Builder::new()
    .name("bun-sockets-io".into())
    .spawn(move || runtime.block_on(std::future::pending::<()>()))
    .expect("bun-sockets: cannot start the I/O thread");
  handle
}
