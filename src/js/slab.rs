//! The JS memory the reader reads into.

use std::ptr;

use napi::{sys, Result};

use crate::js::check;
use crate::js::reader::READ_SIZE;

/// The JS memory reads go into. Received bytes are copied once, from the kernel to the memory
/// the handler gets, and each chunk is a view of an ArrayBuffer that V8 accounts for, so a slow
/// consumer's garbage is collected in time.
///
/// - Small messages share a slab, filled front to back, instead of allocating one each.
/// - A large read retires its slab, and the reads after it in the same turn (a stream) go into
///   a fresh buffer of the exact size the kernel holds (FIONREAD). Bulk chunks thus die young,
///   with their own memory: slabs shared across several large reads outlived young-generation
///   collections and, promoted, waited for a full one (a slow consumer peaked 64 MB higher).
pub(super) struct Slab {
  pub(super) env: sys::napi_env,
  /// The current slab's ArrayBuffer (a strong reference, dropped when it retires), or null.
  buffer: sys::napi_ref,
  data: *mut u8,
  used: usize,
}

/// A slab's size: one full read.
const SLAB_SIZE: usize = READ_SIZE;
/// Less room than this left in a slab, or a read this large, and the next read takes a new one.
pub(super) const SLAB_MIN_ROOM: usize = 8 * 1024;
/// The most a stream's read takes at once, as Node reads: a larger buffer comes from mmap and
/// faults in every page (256 KiB reads cut one-way throughput by a quarter).
pub(super) const MAX_BULK_READ: usize = 64 * 1024;

/// A fresh ArrayBuffer of `len` bytes, not zero-filled (every byte a chunk shows is read into
/// it): (its value, its memory).
///
/// SAFETY: JS thread of `env`, inside a handle scope.
pub(super) unsafe fn new_buffer(env: sys::napi_env, len: usize) -> Result<(sys::napi_value, *mut u8)> {
  let mut buffer = ptr::null_mut();
  let mut data = ptr::null_mut();
  let mut arraybuffer = ptr::null_mut();
  let mut kind = 0;
  let mut length = 0;
  let mut offset = 0;
  // SAFETY: as the caller promised. napi_create_buffer is Node's uninitialized allocation; its
  // Buffer owns a whole ArrayBuffer of its own (offset 0).
  unsafe {
    check(sys::napi_create_buffer(env, len, &mut data, &mut buffer))?;
    check(sys::napi_get_typedarray_info(
      env,
      buffer,
      &mut kind,
      &mut length,
      &mut data,
      &mut arraybuffer,
      &mut offset,
    ))?;
  }
  Ok((arraybuffer, data.cast()))
}

impl Slab {
  pub(super) fn new(env: sys::napi_env) -> Slab {
    Slab {
      env,
      buffer: ptr::null_mut(),
      data: ptr::null_mut(),
      used: 0,
    }
  }

  /// Room for the next read, in a fresh slab if this one is short of it (or was detached by a
  /// transfer of its ArrayBuffer: then its memory is no longer ours).
  ///
  /// SAFETY: JS thread of `env`, inside a handle scope. The slice is valid until the next call
  /// into JS (which could detach the buffer).
  pub(super) unsafe fn room(&mut self) -> Result<&mut [u8]> {
    let env = self.env;
    // SAFETY: as the caller promised.
    unsafe {
      if !self.buffer.is_null() {
        let mut value = ptr::null_mut();
        let mut detached = true;
        check(sys::napi_get_reference_value(env, self.buffer, &mut value))?;
        check(sys::napi_is_detached_arraybuffer(env, value, &mut detached))?;
        if !detached {
          return Ok(std::slice::from_raw_parts_mut(
            self.data.add(self.used),
            SLAB_SIZE - self.used,
          ));
        }
        self.retire();
      }
      let (value, data) = new_buffer(env, SLAB_SIZE)?;
      check(sys::napi_create_reference(env, value, 1, &mut self.buffer))?;
      self.data = data;
      self.used = 0;
      Ok(std::slice::from_raw_parts_mut(self.data, SLAB_SIZE))
    }
  }

  /// Takes the `n` bytes the last read put at the front of the room: (the slab, their offset).
  ///
  /// SAFETY: JS thread of `env`, inside a handle scope, after `room`.
  pub(super) unsafe fn take(&mut self, n: usize) -> Result<(sys::napi_value, usize)> {
    let offset = self.used;
    // Keep views 8-byte aligned, as allocations are.
    self.used = (offset + n + 7) & !7;
    let mut value = ptr::null_mut();
    // SAFETY: as the caller promised.
    check(unsafe { sys::napi_get_reference_value(self.env, self.buffer, &mut value) })?;
    if n >= SLAB_MIN_ROOM || SLAB_SIZE - self.used < SLAB_MIN_ROOM {
      // SAFETY: as above; the local `value` keeps the slab alive for this call.
      unsafe { self.retire() };
    }
    Ok((value, offset))
  }

  /// Lets go of the current slab: its chunks alone keep it alive now.
  ///
  /// SAFETY: JS thread of `env`.
  pub(super) unsafe fn retire(&mut self) {
    if !self.buffer.is_null() {
      // SAFETY: as the caller promised; a reference we made.
      unsafe { sys::napi_delete_reference(self.env, self.buffer) };
      self.buffer = ptr::null_mut();
      self.data = ptr::null_mut();
      self.used = 0;
    }
  }
}
