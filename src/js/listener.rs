//! `NativeListener` and `listen`.

use std::sync::Arc;

use napi::bindgen_prelude::Either;
use napi::{Env, Result};
use napi_derive::napi;

use crate::js::dispatch::EnvCtx;
use crate::js::errors::ErrorInfo;
use crate::js::options::SocketOptions;
use crate::js::socket::AddressInfo;
use crate::js::tls::NativeTlsConfig;
use crate::net::{next_id, Listener};

/// The native half of a listener. Accepted sockets arrive as `accept` events on its id.
#[napi]
pub struct NativeListener {
  listener: Arc<Listener>,
  id: u32,
}

/// Binds and listens now. Returns the listener, or the failure's description for
/// `lib/errors.js` to throw.
#[napi(catch_unwind)]
pub fn listen(
  env: Env,
  options: SocketOptions,
  tls: Option<&NativeTlsConfig>,
) -> Result<Either<NativeListener, ErrorInfo>> {
  let ctx = EnvCtx::of(&env)?;
  let id = next_id();
  let server = tls.and_then(NativeTlsConfig::server);
  match Listener::bind(id, ctx.sink(), &options.listen_config(), server) {
    Ok(listener) => {
      ctx.hold(id);
      ctx.own_listener(id, &listener);
      Ok(Either::A(NativeListener { listener, id }))
    }
    Err(err) => Ok(Either::B(ErrorInfo::from(&err))),
  }
}

#[napi]
impl NativeListener {
  /// The id its events arrive on.
  #[napi(getter, catch_unwind)]
  pub fn id(&self) -> u32 {
    self.id
  }

  /// The listening descriptor, or -1 once stopped.
  #[napi(getter, catch_unwind)]
  pub fn fd(&self) -> i32 {
    self.listener.fd()
  }

  /// The bound address (TCP only).
  #[napi(catch_unwind)]
  pub fn address(&self) -> Option<AddressInfo> {
    self.listener.local_addr().map(AddressInfo::from)
  }

  /// Stops accepting and frees the port now.
  #[napi(catch_unwind)]
  pub fn stop(&self, env: Env) -> Result<()> {
    self.listener.stop();
    EnvCtx::forget(&env, self.id)
  }

  /// Counts this listener as keeping the process alive (the default while it listens).
  #[napi(js_name = "ref", catch_unwind)]
  pub fn hold(&self, env: Env) -> Result<()> {
    EnvCtx::set_ref(&env, self.id, self.listener.is_listening(), true)
  }

  /// Stops counting this listener as keeping the process alive.
  #[napi(catch_unwind)]
  pub fn unref(&self, env: Env) -> Result<()> {
    EnvCtx::set_ref(&env, self.id, true, false)
  }
}
