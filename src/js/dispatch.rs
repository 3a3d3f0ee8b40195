//! Events to JS, and liveness.
//!
//! One weak threadsafe function per Node environment carries every event the I/O thread has
//! for its sockets and listeners, one call per event (a FIFO: each socket's events reach JS in
//! order, and Node runs nextTicks and microtasks between calls, as Bun does). It calls
//! `lib/dispatch.js` with `(id, kind, a, b)`. (Plain sockets' data comes from `reader.rs`.)
//! It is made with napi's own calls rather than napi-rs's wrapper, to give it the async
//! resource JS passes to `init`: one whose `hasRef()` is false, so `jest --detectOpenHandles`
//! reports the user's handles (`lib/dispatch.js` makes one per `listen`/`connect`/`udpSocket`)
//! instead of this channel.
//!
//! Liveness: the function is weak, so by itself it never holds the event loop. The environment
//! counts its ref'd handles (listening listeners, open or connecting sockets not `unref()`ed);
//! on 0→1 it calls `napi_ref_threadsafe_function`, on 1→0 `napi_unref_threadsafe_function`.
//! A socket stops counting when its `close` (or `connectError`) is dispatched, a listener when
//! it stops. All of it runs on the environment's JS thread.
//!
//! When the environment ends (natural exit, Worker `terminate()`), its cleanup hook closes the
//! sockets and listeners it still owns; no other environment's handles are touched.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::ptr;
use std::rc::Rc;
use std::sync::{Arc, Weak};

use std::ffi::c_void;
use std::sync::Mutex;

use napi::bindgen_prelude::{Function, JsValue, Object, ToNapiValue, Unknown};
use napi::{sys, Env, Result, Status};
use napi_derive::napi;

use crate::error::SocketError;
use crate::js::errors::ErrorInfo;
use crate::js::reader::{self, JsTarget};
use crate::js::socket::NativeSocket;
use crate::js::udp::NativeUdpSocket;
use std::net::SocketAddr;

use crate::net::tls::TlsNote;
use crate::net::udp::{Batch, Udp};
use crate::net::{Conn, Credit, Event, EventSink, HandleId, Listener};

use crate::js::{
  check, copy_buffer, report_pending_exception, DatagramField, DatagramFlag, EventKind, HandshakeResult,
  DATAGRAM_FIELDS,
};

/// A JS value made in the callback, passed through as is.
pub struct Raw(sys::napi_value);

type Args = [Raw; 4];

/// One event on its way to the JS thread (with its credit, held until the handler returned).
struct Item {
  id: HandleId,
  event: Event,
}

impl Item {
  /// The event, to deliver: the item no longer owns it.
  fn take(mut self) -> (HandleId, Event) {
    (self.id, std::mem::replace(&mut self.event, Event::Drain))
  }
}

impl Drop for Item {
  /// A UDP socket bound after its names resolved that never reaches JS (the environment ended
  /// with the event still queued) is closed, so it cannot stay open unseen.
  fn drop(&mut self) {
    if let Event::Bound(udp) = &self.event {
      udp.close();
    }
  }
}

/// Per-environment state, kept as the environment's instance data.
pub struct EnvCtx {
  sink: Arc<JsSink>,
  live: Rc<Liveness>,
  /// Held so that its `dispatch` reference lives as long as the environment's context.
  _js: Rc<JsTarget>,
}

/// The I/O thread's way into JS: the environment's threadsafe function, null once the
/// environment is gone.
struct JsSink {
  tsfn: Mutex<Tsfn>,
}

struct Tsfn(sys::napi_threadsafe_function);

// SAFETY: napi's threadsafe functions are made to be called from any thread; the pointer is
// only read under the mutex, and cleared there before the function is gone.
unsafe impl Send for Tsfn {}

/// What the threadsafe function's callback needs on the JS thread.
struct CallCtx {
  live: Rc<Liveness>,
  js: Rc<JsTarget>,
  sink: Arc<JsSink>,
}

struct Liveness {
  env: sys::napi_env,
  tsfn: Cell<sys::napi_threadsafe_function>,
  refs: RefCell<HashSet<HandleId>>,
  /// What the cleanup hook closes: open connections and listening listeners of this env.
  owned: RefCell<HashMap<HandleId, Owned>>,
}

