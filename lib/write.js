'use strict'
// Bun's rules for what write()/end() accept: strings (UTF-8, or with a Node encoding),
// Buffers, typed arrays, DataViews and ArrayBuffers, with optional byteOffset/byteLength in
// bytes; and what a UDP socket's send()/sendMany() accept (the same sources, strings as UTF-8).

const { invalidArgType, outOfRange } = require('./errors')
const { TodoError } = require('./todo')

const MAX = Number.MAX_SAFE_INTEGER

/** The bytes to send for write(data, a, b), or null for nothing (undefined data). */
function writeArgs(data, byteOffset, byteLength, argc) {
  if (data === undefined) return null
  // Bun takes a String object as its string.
  if (data instanceof String) data = String(data)
  let bytes
  if (typeof data === 'string') {
    if (typeof byteOffset === 'string') {
      if (argc > 2 && byteLength !== undefined) throw new TodoError()
      return Buffer.from(data, Buffer.isEncoding(byteOffset) ? byteOffset : 'utf8')
    }
    if (typeof byteLength === 'string' || argc > 3) throw new TodoError()
    bytes = Buffer.from(data, 'utf8')
  } else {
    bytes = toBytes(data)
    if (typeof byteOffset === 'string') byteOffset = undefined
  }
  if (byteOffset === undefined && byteLength === undefined) return bytes
  return slice(bytes, byteOffset, byteLength)
}

/** An ArrayBuffer view, ArrayBuffer or SharedArrayBuffer. */
function isBufferSource(value) {
  return (
    ArrayBuffer.isView(value) ||
    value instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer !== 'undefined' && value instanceof SharedArrayBuffer)
  )
}

/** A Uint8Array view of any BufferSource, or a TypeError as Bun throws it. */
function toBytes(data) {
  const bytes = viewOf(data)
  if (bytes !== null) return bytes
  throw invalidArgType(`The "data" argument must be of type string, buffer, or blob. Received ${describe(data)}`)
}

/** The bytes of one datagram: a string (or String) as UTF-8, any BufferSource as is. */
function datagramBytes(data, message) {
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  if (data instanceof String) return Buffer.from(String(data), 'utf8')
  const bytes = viewOf(data)
  if (bytes !== null) return bytes
  throw invalidArgType(message)
}

/** A Uint8Array view of a BufferSource, or null. */
function viewOf(data) {
  if (data instanceof Uint8Array) return data
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  if (isBufferSource(data)) return new Uint8Array(data)
  return null
}

// Bun quirk, kept: an offset without a length takes the full length, so it must be 0.
function slice(bytes, byteOffset, byteLength) {
  const total = bytes.byteLength
  const offset = byteOffset === undefined ? 0 : integer(byteOffset, 'byteOffset')
  if (offset < 0) throw range('byteOffset', MAX, offset)
  if (offset > total) throw range('byteOffset', total, offset)
  const length = byteLength === undefined ? total : integer(byteLength, 'byteLength')
  if (length < 0) throw range('byteLength', MAX, length)
  if (length > total - offset) throw range('byteLength', total - offset, length)
  return bytes.subarray(offset, offset + length)
}

function integer(value, name) {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw invalidArgType(`Expected ${name} to be a integer for 'Socket.write'.`)
  }
  return value
}

function range(name, max, received) {
  return outOfRange(`The value of "${name}" is out of range. It must be >= 0 and <= ${max}. Received ${received}`)
}

function describe(value) {
  if (value === null) return 'null'
  if (typeof value === 'function') return `function ${value.name}`
  if (typeof value === 'object') {
    const name = value.constructor?.name
    return name ? `an instance of ${name}` : require('node:util').inspect(value, { depth: -1 })
  }
  let shown = require('node:util').inspect(value)
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`
  return `type ${typeof value} (${shown})`
}

module.exports = { writeArgs, toBytes, isBufferSource, datagramBytes }
