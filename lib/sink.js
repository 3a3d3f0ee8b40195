'use strict'
// Bun.ArrayBufferSink in plain JS, matching Bun 1.4.4 call for call (probed against the real one).
//
// The model Bun implements, which every method below follows:
// - One growable byte buffer, a `done` flag set by end(), and two modes set by start():
//   `stream` (flush() hands back what was written since the last flush) and `asUint8Array`
//   (results are Uint8Arrays instead of ArrayBuffers).
// - start() empties the buffer and clears `done`. It replaces both modes only when its options
//   carry a boolean `asUint8Array` (own property), a boolean `stream`, or a number `highWaterMark`;
//   otherwise (no options, `{}`, `{ stream: 1 }`) the previous modes stay.
// - flush() outside stream mode returns 0, whatever was written.
// - end() returns everything not yet flushed and sets `done`; writes are still accepted after it,
//   but a later end() returns an empty ArrayBuffer (never a Uint8Array) until start() runs again.
//   Only a stream-mode flush() can still retrieve bytes written after end().
// - close() detaches the sink for good: write/flush/end/start throw a plain Error from then on.
// Results are fresh, exactly sized, non-resizable copies created in this module's realm (so Jest's
// `toBeInstanceOf(ArrayBuffer)` holds); the internal buffer is never exposed.

const { types } = require('node:util')
const { typeError } = require('./errors')

const kState = Symbol('kState')

const WRITE_EXPECTS = 'write() expects a string, ArrayBufferView, or ArrayBuffer'
const CLOSED =
  'This ArrayBufferSink has already been closed. ' +
  'A "direct" ReadableStream terminates its underlying socket once `async pull()` returns.'

// highWaterMark is only a capacity hint (Bun reserves it up front, lazily mapped). Reserving more
// than this here would commit real memory or throw RangeError; beyond it the buffer grows on demand.
const MAX_RESERVE = 16 * 1024 * 1024
const MIN_CAPACITY = 64
const EMPTY = Buffer.alloc(0)
const SHORT_STRING = 64

// %TypedArray%.prototype[Symbol.toStringTag]: the element type of a view from any realm.
const TypedArray = Object.getPrototypeOf(Uint8Array.prototype)
const typedArrayTag = Object.getOwnPropertyDescriptor(TypedArray, Symbol.toStringTag).get

class SinkState {
  constructor() {
    this.buf = EMPTY // a Buffer (of any realm) that never leaves this module
    this.len = 0
    this.done = false
    this.stream = false
    this.asUint8Array = false
    this.closed = false
  }

  /** Room for `extra` more bytes; doubles so that n writes cost O(n) copying overall. */
  reserve(extra) {
    const need = this.len + extra
    const cap = this.buf.length
    if (need <= cap) return
    const grown = Buffer.allocUnsafeSlow(Math.max(need, cap * 2, MIN_CAPACITY))
    if (this.len > 0) this.buf.copy(grown, 0, 0, this.len)
    this.buf = grown
  }

  writeBytes(bytes) {
    const n = bytes.byteLength
    if (this.len + n > this.buf.length) this.reserve(n)
    this.buf.set(bytes, this.len)
    this.len += n
    return n
  }

  writeString(str) {
    // UTF-8 never takes more than 3 bytes per UTF-16 unit; only measure exactly when that bound
    // would force a grow, so short writes into a roomy buffer skip the extra pass.
    if (str.length * 3 > this.buf.length - this.len) this.reserve(Buffer.byteLength(str, 'utf8'))
    const start = this.len
    // Buffer#write costs ~100 ns a call whatever the length; short strings encode faster here.
    this.len =
      str.length <= SHORT_STRING ? encodeUtf8(str, this.buf, start) : start + this.buf.write(str, start, 'utf8')
    return this.len - start
  }

  /** The buffered bytes as a fresh ArrayBuffer or Uint8Array of this realm. */
  take(asUint8Array) {
    const out = new Uint8Array(this.len)
    if (this.len > 0) out.set(this.buf.subarray(0, this.len))
    return asUint8Array ? out : out.buffer
  }
}

/** Bun.ArrayBufferSink. Callable with or without `new`, like Bun's. */
function ArrayBufferSink() {
  if (new.target === undefined) return new ArrayBufferSink()
  Object.defineProperty(this, kState, { value: new SinkState() })
}

