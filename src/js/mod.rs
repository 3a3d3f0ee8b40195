//! napi glue: options in, events out, small native classes. No socket logic lives here.

pub mod dispatch;

/// What an event from native code is: the second argument of every call to `lib/dispatch.js`.
/// Declared here only; napi-rs gives JS the same numbers as `binding.EventKind`.
#[napi_derive::napi]
pub enum EventKind {
  /// A client socket is up, or a UDP socket whose names resolved is bound: `(native socket)`.
  Open,
  /// A listener accepted a connection: `(native socket, its id)`.
  Accept,
  /// Bytes for the `data` handler: `(Buffer)`.
  Data,
  Drain,
  /// The peer finished sending.
  End,
  /// `(error descriptor or undefined)`; nothing follows for this id.
  Close,
  /// `(error descriptor)`.
  Error,
  /// A connect failed, or a UDP socket's names did not resolve or bind: `(error
  /// descriptor)`; no `Close` follows.
  ConnectError,
  Timeout,
  /// UDP datagrams of one receive call: `(payloads, [meta, ...addresses])`.
  Datagrams,
  /// A TLS handshake ended: `(HandshakeResult, error descriptor or undefined)`.
  Handshake,
  /// A TLS key log line: `(Buffer)`.
  Keylog,
  /// A TLS client session to keep: `(Buffer)`.
  Session,
  /// A server's ClientHello waits for JS: `(servername or undefined, ALPN wire or undefined)`.
  Hello,
  /// Data read by the JS thread, as a part of a slab: `(ArrayBuffer, offset, length)`.
  Slice,
  /// TLS records as read, for the `raw` socket of `upgradeTLS`: `(Buffer)`.
  Records,
}

/// Where each of a datagram's values sits among its `DATAGRAM_FIELDS` int32 in a `Datagrams`
/// event's metadata.
#[napi_derive::napi]
pub enum DatagramField {
  /// The payload's length (payloads lie back to back).
  Length,
  Port,
  /// The sender's address, as an index into the event's list of addresses.
  Address,
  /// `DatagramFlag` bits.
  Flags,
}

/// How many int32 each datagram has in a `Datagrams` event's metadata.
#[napi_derive::napi]
pub const DATAGRAM_FIELDS: u32 = 4;

/// The bits of a datagram's `DatagramField::Flags`.
#[napi_derive::napi]
pub enum DatagramFlag {
  /// The datagram was longer than the buffer: Bun's `flags.truncated`.
  Truncated = 1,
  /// It came from an IPv6 address: Bun's `flags.ipv6`.
  Ipv6 = 2,
}

/// How a TLS handshake ended: the `Handshake` event's first argument.
#[napi_derive::napi]
pub enum HandshakeResult {
  /// Failed; `Close` follows.
  Failed,
  Succeeded,
  /// Succeeded, but the peer is refused; `Close` follows.
  Refused,
  /// Reported as failed while the connection stays up (Bun's hostname mismatch with
  /// `rejectUnauthorized: false`).
  FailedKeptOpen,
}

impl From<&crate::net::tls::HandshakeOutcome> for HandshakeResult {
  fn from(outcome: &crate::net::tls::HandshakeOutcome) -> Self {
    match (outcome.success, outcome.close) {
      (false, true) => HandshakeResult::Failed,
      (true, false) => HandshakeResult::Succeeded,
      (true, true) => HandshakeResult::Refused,
      (false, false) => HandshakeResult::FailedKeptOpen,
    }
  }
}

pub mod errors;
pub mod listener;
pub mod options;
pub mod reader;
mod slab;
pub mod socket;
pub mod socket_options;
pub mod tls;
pub mod udp;

/// A raw napi call's status as a Result.
pub(crate) fn check(status: napi::sys::napi_status) -> napi::Result<()> {
  if status == napi::sys::Status::napi_ok {
    Ok(())
  } else {
    Err(napi::Error::new(
      napi::Status::from(status),
      "bun-sockets: a napi call failed",
    ))
  }
}

/// A new Buffer holding a copy of `bytes` (JS thread only). Handing a Vec over as an external
/// buffer saves the copy, but V8 collects those late: a slow consumer peaked at 116 MB RSS
/// instead of 53 MB flooding 256 MiB, even with `napi_adjust_external_memory`.
pub(crate) fn copy_buffer(env: napi::sys::napi_env, bytes: &[u8]) -> napi::Result<napi::sys::napi_value> {
  let mut value = std::ptr::null_mut();
  let mut data = std::ptr::null_mut();
  // SAFETY: JS thread; Node copies `bytes.len()` bytes from a live slice.
  check(unsafe {
    napi::sys::napi_create_buffer_copy(env, bytes.len(), bytes.as_ptr().cast(), &mut data, &mut value)
  })?;
  Ok(value)
}

/// After calling `lib/dispatch.js`: it never throws a handler's error, so an exception left
/// pending is reported as Node reports an uncaught one (JS thread only).
pub(crate) fn report_pending_exception(env: napi::sys::napi_env, status: napi::sys::napi_status) {
  if status != napi::sys::Status::napi_pending_exception {
    return;
  }
  let mut err = std::ptr::null_mut();
  // SAFETY: JS thread of `env`, right after the call that left the exception.
  unsafe {
    if napi::sys::napi_get_and_clear_last_exception(env, &mut err) == napi::sys::Status::napi_ok {
      napi::sys::napi_fatal_exception(env, err);
    }
  }
}

/// Runs a callback that C code (libuv, Node) made into us: a panic must not unwind into C, so it
/// is caught and reported on stderr; the callback's work is lost, the process goes on.
pub(crate) fn from_c(what: &str, f: impl FnOnce()) {
  if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
    let detail = payload
      .downcast_ref::<&str>()
      .map(|s| (*s).to_owned())
      .or_else(|| payload.downcast_ref::<String>().cloned())
      .unwrap_or_default();
    // Not eprintln!: it panics itself when stderr is gone.
    let _ = std::io::Write::write_fmt(
      &mut std::io::stderr(),
      format_args!("bun-sockets: internal error in {what}: {detail}\n"),
    );
  }
}

#[cfg(test)]
mod tests {
  #[test]
  fn a_panic_in_a_callback_from_c_is_caught() {
    let mut after = false;
    super::from_c("a test", || panic!("a bug"));
    super::from_c("a test", || after = true);
    assert!(after);
  }
}
