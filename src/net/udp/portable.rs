//! The portable stand-ins for `sys.rs`'s Linux calls, with the same functions: one `recv_from`
//! or `send_to` per datagram instead of `recvmmsg`/`sendmmsg`, `dup2` and `FD_CLOEXEC` instead
//! of `dup3`, `SO_RCVBUF` alone, and `SO_ERROR` instead of the error queue. Used where Linux's
//! calls are missing, and on Linux with the `portable-fallbacks` feature (CI runs the UDP tests
//! that way). Runs on whichever thread calls it.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use socket2::Socket;

use super::{Batch, DatagramInfo, UdpSocket, BATCH, RECEIVE_BUFFER, SLOT};

/// Without an error queue, a read returns a pending ICMP error itself (connected sockets only).
pub const HAS_ERROR_QUEUE: bool = false;

thread_local! {
  /// One datagram's room, shared by every UDP socket on the I/O thread.
  static SLOT_BUFFER: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; SLOT].into_boxed_slice());
  /// An error a read returned after the first datagram of a batch (the kernel reports it once),
  /// with its socket: `read_error_queue` hands it out next.
  static HELD_ERROR: Cell<Option<(RawFd, i32)>> = const { Cell::new(None) };
}

/// Reads up to `BATCH` datagrams, one `recv_from` each. WouldBlock only when none was waiting;
/// an error after the first datagram ends the batch and is held for `read_error_queue`.
pub(super) fn receive_batch(socket: &UdpSocket) -> io::Result<Batch> {
  SLOT_BUFFER.with(|slot| {
    let slot = &mut *slot.borrow_mut();
    let mut batch = Batch {
      bytes: Vec::new(),
      datagrams: Vec::new(),
    };
    while batch.datagrams.len() < BATCH {
      match socket.recv_from(slot) {
        Ok((len, from)) => {
          batch.bytes.extend_from_slice(&slot[..len]);
          batch.datagrams.push(DatagramInfo {
            len: len as u32,
            from,
            // SLOT holds the largest datagram IP carries without jumbograms.
            truncated: false,
          });
        }
        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
        Err(err) if batch.datagrams.is_empty() => return Err(err),
        Err(err) => {
          if let Some(errno) = err
            .raw_os_error()
            .filter(|_| err.kind() != io::ErrorKind::WouldBlock)
          {
            HELD_ERROR.set(Some((socket.as_raw_fd(), errno)));
          }
          break;
        }
      }
    }
    Ok(batch)
  })
}

/// Sends `packets` one by one; returns how many went out. An error on the first is returned,
/// one later ends the batch (as `sendmmsg` reports a partial send).
pub(super) fn send_batch(socket: &UdpSocket, packets: &[(&[u8], Option<SocketAddr>)]) -> io::Result<usize> {
  let mut sent = 0;
  for (data, to) in packets {
    let result = match to {
      Some(addr) => socket.send_to(data, addr),
      None => socket.send(data),
    };
    match result {
      Ok(_) => sent += 1,
      Err(err) if sent == 0 => return Err(err),
      Err(_) => break,
    }
  }
  Ok(sent)
}

/// Asks for a receive buffer of `RECEIVE_BUFFER` bytes; the system limit caps it.
pub(super) fn grow_receive_buffer(socket: &Socket) {
  let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
}

/// No error queue to enable.
pub(super) fn set_recv_err(_socket: &Socket, _v6: bool) {}

/// The error a batch held back, else the socket's pending error (`SO_ERROR`), or WouldBlock
/// when there is none.
pub(super) fn read_error_queue(socket: &UdpSocket) -> io::Result<Option<i32>> {
  if let Some((fd, errno)) = HELD_ERROR.take() {
    if fd == socket.as_raw_fd() {
      return Ok(Some(errno));
    }
  }
  match socket.take_error()? {
    Some(err) => Ok(Some(err.raw_os_error().unwrap_or(0))),
    None => Err(io::ErrorKind::WouldBlock.into()),
  }
}

/// Points `target` at the description of `placeholder`, closing what `target` held. Two calls
/// where Linux has `dup3`: a fork in between could inherit the descriptor, not the bound port.
pub(super) fn replace_fd(placeholder: &Socket, target: RawFd) {
  // SAFETY: both descriptors are open; dup2 closes the old description of `target` first.
  if unsafe { libc::dup2(placeholder.as_raw_fd(), target) } >= 0 {
    // SAFETY: `target` is open (dup2 just succeeded).
    unsafe { libc::fcntl(target, libc::F_SETFD, libc::FD_CLOEXEC) };
  }
}
