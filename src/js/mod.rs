//! napi glue: options in, events out, small native classes. No socket logic lives here.

pub mod dispatch;

/// Event kinds, as `lib/dispatch.js` numbers them.
pub(crate) mod kinds {
  pub const OPEN: u32 = 0;
  pub const ACCEPT: u32 = 1;
  pub const DATA: u32 = 2;
  pub const DRAIN: u32 = 3;
  pub const END: u32 = 4;
  pub const CLOSE: u32 = 5;
  pub const ERROR: u32 = 6;
  pub const CONNECT_ERROR: u32 = 7;
  pub const TIMEOUT: u32 = 8;
  pub const DATAGRAMS: u32 = 9;
  pub const HANDSHAKE: u32 = 10;
  pub const KEYLOG: u32 = 11;
  pub const SESSION: u32 = 12;
  pub const HELLO: u32 = 13;
  /// Data read by the JS thread, as a part of a slab: `(slab, offset, length)`.
  pub const SLICE: u32 = 14;
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
