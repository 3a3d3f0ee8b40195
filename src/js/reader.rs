//! The JS thread reads its plain sockets itself.
//!
//! Each JS thread has one set holding its plain sockets (`net/poller`). On Linux it is an epoll
//! set nested in libuv's loop through one `uv_poll` handle: when a socket is ready, the thread
//! that runs the handlers wakes up directly, reads, and calls `lib/dispatch.js` — one wake-up
//! per message instead of two (the I/O thread's, then a threadsafe call to this thread), which
//! is what request/response traffic pays for. Elsewhere the I/O thread watches the sockets and
//! wakes this thread through one `uv_async` handle; the reading is the same. The I/O thread
//! still connects, accepts, resolves, times out and does TLS.
//!
//! One reader per socket at a time: a socket is in this set from its `open` until it closes or
//! `upgradeTLS` hands it to its TLS task. Everything here runs on the JS thread; no lock is held
//! while JS runs. When the environment ends, an async cleanup hook closes the sockets and the
//! uv handle (a Worker's loop must have no open handle left when it closes).

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::ptr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::ToNapiValue;
use napi::{sys, Env, Result, Status};

use crate::js::check;
use crate::js::errors::ErrorInfo;
use crate::js::slab::{new_buffer, Slab, MAX_BULK_READ, SLAB_MIN_ROOM};
use crate::net::conn::{Conn, Readout, Ready};
use crate::net::poller::{serve, Poller, ReadSink};
use crate::net::HandleId;

/// Looks at the set per wake-up from libuv, at most (timers and immediates wait that long).
const PASSES: usize = 8;
/// No further look once this much time went to serving sockets: a busy set (streams) returns
/// to libuv after every pass, as before there were several.
const PASS_BUDGET: std::time::Duration = std::time::Duration::from_millis(1);
/// Bytes read per syscall, as Node reads.
pub(super) const READ_SIZE: usize = 64 * 1024;

use crate::js::EventKind;

const UV_ASYNC: c_int = 1;
const UV_POLL: c_int = 8;
const UV_READABLE: c_int = 1;

extern "C" {
  fn uv_handle_size(kind: c_int) -> usize;
  fn uv_poll_init(event_loop: *mut sys::uv_loop_s, handle: *mut c_void, fd: c_int) -> c_int;
  fn uv_poll_start(handle: *mut c_void, events: c_int, cb: extern "C" fn(*mut c_void, c_int, c_int))
    -> c_int;
  fn uv_poll_stop(handle: *mut c_void) -> c_int;
  fn uv_async_init(
    event_loop: *mut sys::uv_loop_s,
    handle: *mut c_void,
    cb: extern "C" fn(*mut c_void),
  ) -> c_int;
  fn uv_async_send(handle: *mut c_void) -> c_int;
  fn uv_close(handle: *mut c_void, cb: extern "C" fn(*mut c_void));
  fn uv_unref(handle: *mut c_void);
}

/// Where one environment's events go: its `dispatch` function, called in a callback scope so
/// nextTicks and microtasks run after each event, as in Bun.
pub struct JsTarget {
  env: sys::napi_env,
  dispatch: sys::napi_ref,
  context: sys::napi_async_context,
}

struct Reader {
  poller: RefCell<Poller<Rc<JsTarget>>>,
  /// The uv_poll handle (epoll) or uv_async handle (elsewhere), owned by libuv until its close
  /// callback.
  handle: *mut c_void,
  /// The uv_async handle as the I/O thread signals it; None with epoll.
  signal: Option<Arc<Signal>>,
  slab: RefCell<Slab>,
  /// The ready sockets of one wake-up, kept for the next (no allocation per wake-up).
  ready: RefCell<Vec<ReadyEntry>>,
}

/// A ready socket, where its events go, and what its poll reported.
type ReadyEntry = (Arc<Conn>, Rc<JsTarget>, Ready);

thread_local! {
  static READER: RefCell<Option<Rc<Reader>>> = const { RefCell::new(None) };
  /// Set by the cleanup hook: this thread's environment is ending, no socket is taken any more.
  static ENDED: Cell<bool> = const { Cell::new(false) };
}

