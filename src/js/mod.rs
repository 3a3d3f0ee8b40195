//! napi glue: options in, events out, small native classes. No socket logic lives here.

pub mod dispatch;
pub mod errors;
pub mod listener;
pub mod options;
pub mod reader;
pub mod socket;
pub mod socket_options;
pub mod tls;
pub mod udp;

/// Runs a callback that C code (libuv, Node) made into us: a panic must not unwind into C, so it
/// is caught and reported on stderr; the callback's work is lost, the process goes on.
pub(crate) fn from_c(what: &str, f: impl FnOnce()) {
  if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
    let detail = payload
      .downcast_ref::<&str>()
      .map(|s| (*s).to_owned())
      .or_else(|| payload.downcast_ref::<String>().cloned())
      .unwrap_or_default();
    eprintln!("bun-sockets: internal error in {what}: {detail}");
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