enum Owned {
  Conn(Weak<Conn>),
  Listener(Weak<Listener>),
  Udp(Weak<Udp>),
}

/// Connects this environment to `lib/dispatch.js`. Called once when the package loads, with
/// the async resource native callbacks run in (its `hasRef()` says false: the user's handles
/// carry resources of their own).
#[napi(catch_unwind)]
pub fn init(env: Env, dispatch: Function<'_, Unknown<'_>, Unknown<'_>>, resource: Object<'_>) -> Result<()> {
  let dispatch = dispatch.value().value;
  let resource = resource.value().value;
  let js = Rc::new(JsTarget::new(&env, dispatch, resource)?);
  let live = Rc::new(Liveness {
    env: env.raw(),
    tsfn: Cell::new(ptr::null_mut()),
    refs: RefCell::default(),
    owned: RefCell::default(),
  });
  let sink = Arc::new(JsSink {
    tsfn: Mutex::new(Tsfn(ptr::null_mut())),
  });
  let context = Box::into_raw(Box::new(CallCtx {
    live: live.clone(),
    js: js.clone(),
    sink: sink.clone(),
  }));
  let mut name = ptr::null_mut();
  let mut tsfn = ptr::null_mut();
  let text = "BunSocketsEvents";
  // SAFETY: JS thread of `env`, inside `init`. `context` is freed by `finalize`, which napi
  // calls once, on this thread, when the function is gone.
  unsafe {
    check(sys::napi_create_string_utf8(
      env.raw(),
      text.as_ptr().cast(),
      text.len() as isize,
      &mut name,
    ))?;
    check(sys::napi_create_threadsafe_function(
      env.raw(),
      dispatch,
      resource,
      name,
      0,
      1,
      ptr::null_mut(),
      Some(finalize),
      context.cast(),
      Some(call_js),
      &mut tsfn,
    ))?;
    // Weak: by itself it never holds the event loop (`Liveness` refs it).
    check(sys::napi_unref_threadsafe_function(env.raw(), tsfn))?;
  }
  *sink.tsfn.lock().unwrap_or_else(|p| p.into_inner()) = Tsfn(tsfn);
  live.tsfn.set(tsfn);
  let hook_live = live.clone();
  env.add_env_cleanup_hook((), move |()| hook_live.close_all())?;
  let ctx = EnvCtx { sink, live, _js: js };
  env.set_instance_data(ctx, (), |_| {})
}

/// Runs on the JS thread for each event: builds the arguments and calls `dispatch`. With a
/// null `env` the environment is going away: the event is dropped.
unsafe extern "C" fn call_js(
  env: sys::napi_env,
  dispatch: sys::napi_value,
  context: *mut c_void,
  data: *mut c_void,
) {
  // SAFETY: as napi promises the callback.
  crate::js::from_c("an event", || unsafe { deliver(env, dispatch, context, data) });
}

/// `call_js`'s work.
///
/// SAFETY: napi's threadsafe-function callback contract: JS thread, `data` an `Item` we boxed,
/// `context` our `CallCtx`.
unsafe fn deliver(env: sys::napi_env, dispatch: sys::napi_value, context: *mut c_void, data: *mut c_void) {
  if data.is_null() {
    return;
  }
  // SAFETY: `data` is an `Item` boxed by `JsSink::emit`, handed over exactly once.
  let item = *unsafe { Box::from_raw(data.cast::<Item>()) };
  if env.is_null() || dispatch.is_null() || context.is_null() {
    return;
  }
  let (id, event) = item.take();
  // SAFETY: `context` is the `CallCtx` of `init`, alive until `finalize`; JS thread.
  let ctx = unsafe { &*context.cast::<CallCtx>() };
  // SAFETY: JS thread, inside the handle and callback scope Node opens for the call.
  unsafe {
    let Ok((args, credit)) = to_args(&Env::from_raw(env), &ctx.live, &ctx.js, id, event) else {
      return;
    };
    let mut recv = ptr::null_mut();
    sys::napi_get_undefined(env, &mut recv);
    let argv = args.map(|arg| arg.0);
    let mut result = ptr::null_mut();
    let status = sys::napi_call_function(env, recv, dispatch, 4, argv.as_ptr(), &mut result);
    report_pending_exception(env, status);
    // The credit goes back now that the handler returned.
    drop(credit);
  }
}