impl JsTarget {
  /// Holds `dispatch` for calls from the reader, made in `resource`'s async context.
  pub(crate) fn new(env: &Env, dispatch: sys::napi_value, resource: sys::napi_value) -> Result<JsTarget> {
    let raw = env.raw();
    let mut reference = ptr::null_mut();
    let mut context = ptr::null_mut();
    let mut name = ptr::null_mut();
    // SAFETY: JS thread of `env`, inside the `init` call.
    unsafe {
      check(sys::napi_create_reference(raw, dispatch, 1, &mut reference))?;
      let text = "BunSocketsRead";
      check(sys::napi_create_string_utf8(
        raw,
        text.as_ptr().cast(),
        text.len() as isize,
        &mut name,
      ))?;
      check(sys::napi_async_init(raw, resource, name, &mut context))?;
    }
    Ok(JsTarget {
      env: raw,
      dispatch: reference,
      context,
    })
  }

  /// Calls `dispatch(id, kind, a, b, c)`; the arguments are built inside the call's handle
  /// scope.
  fn call(&self, id: HandleId, kind: EventKind, args: impl FnOnce(sys::napi_env) -> Result<Args>) {
    let env = self.env;
    let mut scope = ptr::null_mut();
    // SAFETY: JS thread of `env`, called from libuv's poll phase (no JS on the stack); every
    // value made here lives in this handle scope.
    unsafe {
      if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
        return;
      }
      let _ = (|| -> Result<()> {
        let mut dispatch = ptr::null_mut();
        check(sys::napi_get_reference_value(env, self.dispatch, &mut dispatch))?;
        // napi_make_callback wants an object for `this`.
        let mut recv = ptr::null_mut();
        check(sys::napi_get_global(env, &mut recv))?;
        let [a, b, c] = args(env)?;
        let argv = [
          u32::to_napi_value(env, id)?,
          u32::to_napi_value(env, kind as u32)?,
          a,
          b,
          c,
        ];
        let mut result = ptr::null_mut();
        let status =
          sys::napi_make_callback(env, self.context, recv, dispatch, 5, argv.as_ptr(), &mut result);
        crate::js::report_pending_exception(env, status);
        Ok(())
      })();
      sys::napi_close_handle_scope(env, scope);
    }
  }
}

type Args = [sys::napi_value; 3];

/// Where the current read goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Into {
  Slab,
  /// A fresh ArrayBuffer of its own (`Turn::fresh`).
  Fresh,
}

/// One socket's turn: reads go into JS memory, readouts to JS.
struct Turn<'a> {
  reader: &'a Reader,
  slab: &'a mut Slab,
  js: &'a JsTarget,
  id: HandleId,
  fd: RawFd,
  into: Into,
  /// The fresh buffer of the current read, when `into` is `Fresh`.
  fresh: sys::napi_value,
  /// The last read of this turn was large: this is a stream.
  streaming: bool,
  /// The handle scope of the current read: each read's buffer is let go of as soon as its
  /// handler returned. (Held in one scope for a whole turn, a stream's buffers could not be
  /// freed by the collections V8 runs while allocating them, and a slow consumer grew by
  /// ~64 MB before a full collection.)
  scope: sys::napi_handle_scope,
}

impl Turn<'_> {
  fn open_scope(&mut self) {
    if self.scope.is_null() {
      // SAFETY: JS thread, in `Reader::run`; closed by `close_scope` (at the latest on drop).
      unsafe { sys::napi_open_handle_scope(self.slab.env, &mut self.scope) };
    }
  }

  fn close_scope(&mut self) {
    if !self.scope.is_null() {
      // SAFETY: the scope `open_scope` opened, innermost on this thread.
      unsafe { sys::napi_close_handle_scope(self.slab.env, self.scope) };
      self.scope = ptr::null_mut();
    }
  }
}

impl Drop for Turn<'_> {
  fn drop(&mut self) {
    self.close_scope();
  }
}

