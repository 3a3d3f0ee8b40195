//! Events to JS, and liveness.
//!
//! One weak `ThreadsafeFunction` per Node environment carries every event of its sockets and
//! listeners, one call per event (a FIFO: each socket's events reach JS in order, and Node runs
//! nextTicks and microtasks between calls, as Bun does). It calls `lib/dispatch.js` with
//! `(id, kind, a, b)`.
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

use napi::bindgen_prelude::{FnArgs, Function, JsValue, ToNapiValue};
use napi::threadsafe_function::{
  ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use napi::{sys, Env, Result, Status};
use napi_derive::napi;

use crate::error::SocketError;
use crate::js::errors::ErrorInfo;
use crate::js::reader::{self, JsTarget};
use crate::js::socket::NativeSocket;
use std::net::SocketAddr;

use crate::net::tls::{HandshakeOutcome, TlsNote};
use crate::net::udp::{Batch, Udp};
use crate::net::{Conn, Credit, Event, EventSink, HandleId, Listener};

// Event kinds; `lib/dispatch.js` has the same table.
const OPEN: u32 = 0;
const ACCEPT: u32 = 1;
const DATA: u32 = 2;
const DRAIN: u32 = 3;
const END: u32 = 4;
const CLOSE: u32 = 5;
const ERROR: u32 = 6;
const CONNECT_ERROR: u32 = 7;
const TIMEOUT: u32 = 8;
const DATAGRAMS: u32 = 9;
const HANDSHAKE: u32 = 10;
const KEYLOG: u32 = 11;
const SESSION: u32 = 12;
const HELLO: u32 = 13;

/// A JS value made in the callback, passed through as is.
pub struct Raw(sys::napi_value);

type Args = FnArgs<(Raw, Raw, Raw, Raw)>;

type Tsfn = ThreadsafeFunction<(HandleId, Payload), UnknownReturnValue, Args, Status, false, true, 0>;

/// An event as it crosses to the JS thread: a `Data` chunk's credit stays behind in the return
/// callback, so it is released only after the handler returned.
enum Payload {
  Open(Arc<Conn>),
  Accept(Arc<Conn>),
  Data(Vec<u8>),
  Drain,
  End,
  Close(Option<SocketError>),
  Error(SocketError),
  ConnectError(SocketError),
  Timeout,
  Datagrams(Batch),
  Handshake(HandshakeOutcome),
  Records(Vec<u8>),
  Tls(TlsNote),
}

/// Per-environment state, kept as the environment's instance data.
pub struct EnvCtx {
  sink: Arc<JsSink>,
  live: Rc<Liveness>,
  /// Held so that its `dispatch` reference lives as long as the environment's context.
  _js: Rc<JsTarget>,
}

struct JsSink {
  tsfn: Tsfn,
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

/// Connects this environment to `lib/dispatch.js`. Called once when the package loads.
#[napi]
pub fn init(env: Env, dispatch: Function<'_, Args, UnknownReturnValue>) -> Result<()> {
  let js = Rc::new(JsTarget::new(&env, dispatch.value().value)?);
  let live = Rc::new(Liveness {
    env: env.raw(),
    tsfn: Cell::new(ptr::null_mut()),
    refs: RefCell::default(),
    owned: RefCell::default(),
  });
  let callback_live = live.clone();
  let callback_js = js.clone();
  let tsfn: Tsfn = dispatch
    .build_threadsafe_function::<(HandleId, Payload)>()
    .callee_handled::<false>()
    .weak::<true>()
    .max_queue_size::<0>()
    .build_callback(move |ctx: ThreadsafeCallContext<(HandleId, Payload)>| {
      to_args(&ctx.env, &callback_live, &callback_js, ctx.value)
    })?;
  live.tsfn.set(tsfn.raw());
  let hook_live = live.clone();
  env.add_env_cleanup_hook((), move |()| hook_live.close_all())?;
  let ctx = EnvCtx {
    sink: Arc::new(JsSink { tsfn }),
    live,
    _js: js,
  };
  env.set_instance_data(ctx, (), |_| {})
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
    self
      .live
      .owned
      .borrow_mut()
      .insert(id, Owned::Udp(Arc::downgrade(udp)));
  }

  /// Forgets a closed socket or stopped listener.
  pub fn disown(&self, id: HandleId) {
    self.live.owned.borrow_mut().remove(&id);
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
    let ctx = EnvCtx::of(env)?;
    ctx.release(id);
    ctx.disown(id);
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

  fn own_conn(&self, conn: &Arc<Conn>) {
    self
      .owned
      .borrow_mut()
      .insert(conn.id(), Owned::Conn(Arc::downgrade(conn)));
  }

  fn hold(&self, id: HandleId) {
    let mut refs = self.refs.borrow_mut();
    if refs.insert(id) && refs.len() == 1 {
      // SAFETY: JS thread of the environment that owns this tsfn; the tsfn lives as long as
      // the environment's instance data.
      unsafe { sys::napi_ref_threadsafe_function(self.env, self.tsfn.get()) };
    }
  }

  fn release(&self, id: HandleId) {
    let mut refs = self.refs.borrow_mut();
    if refs.remove(&id) && refs.is_empty() {
      // SAFETY: as in `hold`.
      unsafe { sys::napi_unref_threadsafe_function(self.env, self.tsfn.get()) };
    }
  }
}

impl JsSink {
  /// Queues `payload`; `credit` is released once the handler has returned.
  fn call_with_credit(&self, id: HandleId, payload: Payload, credit: Credit) -> bool {
    let release = move |_: Result<UnknownReturnValue>, _: Env| {
      drop(credit);
      Ok(())
    };
    let status =
      self
        .tsfn
        .call_with_return_value((id, payload), ThreadsafeFunctionCallMode::NonBlocking, release);
    status == Status::Ok
  }
}

impl EventSink for JsSink {
  fn emit(&self, id: HandleId, event: Event) -> bool {
    let payload = match event {
      Event::Data(chunk, credit) => return self.call_with_credit(id, Payload::Data(chunk), credit),
      Event::Records(chunk, credit) => return self.call_with_credit(id, Payload::Records(chunk), credit),
      Event::Datagrams(batch, credit) => return self.call_with_credit(id, Payload::Datagrams(batch), credit),
      Event::Open(conn) => Payload::Open(conn),
      Event::Accept(conn) => Payload::Accept(conn),
      Event::Drain => Payload::Drain,
      Event::End => Payload::End,
      Event::Close(err) => Payload::Close(err),
      Event::Error(err) => Payload::Error(err),
      Event::ConnectError(err) => Payload::ConnectError(err),
      Event::Timeout => Payload::Timeout,
      Event::Handshake(outcome) => Payload::Handshake(outcome),
      Event::Tls(note) => Payload::Tls(note),
    };
    // Fails only once the environment is shutting down; the event is dropped with it.
    let status = self
      .tsfn
      .call((id, payload), ThreadsafeFunctionCallMode::NonBlocking);
    status == Status::Ok
  }
}

impl ToNapiValue for Raw {
  unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
    Ok(val.0)
  }
}

/// Runs on the JS thread, right before `lib/dispatch.js` is called with the result.
fn to_args(
  env: &Env,
  live: &Liveness,
  js: &Rc<JsTarget>,
  (id, payload): (HandleId, Payload),
) -> Result<Args> {
  let raw_env = env.raw();
  // SAFETY (all `to_napi_value` calls below): on the environment's JS thread, inside the
  // handle scope Node opens for the threadsafe call.
  let num = |n: u32| unsafe { u32::to_napi_value(raw_env, n) }.map(Raw);
  let undefined = || unsafe { <()>::to_napi_value(raw_env, ()) }.map(Raw);
  let error = |err: &SocketError| unsafe { ErrorInfo::to_napi_value(raw_env, ErrorInfo::from(err)) }.map(Raw);
  let (kind, a, b) = match payload {
    Payload::Open(conn) => {
      live.own_conn(&conn);
      start_reading(env, js, &conn)?;
      (OPEN, native_socket(raw_env, conn)?, undefined()?)
    }
    Payload::Accept(conn) => {
      let new_id = conn.id();
      live.hold(new_id);
      live.own_conn(&conn);
      start_reading(env, js, &conn)?;
      (ACCEPT, native_socket(raw_env, conn)?, num(new_id)?)
    }
    Payload::Data(chunk) => (DATA, Raw(chunk_to_js(raw_env, chunk)?), undefined()?),
    // SAFETY: as above.
    Payload::Records(chunk) => (
      DATA,
      Raw(chunk_to_js(raw_env, chunk)?),
      unsafe { bool::to_napi_value(raw_env, true) }.map(Raw)?,
    ),
    Payload::Drain => (DRAIN, undefined()?, undefined()?),
    Payload::End => (END, undefined()?, undefined()?),
    Payload::Close(err) => {
      // Releasing before the handler runs is safe: Node checks liveness only after it.
      live.release(id);
      live.owned.borrow_mut().remove(&id);
      let a = match &err {
        Some(err) => error(err)?,
        None => undefined()?,
      };
      (CLOSE, a, undefined()?)
    }
    Payload::Error(err) => (ERROR, error(&err)?, undefined()?),
    Payload::ConnectError(err) => {
      live.release(id);
      (CONNECT_ERROR, error(&err)?, undefined()?)
    }
    Payload::Timeout => (TIMEOUT, undefined()?, undefined()?),
    Payload::Handshake(outcome) => {
      // 0: failed, close follows; 1: succeeded; 2: succeeded, but the peer is refused and
      // close follows; 3: reported as failed, but the connection stays up.
      let success = num(match (outcome.success, outcome.close) {
        (false, true) => 0,
        (true, false) => 1,
        (true, true) => 2,
        (false, false) => 3,
      })?;
      let b = match &outcome.error {
        Some(err) => error(err)?,
        None => undefined()?,
      };
      (HANDSHAKE, success, b)
    }
    // keylog(line), session(token), hello(servername, ALPN wire): undefined when absent.
    Payload::Tls(note) => {
      let buffer = |bytes: Vec<u8>| chunk_to_js(raw_env, bytes).map(Raw);
      match note {
        TlsNote::Keylog(line) => (KEYLOG, buffer(line)?, undefined()?),
        TlsNote::Session(token) => (SESSION, buffer(token)?, undefined()?),
        TlsNote::Hello { server_name, alpn } => {
          let name = match server_name {
            // SAFETY: as above.
            Some(name) => unsafe { String::to_napi_value(raw_env, name) }.map(Raw)?,
            None => undefined()?,
          };
          let alpn = match alpn {
            Some(wire) => buffer(wire)?,
            None => undefined()?,
          };
          (HELLO, name, alpn)
        }
      }
    }
    Payload::Datagrams(batch) => {
      let (payloads, meta) = datagrams_to_js(raw_env, batch)?;
      (DATAGRAMS, Raw(payloads), Raw(meta))
    }
  };
  Ok(FnArgs::from((num(id)?, num(kind)?, a, b)))
}

/// A batch as `lib/udp.js` reads it: one Buffer of payloads back to back, and an array whose
/// first element packs four int32 per datagram (length, port, address index, flags) and whose
/// other elements are the distinct sender addresses.
fn datagrams_to_js(env: sys::napi_env, batch: Batch) -> Result<(sys::napi_value, sys::napi_value)> {
  let payloads = chunk_to_js(env, batch.bytes)?;
  let mut addresses: Vec<SocketAddr> = Vec::new();
  let mut meta = Vec::with_capacity(batch.datagrams.len() * 16);
  for datagram in &batch.datagrams {
    let index = match addresses.iter().position(|a| a.ip() == datagram.from.ip()) {
      Some(index) => index,
      None => {
        addresses.push(datagram.from);
        addresses.len() - 1
      }
    };
    let flags = i32::from(datagram.truncated) | (i32::from(datagram.from.is_ipv6()) << 1);
    for value in [
      datagram.len as i32,
      i32::from(datagram.from.port()),
      index as i32,
      flags,
    ] {
      meta.extend_from_slice(&value.to_le_bytes());
    }
  }
  let mut list = ptr::null_mut();
  // SAFETY (this function's napi calls): JS thread, inside the threadsafe call's handle scope.
  check(unsafe { sys::napi_create_array_with_length(env, addresses.len() + 1, &mut list) })?;
  let meta = copy_chunk(env, &meta)?;
  check(unsafe { sys::napi_set_element(env, list, 0, meta) })?;
  for (i, addr) in addresses.iter().enumerate() {
    let text = crate::js::socket::ip_string(addr.ip());
    let value = unsafe { String::to_napi_value(env, text) }?;
    check(unsafe { sys::napi_set_element(env, list, i as u32 + 1, value) })?;
  }
  Ok((payloads, list))
}

fn check(status: sys::napi_status) -> Result<()> {
  if status == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(napi::Error::new(
      Status::from(status),
      "cannot build the datagram batch",
    ))
  }
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

/// Received bytes become a fresh Buffer, copied. Handing the Vec over as an external buffer
/// saved the copy but V8 collected those late: a slow consumer peaked at 116 MB RSS instead of
/// 53 MB flooding 256 MiB, even with `napi_adjust_external_memory`.
fn chunk_to_js(env: sys::napi_env, chunk: Vec<u8>) -> Result<sys::napi_value> {
  copy_chunk(env, &chunk)
}

fn copy_chunk(env: sys::napi_env, chunk: &[u8]) -> Result<sys::napi_value> {
  let mut value = ptr::null_mut();
  let mut data = ptr::null_mut();
  // SAFETY: JS thread; Node copies `chunk.len()` bytes from a live slice.
  let status =
    unsafe { sys::napi_create_buffer_copy(env, chunk.len(), chunk.as_ptr().cast(), &mut data, &mut value) };
  if status != sys::Status::napi_ok {
    return Err(napi::Error::new(
      Status::from(status),
      "cannot allocate a Buffer for received data",
    ));
  }
  Ok(value)
}
