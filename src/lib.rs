//! bun-sockets: Bun's socket API for Node.js.
//!
//! `net` is the networking core (tokio, socket2; no napi), `js` the napi glue.

#![deny(clippy::all)]

pub mod error;
pub mod js;
pub mod net;
pub mod runtime;