impl ReadSink for Turn<'_> {
  fn buffer(&mut self) -> Option<&mut [u8]> {
    self.open_scope();
    let env = self.slab.env;
    if self.streaming {
      let want = available(self.fd).min(MAX_BULK_READ);
      if want > 0 {
        // SAFETY: on the JS thread in `Reader::run`, inside its handle scope; the memory is
        // used by the read that follows, before any call into JS.
        if let Ok((value, data)) = unsafe { new_buffer(env, want) } {
          self.into = Into::Fresh;
          self.fresh = value;
          // SAFETY: `data` holds `want` bytes, alive while `value` is (this handle scope).
          return Some(unsafe { std::slice::from_raw_parts_mut(data, want) });
        }
      }
    }
    // SAFETY: as above.
    let room = unsafe { self.slab.room() }.ok()?;
    self.into = Into::Slab;
    Some(room)
  }

  fn data(&mut self, n: usize) {
    self.streaming = n >= SLAB_MIN_ROOM;
    let (into, fresh) = (self.into, self.fresh);
    let slab = &mut *self.slab;
    self.js.call(self.id, EventKind::Slice, |env| {
      let (buffer, offset) = match into {
        Into::Fresh => (fresh, 0),
        // SAFETY: inside `call`'s handle scope, after `buffer`.
        _ => unsafe { slab.take(n) }?,
      };
      // SAFETY: as above.
      unsafe {
        Ok([
          buffer,
          u32::to_napi_value(env, offset as u32)?,
          u32::to_napi_value(env, n as u32)?,
        ])
      }
    });
    self.close_scope();
  }

  fn event(&mut self, out: Readout) {
    if let Readout::Data(n) = out {
      return self.data(n);
    }
    self.close_scope();
    let id = self.id;
    match out {
      Readout::Data(_) => {}
      Readout::End => self.js.call(id, EventKind::End, undefineds),
      Readout::Drain => self.js.call(id, EventKind::Drain, undefineds),
      Readout::Close(err) => {
        self.reader.poller.borrow_mut().remove(id);
        self.js.call(id, EventKind::Close, |env| {
          let a = match &err {
            // SAFETY: inside `call`'s handle scope.
            Some(err) => unsafe { ErrorInfo::to_napi_value(env, ErrorInfo::from(err)) }?,
            None => undefined(env)?,
          };
          Ok([a, undefined(env)?, undefined(env)?])
        });
      }
    }
  }
}

/// Bytes the kernel holds for a socket (FIONREAD); 0 when it cannot say.
fn available(fd: RawFd) -> usize {
  let mut n: libc::c_int = 0;
  // SAFETY: FIONREAD writes one int; a stale descriptor only makes the call fail.
  if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } < 0 {
    return 0;
  }
  n.max(0) as usize
}

fn undefineds(env: sys::napi_env) -> Result<Args> {
  let value = undefined(env)?;
  Ok([value, value, value])
}

/// Starts reading `conn` on this thread, its events going to `js`.
pub fn watch(env: &Env, js: &Rc<JsTarget>, conn: &Arc<Conn>) -> Result<()> {
  if ENDED.get() {
    conn.abandon();
    return Ok(());
  }
  let reader = reader(env)?;
  let added = reader.poller.borrow_mut().add(conn, js.clone());
  added.map_err(|err| {
    napi::Error::new(
      Status::GenericFailure,
      format!("bun-sockets: cannot watch a socket: {err}"),
    )
  })
}

/// Brings a socket's registration in line with its state (after pause, resume, a short write,
/// end or shutdown); forgets it once its reader is no longer this thread.
pub fn update(id: HandleId) {
  with_reader(|reader| reader.poller.borrow_mut().update(id));
}

/// Stops reading a socket here (closed, or handed to its TLS task).
pub fn forget(id: HandleId) {
  with_reader(|reader| reader.poller.borrow_mut().remove(id));
}

fn with_reader(f: impl FnOnce(&Reader)) {
  if let Some(reader) = READER.with(|cell| cell.borrow().clone()) {
    f(&reader);
  }
}

impl Reader {
  /// libuv saw the set ready: serve every ready socket, each event a call into JS. No borrow
  /// of the set is held while JS runs (handlers pause, write and close sockets).
  ///
  /// Handlers that write to a socket whose other end is in this process make that end ready
  /// at once: the set is asked again, up to `PASSES` times and within `PASS_BUDGET`, before
  /// libuv gets the thread back, so a local request/response does not pay a loop turn per
  /// message.
  fn run(&self) {
    let start = std::time::Instant::now();
    for _ in 0..PASSES {
      if self.pass() == 0 || start.elapsed() >= PASS_BUDGET {
        break;
      }
    }
  }