/// The threadsafe function is gone (the environment ended): nothing may call it any more.
unsafe extern "C" fn finalize(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
  // SAFETY: `hint` is the boxed `CallCtx` of `init`; napi calls this once.
  let ctx = unsafe { Box::from_raw(hint.cast::<CallCtx>()) };
  *ctx.sink.tsfn.lock().unwrap_or_else(|p| p.into_inner()) = Tsfn(ptr::null_mut());
  ctx.live.tsfn.set(ptr::null_mut());
}

impl EnvCtx {
  /// This environment's context; `init` ran when the package loaded.
  pub fn of(env: &Env) -> Result<&'static EnvCtx> {
    match env.get_instance_data::<EnvCtx>()? {
      Some(ctx) => Ok(ctx),
      None => Err(napi::Error::new(
        Status::GenericFailure,
        "bun-sockets: init() was not called",
      )),
    }
  }

  pub fn sink(&self) -> Arc<dyn EventSink> {
    self.sink.clone()
  }

  /// Registers a listener for closing when the environment ends.
  pub fn own_listener(&self, id: HandleId, listener: &Arc<Listener>) {
    self
      .live
      .owned
      .borrow_mut()
      .insert(id, Owned::Listener(Arc::downgrade(listener)));
  }

  /// Registers a UDP socket for closing when the environment ends.
  pub fn own_udp(&self, id: HandleId, udp: &Arc<Udp>) {
    self.live.own_udp(id, udp);
  }

  /// `ref()` / `unref()` of handle `id`: counted while `on` and the handle is `alive`.
  pub fn set_ref(env: &Env, id: HandleId, alive: bool, on: bool) -> Result<()> {
    let ctx = EnvCtx::of(env)?;
    if on && alive {
      ctx.hold(id);
    } else if !on {
      ctx.release(id);
    }
    Ok(())
  }

  /// A handle closed by JS: no longer alive, nothing left to close when the environment ends.
  pub fn forget(env: &Env, id: HandleId) -> Result<()> {
    EnvCtx::of(env)?.live.forget(id);
    Ok(())
  }

  /// Counts `id` as keeping the event loop alive.
  pub fn hold(&self, id: HandleId) {
    self.live.hold(id);
  }

  /// Stops counting `id`.
  pub fn release(&self, id: HandleId) {
    self.live.release(id);
  }
}

impl Liveness {
  fn close_all(&self) {
    let owned = std::mem::take(&mut *self.owned.borrow_mut());
    for handle in owned.into_values() {
      match handle {
        Owned::Conn(conn) => {
          if let Some(conn) = conn.upgrade() {
            conn.abandon();
          }
        }
        Owned::Listener(listener) => {
          if let Some(listener) = listener.upgrade() {
            listener.stop();
          }
        }
        Owned::Udp(udp) => {
          if let Some(udp) = udp.upgrade() {
            udp.close();
          }
        }
      }
    }
  }

  fn own_udp(&self, id: HandleId, udp: &Arc<Udp>) {
    self
      .owned
      .borrow_mut()
      .insert(id, Owned::Udp(Arc::downgrade(udp)));
  }

  /// A handle that closed: no longer alive, nothing left to close when the environment ends.
  fn forget(&self, id: HandleId) {
    self.release(id);
    self.owned.borrow_mut().remove(&id);
  }

  fn own_conn(&self, conn: &Arc<Conn>) {
    self
      .owned
      .borrow_mut()
      .insert(conn.id(), Owned::Conn(Arc::downgrade(conn)));
  }

  fn hold(&self, id: HandleId) {
    let mut refs = self.refs.borrow_mut();
    let tsfn = self.tsfn.get();
    if refs.insert(id) && refs.len() == 1 && !tsfn.is_null() {
      // SAFETY: JS thread of the environment that owns this tsfn; not null, so not finalized.
      unsafe { sys::napi_ref_threadsafe_function(self.env, tsfn) };
    }
  }

  fn release(&self, id: HandleId) {
    let mut refs = self.refs.borrow_mut();
    let tsfn = self.tsfn.get();
    if refs.remove(&id) && refs.is_empty() && !tsfn.is_null() {
      // SAFETY: as in `hold`.
      unsafe { sys::napi_unref_threadsafe_function(self.env, tsfn) };
    }
  }
}

