//! The set of plain sockets one thread reads (the JS thread in the addon; a test thread in
//! `cargo test`), and one turn of serving a ready socket.
//!
//! Two sets with one interface. On Linux, an epoll set the owner waits on (`epoll.rs`): nested
//! in libuv's loop, it wakes the JS thread directly. Elsewhere, and on Linux with the
//! `portable-fallbacks` feature (so CI tests it), the I/O thread waits for each socket through
//! tokio and queues what is ready for the owner, who is woken through a callback
//! (`portable.rs`). Either way the owner serves a ready socket with `serve`, on its own thread.
//! Not thread-safe by design: one thread owns a set.

use crate::error::{ErrorTarget, SocketError, Syscall};
use crate::net::conn::{Conn, Readout, Ready};

// The portable set is chosen by a cfg on the module path, as UDP's `sys`.
#[cfg_attr(
  all(
    any(target_os = "linux", target_os = "android"),
    not(feature = "portable-fallbacks")
  ),
  path = "epoll.rs"
)]
#[cfg_attr(
  any(
    not(any(target_os = "linux", target_os = "android")),
    feature = "portable-fallbacks"
  ),
  path = "portable.rs"
)]
mod set;

pub use set::{released, Lease, Poller, NESTED};

/// Chunks read from one socket per turn before the others get theirs.
pub const READS_PER_TURN: usize = 16;

/// Where one turn's reads go: the memory each read fills, then what it produced.
pub trait ReadSink {
  /// The memory the next read fills (the JS reader lends a slice of a JS ArrayBuffer); `None`
  /// when none can be had (out of memory).
  fn buffer(&mut self) -> Option<&mut [u8]>;
  /// `n` bytes were read into the last `buffer()`.
  fn data(&mut self, n: usize);
  /// Anything else: `End`, `Drain`, `Close`.
  fn event(&mut self, out: Readout);
}

/// One turn for a ready socket: reads into the sink's memory and hands each readout over,
/// re-checking the socket's state between readouts, so a handler's `pause()` or `close()`
/// takes effect before the next read. Returns false once the socket closed (the caller
/// removes it). `ready` is left with what this turn did not use up (for `Poller::served`).
pub fn serve(conn: &Conn, ready: &mut Ready, sink: &mut impl ReadSink) -> bool {
  let mut reads = 0;
  loop {
    // Memory to read into only when there may be something to read: a turn that ends on a
    // short read, or a wake-up for drain or close, takes no JS buffer.
    let buf: &mut [u8] = if ready.readable || ready.failed {
      match sink.buffer() {
        Some(buf) => buf,
        None => {
          // Nothing is read that could not be delivered: the connection ends here, reset (the
          // bytes it holds are lost to the peer's knowledge), with ENOMEM.
          conn.terminate();
          let err = std::io::Error::from_raw_os_error(libc::ENOMEM);
          sink.event(Readout::Close(Some(SocketError::os(
            Syscall::Read,
            &err,
            ErrorTarget::default(),
          ))));
          return false;
        }
      }
    } else {
      &mut []
    };
    let Some(out) = conn.read_step(ready, buf) else {
      break;
    };
    match out {
      Readout::Data(n) => {
        sink.data(n);
        reads += 1;
        // A reset's data is all delivered now; otherwise others get their turn.
        if reads == READS_PER_TURN && !ready.failed {
          break;
        }
      }
      Readout::Close(err) => {
        sink.event(Readout::Close(err));
        return false;
      }
      other => sink.event(other),
    }
  }
  true
}

#[cfg(test)]
mod tests {
  /// CI runs the Rust tests with `portable-fallbacks` too: they must then reach `portable.rs`.
  #[test]
  fn the_feature_picks_the_set() {
    let linux = cfg!(any(target_os = "linux", target_os = "android"));
    assert_eq!(super::NESTED, linux && !cfg!(feature = "portable-fallbacks"));
  }
}