  /// One look at the set; how many sockets were ready.
  fn pass(&self) -> usize {
    let env = self.slab.borrow().env;
    let mut scope = ptr::null_mut();
    // SAFETY: JS thread; the slab's napi values live in this scope.
    if unsafe { sys::napi_open_handle_scope(env, &mut scope) } != sys::Status::napi_ok {
      return 0;
    }
    let mut ready = std::mem::take(&mut *self.ready.borrow_mut());
    self.poller.borrow_mut().ready(0, &mut ready);
    let count = ready.len();
    // Only `run` uses these, and JS cannot call `run`: held across the calls into JS.
    let mut slab = self.slab.borrow_mut();
    for (conn, js, mut flags) in ready.drain(..) {
      let id = conn.id();
      let mut turn = Turn {
        reader: self,
        slab: &mut slab,
        js: &js,
        id,
        fd: conn.raw_fd(),
        into: Into::Slab,
        fresh: ptr::null_mut(),
        streaming: false,
        scope: ptr::null_mut(),
      };
      if serve(&conn, &mut flags, &mut turn) {
        self.poller.borrow_mut().served(id, flags);
      }
    }
    drop(slab);
    *self.ready.borrow_mut() = ready;
    // SAFETY: the scope opened above.
    unsafe { sys::napi_close_handle_scope(env, scope) };
    count
  }
}

fn undefined(env: sys::napi_env) -> Result<sys::napi_value> {
  let mut value = ptr::null_mut();
  // SAFETY: JS thread, inside a handle scope.
  check(unsafe { sys::napi_get_undefined(env, &mut value) })?;
  Ok(value)
}

/// This thread's reader, created (with its epoll set and uv handle) on first use.
fn reader(env: &Env) -> Result<Rc<Reader>> {
  if let Some(reader) = READER.with(|cell| cell.borrow().clone()) {
    return Ok(reader);
  }
  let mut poller = Poller::new().map_err(|err| {
    napi::Error::new(
      Status::GenericFailure,
      format!("bun-sockets: cannot create the socket set: {err}"),
    )
  })?;
  let event_loop = env.get_uv_event_loop()?;
  let (handle, signal) = match poller.fd() {
    Some(fd) => (start_poll(event_loop, fd)?, None),
    None => {
      let handle = start_async(event_loop)?;
      let signal = Arc::new(Signal(Mutex::new(SignalHandle(handle))));
      let sender = signal.clone();
      poller.set_waker(Box::new(move || sender.send()));
      (handle, Some(signal))
    }
  };
  let reader = Rc::new(Reader {
    poller: RefCell::new(poller),
    handle,
    signal,
    slab: RefCell::new(Slab::new(env.raw())),
    ready: RefCell::default(),
  });
  READER.with(|cell| *cell.borrow_mut() = Some(reader.clone()));
  // SAFETY: JS thread of `env`; `on_cleanup` removes the hook once the handle closed.
  let status = unsafe {
    sys::napi_add_async_cleanup_hook(env.raw(), Some(on_cleanup), ptr::null_mut(), ptr::null_mut())
  };
  check(status)?;
  Ok(reader)
}

/// A uv_poll handle on the epoll set `fd`, calling `on_poll` when it is readable.
fn start_poll(event_loop: *mut sys::uv_loop_s, fd: RawFd) -> Result<*mut c_void> {
  let handle = new_handle(UV_POLL)?;
  // SAFETY: JS thread, which runs `event_loop`; `handle` is valid zeroed memory of the right
  // size. Unref'd: liveness is counted by `dispatch.rs`, not by this handle.
  let started = unsafe {
    let mut status = uv_poll_init(event_loop, handle, fd);
    if status == 0 {
      status = uv_poll_start(handle, UV_READABLE, on_poll);
      uv_unref(handle);
      if status != 0 {
        uv_close(handle, on_closed);
      }
    } else {
      libc::free(handle);
    }
    status
  };
  if started != 0 {
    return Err(napi::Error::new(
      Status::GenericFailure,
      format!("bun-sockets: cannot watch the epoll set (libuv error {started})"),
    ));
  }
  Ok(handle)
}

