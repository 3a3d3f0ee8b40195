//! bun-sockets: Bun's socket API for Node.js.
//!
//! `net` is the networking core (tokio, socket2; no napi), `js` the napi glue.

#![deny(clippy::all)]

// The core is written against unix descriptors (std::os::unix, tokio's AsyncFd, libc); Windows
// would need its own reader and socket calls. One clear error instead of hundreds.
#[cfg(not(unix))]
compile_error!(
  "bun-sockets builds on Linux, macOS and the BSDs only: Windows is not supported yet. \
   See the README's \"Platforms\" section."
);

#[cfg(unix)]
pub mod error;
#[cfg(unix)]
pub mod js;
#[cfg(unix)]
pub mod net;
#[cfg(unix)]
pub mod runtime;