impl EventSink for JsSink {
  /// Queues an event; false once nobody will ever receive events again.
  fn emit(&self, id: HandleId, event: Event) -> bool {
    let tsfn = self.tsfn.lock().unwrap_or_else(|p| p.into_inner());
    if tsfn.0.is_null() {
      return false;
    }
    let item = Box::into_raw(Box::new(Item { id, event }));
    // SAFETY: the function is not finalized (it is cleared under this lock before that).
    let status = unsafe {
      sys::napi_call_threadsafe_function(tsfn.0, item.cast(), sys::ThreadsafeFunctionCallMode::nonblocking)
    };
    if status != sys::Status::napi_ok {
      // SAFETY: napi did not take it.
      drop(unsafe { Box::from_raw(item) });
      return false;
    }
    true
  }
}

impl ToNapiValue for Raw {
  unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
    Ok(val.0)
  }
}

/// Runs on the JS thread, right before `lib/dispatch.js` is called with the result; the event's
/// credit, if any, comes back with the arguments.
fn to_args(
  env: &Env,
  live: &Liveness,
  js: &Rc<JsTarget>,
  id: HandleId,
  event: Event,
) -> Result<(Args, Option<Credit>)> {
  let raw_env = env.raw();
  // SAFETY (all `to_napi_value` calls below): on the environment's JS thread, inside the
  // handle scope Node opens for the threadsafe call.
  let num = |n: u32| unsafe { u32::to_napi_value(raw_env, n) }.map(Raw);
  let undefined = || unsafe { <()>::to_napi_value(raw_env, ()) }.map(Raw);
  let error = |err: &SocketError| unsafe { ErrorInfo::to_napi_value(raw_env, ErrorInfo::from(err)) }.map(Raw);
  let buffer = |bytes: &[u8]| copy_buffer(raw_env, bytes).map(Raw);
  let mut credit = None;
  let (kind, a, b) = match event {
    Event::Open(conn) => {
      live.own_conn(&conn);
      start_reading(env, js, &conn)?;
      (EventKind::Open, native_socket(raw_env, conn)?, undefined()?)
    }
    Event::Accept(conn) => {
      let new_id = conn.id();
      live.hold(new_id);
      live.own_conn(&conn);
      start_reading(env, js, &conn)?;
      (EventKind::Accept, native_socket(raw_env, conn)?, num(new_id)?)
    }
    Event::Data(chunk, held) => {
      credit = Some(held);
      (EventKind::Data, buffer(&chunk)?, undefined()?)
    }
    Event::Records(chunk, held) => {
      credit = Some(held);
      (EventKind::Records, buffer(&chunk)?, undefined()?)
    }
    Event::Drain => (EventKind::Drain, undefined()?, undefined()?),
    Event::End => (EventKind::End, undefined()?, undefined()?),
    Event::Close(err) => {
      // Releasing before the handler runs is safe: Node checks liveness only after it.
      live.forget(id);
      let a = match &err {
        Some(err) => error(err)?,
        None => undefined()?,
      };
      (EventKind::Close, a, undefined()?)
    }
    Event::Error(err) => (EventKind::Error, error(&err)?, undefined()?),
    Event::ConnectError(err) => {
      live.release(id);
      (EventKind::ConnectError, error(&err)?, undefined()?)
    }
    Event::Timeout => (EventKind::Timeout, undefined()?, undefined()?),
    Event::Handshake(outcome) => {
      let result = HandshakeResult::from(&outcome);
      // SAFETY: as above.
      let a = unsafe { HandshakeResult::to_napi_value(raw_env, result) }.map(Raw)?;
      let b = match &outcome.error {
        Some(err) => error(err)?,
        None => undefined()?,
      };
      (EventKind::Handshake, a, b)
    }
    // keylog(line), session(token), hello(servername, ALPN wire): undefined when absent.
    Event::Tls(note) => match note {
      TlsNote::Keylog(line) => (EventKind::Keylog, buffer(&line)?, undefined()?),
      TlsNote::Session(token) => (EventKind::Session, buffer(&token)?, undefined()?),
      TlsNote::Hello { server_name, alpn } => {
        let name = match server_name {
          // SAFETY: as above.
          Some(name) => unsafe { String::to_napi_value(raw_env, name) }.map(Raw)?,
          None => undefined()?,
        };
        let alpn = match alpn {
          Some(wire) => buffer(&wire)?,
          None => undefined()?,
        };
        (EventKind::Hello, name, alpn)
      }
    },
    // A UDP socket whose names resolved: `open` on its id, with its native half.
    Event::Bound(udp) => {
      live.own_udp(id, &udp);
      let closer = udp.clone();
      // SAFETY: as above.
      let native = unsafe { NativeUdpSocket::to_napi_value(raw_env, NativeUdpSocket::new(udp, id)) }
        // JS will never hold it (nor hear of it): closed, and no longer keeping the loop alive.
        .inspect_err(|_| {
          closer.close();
          live.forget(id);
        })?;
      (EventKind::Open, Raw(native), undefined()?)
    }
    Event::Datagrams(batch, held) => {
      credit = Some(held);
      let (payloads, meta) = datagrams_to_js(raw_env, batch)?;
      (EventKind::Datagrams, Raw(payloads), Raw(meta))
    }
  };
  Ok(([num(id)?, num(kind as u32)?, a, b], credit))
}