// Bun's prototype, in Bun's property order and with its attributes: methods enumerable, read-only
// and non-configurable; `sinkId` a read-only 0; `constructor` last.
const methods = {
  close() {
    const state = stateOf(this, null)
    state.closed = true
    state.buf = EMPTY
    state.len = 0
  },

  // Bun declares flush(wait) and ignores `wait` for this sink.
  flush(wait) {
    const state = openStateOf(this)
    if (!state.stream) return 0
    const out = state.take(state.asUint8Array)
    state.len = 0 // keeps the capacity for the next batch
    return out
  },

  end() {
    const state = openStateOf(this)
    if (state.done) return new ArrayBuffer(0)
    const out = state.take(state.asUint8Array)
    state.buf = EMPTY
    state.len = 0
    state.done = true
    return out
  },

  start(options) {
    const state = openStateOf(this)
    let asUint8Array
    let stream
    let highWaterMark
    // Read in Bun's order: asUint8Array as an own property only, then stream and highWaterMark
    // through the prototype chain; a throwing getter propagates.
    if (options !== null && (typeof options === 'object' || typeof options === 'function')) {
      asUint8Array = ownValue(options, 'asUint8Array')
      stream = options.stream
      highWaterMark = options.highWaterMark
    }
    state.len = 0
    state.done = false
    const hasAsUint8Array = typeof asUint8Array === 'boolean'
    const hasStream = typeof stream === 'boolean'
    const hasHighWaterMark = typeof highWaterMark === 'number'
    if (hasAsUint8Array || hasStream || hasHighWaterMark) {
      state.asUint8Array = hasAsUint8Array && asUint8Array
      state.stream = hasStream && stream
      if (hasHighWaterMark && highWaterMark >= 1) {
        state.reserve(Math.min(Math.floor(highWaterMark), MAX_RESERVE))
      }
    }
  },

  write(chunk) {
    const state = openStateOf(this)
    if (typeof chunk === 'string') return chunk.length === 0 ? 0 : state.writeString(chunk)
    // ArrayBuffer.isView, the TypedArray tag getter and util.types all work across realms (Jest
    // hands out the outer realm's Buffer). A view on a detached buffer has byteLength 0.
    if (ArrayBuffer.isView(chunk)) {
      if (chunk.byteLength === 0) return 0
      // Buffers and Uint8Arrays are copied as they are; other views byte for byte (set() on a
      // Uint8Array would convert a Float64Array's elements, not copy its bytes).
      if (typedArrayTag.call(chunk) === 'Uint8Array') return state.writeBytes(chunk)
      return state.writeBytes(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    }
    if (types.isAnyArrayBuffer(chunk)) {
      if (chunk.byteLength === 0) return 0 // also a detached ArrayBuffer, which Uint8Array refuses
      return state.writeBytes(new Uint8Array(chunk))
    }
    // Bun also takes String objects (and subclasses), by their primitive value.
    if (types.isStringObject(chunk)) {
      const str = String.prototype.valueOf.call(chunk)
      return str.length === 0 ? 0 : state.writeString(str)
    }
    if (arguments.length === 0) throw typeError('ERR_MISSING_ARGS', WRITE_EXPECTS)
    if (chunk === undefined || chunk === null) throw typeError('ERR_STREAM_NULL_VALUES', WRITE_EXPECTS)
    throw typeError('ERR_INVALID_ARG_TYPE', WRITE_EXPECTS)
  },

  ref() {},

  unref() {},

  // No file descriptor behind this sink: null while open, undefined once closed.
  _getFd() {
    return stateOf(this, null).closed ? undefined : null
  },
}

const proto = {}
for (const name of Object.keys(methods)) {
  Object.defineProperty(proto, name, { value: methods[name], writable: false, enumerable: true, configurable: false })
}
const hidden = (value, writable) => ({ value, writable, enumerable: false, configurable: true })
Object.defineProperty(proto, 'sinkId', hidden(0, false))
Object.defineProperty(proto, 'constructor', hidden(ArrayBufferSink, true))
Object.defineProperty(proto, Symbol.toStringTag, hidden('ArrayBufferSink', false))
Object.defineProperty(ArrayBufferSink, 'prototype', { value: proto, writable: false })

/** The sink's state; a foreign `this` is Bun's TypeError (ERR_INVALID_THIS, or no code for close/_getFd). */
function stateOf(self, code) {
  const state = self !== null && typeof self === 'object' ? self[kState] : undefined
  if (state === undefined) {
    if (code === null) throw new TypeError('Expected ArrayBufferSink')
    throw typeError(code, 'Expected ArrayBufferSink')
  }
  return state
}

function openStateOf(self) {
  const state = stateOf(self, 'ERR_INVALID_THIS')
  if (state.closed) throw new Error(CLOSED)
  return state
}

/** Writes `str` as UTF-8 at `pos` (room for 3 bytes a unit assured); lone surrogates become U+FFFD. */
function encodeUtf8(str, buf, pos) {
  for (let i = 0; i < str.length; i++) {
    let c = str.charCodeAt(i)
    if (c < 0x80) {
      buf[pos++] = c
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6)
      buf[pos++] = 0x80 | (c & 0x3f)
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < str.length ? str.charCodeAt(i + 1) : 0
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00)
          i++
          buf[pos++] = 0xf0 | (c >> 18)
          buf[pos++] = 0x80 | ((c >> 12) & 0x3f)
          buf[pos++] = 0x80 | ((c >> 6) & 0x3f)
          buf[pos++] = 0x80 | (c & 0x3f)
          continue
        }
        c = 0xfffd
      }
      buf[pos++] = 0xe0 | (c >> 12)
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f)
      buf[pos++] = 0x80 | (c & 0x3f)
    }
  }
  return pos
}

function ownValue(object, key) {
  const desc = Reflect.getOwnPropertyDescriptor(object, key)
  if (desc === undefined) return undefined
  return desc.get === undefined ? desc.value : desc.get.call(object)
}

module.exports = { ArrayBufferSink }
