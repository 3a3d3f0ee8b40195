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