/// A batch as `lib/udp.js` reads it: one Buffer of payloads back to back, and an array whose
/// first element packs four int32 per datagram (length, port, address index, flags) and whose
/// other elements are the distinct sender addresses.
fn datagrams_to_js(env: sys::napi_env, batch: Batch) -> Result<(sys::napi_value, sys::napi_value)> {
  let payloads = copy_buffer(env, &batch.bytes)?;
  let mut addresses: Vec<SocketAddr> = Vec::new();
  let mut meta = Vec::with_capacity(batch.datagrams.len() * DATAGRAM_FIELDS as usize * 4);
  for datagram in &batch.datagrams {
    let index = match addresses.iter().position(|a| a.ip() == datagram.from.ip()) {
      Some(index) => index,
      None => {
        addresses.push(datagram.from);
        addresses.len() - 1
      }
    };
    let flags = if datagram.truncated {
      DatagramFlag::Truncated as i32
    } else {
      0
    } | if datagram.from.is_ipv6() {
      DatagramFlag::Ipv6 as i32
    } else {
      0
    };
    let mut fields = [0i32; DATAGRAM_FIELDS as usize];
    fields[DatagramField::Length as usize] = datagram.len as i32;
    fields[DatagramField::Port as usize] = i32::from(datagram.from.port());
    fields[DatagramField::Address as usize] = index as i32;
    fields[DatagramField::Flags as usize] = flags;
    for value in fields {
      meta.extend_from_slice(&value.to_le_bytes());
    }
  }
  let mut list = ptr::null_mut();
  // SAFETY (this function's napi calls): JS thread, inside the threadsafe call's handle scope.
  check(unsafe { sys::napi_create_array_with_length(env, addresses.len() + 1, &mut list) })?;
  let meta = copy_buffer(env, &meta)?;
  check(unsafe { sys::napi_set_element(env, list, 0, meta) })?;
  for (i, addr) in addresses.iter().enumerate() {
    let text = crate::js::socket::ip_string(addr.ip());
    let value = unsafe { String::to_napi_value(env, text) }?;
    check(unsafe { sys::napi_set_element(env, list, i as u32 + 1, value) })?;
  }
  Ok((payloads, list))
}

/// A plain socket is read by this thread from now on; before JS sees it, so no chunk can
/// arrive before its handlers exist (they run only after this callback).
fn start_reading(env: &Env, js: &Rc<JsTarget>, conn: &Arc<Conn>) -> Result<()> {
  if conn.wants().is_some() {
    reader::watch(env, js, conn)?;
  }
  Ok(())
}

fn native_socket(env: sys::napi_env, conn: Arc<Conn>) -> Result<Raw> {
  // SAFETY: JS thread, inside the threadsafe call's handle scope.
  unsafe { NativeSocket::to_napi_value(env, NativeSocket::new(conn)) }.map(Raw)
}

/// Gives the core to another thread for a moment (the JS thread's short polls while it waits
/// for the I/O thread, which may share its core).
#[napi(catch_unwind)]
pub fn yield_now() {
  std::thread::yield_now();
}