/// A uv_async handle the I/O thread signals when it queued a ready socket.
fn start_async(event_loop: *mut sys::uv_loop_s) -> Result<*mut c_void> {
  let handle = new_handle(UV_ASYNC)?;
  // SAFETY: as in `start_poll`.
  let status = unsafe {
    let status = uv_async_init(event_loop, handle, on_async);
    if status == 0 {
      uv_unref(handle);
    } else {
      libc::free(handle);
    }
    status
  };
  if status != 0 {
    return Err(napi::Error::new(
      Status::GenericFailure,
      format!("bun-sockets: cannot create a uv_async handle (libuv error {status})"),
    ));
  }
  Ok(handle)
}

/// Zeroed memory for a uv handle of `kind`, freed in `on_closed`.
fn new_handle(kind: c_int) -> Result<*mut c_void> {
  // SAFETY: libuv's own size for the handle type.
  let handle = unsafe { libc::calloc(1, uv_handle_size(kind)) };
  if handle.is_null() {
    return Err(napi::Error::new(
      Status::GenericFailure,
      "bun-sockets: out of memory",
    ));
  }
  Ok(handle)
}

/// The uv_async handle, for the I/O thread: null once it is closing.
struct Signal(Mutex<SignalHandle>);

struct SignalHandle(*mut c_void);

// SAFETY: uv_async_send may be called from any thread while the handle is open; the pointer is
// only used under the mutex, and nulled there before the handle is closed.
unsafe impl Send for SignalHandle {}

impl Signal {
  fn send(&self) {
    let handle = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !handle.0.is_null() {
      // SAFETY: the handle is open (see `SignalHandle`).
      unsafe { uv_async_send(handle.0) };
    }
  }

  fn disarm(&self) {
    self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).0 = ptr::null_mut();
  }
}

extern "C" fn on_poll(_handle: *mut c_void, _status: c_int, _events: c_int) {
  crate::js::from_c("the reader", || with_reader(Reader::run));
}

extern "C" fn on_async(_handle: *mut c_void) {
  crate::js::from_c("the reader", || with_reader(Reader::run));
}

/// The environment ends: close the sockets still here, then the handle; the hook is removed
/// once libuv has closed it.
unsafe extern "C" fn on_cleanup(hook: sys::napi_async_cleanup_hook_handle, _data: *mut c_void) {
  // SAFETY: as the caller (napi) promises.
  crate::js::from_c("the cleanup hook", || unsafe { cleanup(hook) });
}

/// `on_cleanup`'s work.
///
/// SAFETY: JS thread of the ending environment; `hook` is this hook's handle.
unsafe fn cleanup(hook: sys::napi_async_cleanup_hook_handle) {
  ENDED.set(true);
  let Some(reader) = READER.with(|cell| cell.borrow_mut().take()) else {
    // SAFETY: the handle napi gave this hook.
    unsafe { sys::napi_remove_async_cleanup_hook(hook) };
    return;
  };
  let conns = reader.poller.borrow_mut().drain();
  for conn in conns {
    conn.abandon();
  }
  let handle = reader.handle;
  if let Some(signal) = &reader.signal {
    signal.disarm();
  }
  // SAFETY: JS thread; `handle` is the live uv handle (no other thread uses it any more). Its
  // `data` (the first field of every uv handle) carries the hook to remove once closed.
  unsafe {
    if reader.signal.is_none() {
      uv_poll_stop(handle);
    }
    *(handle as *mut *mut c_void) = hook as *mut c_void;
    uv_close(handle, on_closed);
  }
}

extern "C" fn on_closed(handle: *mut c_void) {
  // SAFETY: libuv is done with `handle`; `data` holds the cleanup hook, or null.
  unsafe {
    let hook = *(handle as *mut *mut c_void) as sys::napi_async_cleanup_hook_handle;
    libc::free(handle);
    if !hook.is_null() {
      sys::napi_remove_async_cleanup_hook(hook);
    }
  }
}
