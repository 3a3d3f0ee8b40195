'use strict'
// Checks the options of listen()/connect() once, in Bun's order and with Bun's messages, and
// normalises the handler object.

const { isIPv6 } = require('./ip')
const { invalidArgType, outOfRange } = require('./errors')
// Loaded with the first `tls` option: it brings node:crypto, which costs a plain-TCP process
// about a megabyte and a half of memory.
let tlsOptionsModule = null
const tlsOptions = () => (tlsOptionsModule ??= require('./tls-options'))

// Bun's internal names, which its error messages use.
const HANDLER_NAMES = [
  ['open', 'onOpen'],
  ['close', 'onClose'],
  ['data', 'onData'],
  ['drain', 'onWritable'],
  ['timeout', 'onTimeout'],
  ['connectError', 'onConnectError'],
  ['end', 'onEnd'],
  ['error', 'onError'],
  ['handshake', 'onHandshake'],
  ['session', 'onSession'],
  ['keylog', 'onKeylog'],
  ['serverName', 'onServerName'],
  ['alpnCallback', 'onALPNCallback'],
]

// Bun also takes the class names.
const BINARY_TYPES = {
  buffer: 'buffer',
  Buffer: 'buffer',
  arraybuffer: 'arraybuffer',
  ArrayBuffer: 'arraybuffer',
  uint8array: 'uint8array',
  Uint8Array: 'uint8array',
}

/** Validates `socket` (the handler object) and returns a normalised copy. */
function parseHandlers(socket) {
  if (socket === null || typeof socket !== 'object') {
    throw invalidArgType('SocketHandler must be an object')
  }
  return { binaryType: parseBinaryType(socket.binaryType), ...readCallbacks(socket) }
}

function parseBinaryType(value) {
  if (value === undefined) return 'buffer'
  if (typeof value !== 'string') throw invalidArgType('SocketHandler.binaryType must be a string')
  if (!Object.hasOwn(BINARY_TYPES, value)) {
    throw invalidArgType('SocketHandler.binaryType must be "arraybuffer", "buffer", or "uint8array"')
  }
  return BINARY_TYPES[value]
}

function readCallbacks(socket) {
  const handlers = {}
  for (const [key, internal] of HANDLER_NAMES) {
    const fn = socket[key]
    if (fn === undefined || fn === null) continue
    if (typeof fn !== 'function') {
      throw invalidArgType(`Expected "${internal}" callback to be a function`)
    }
    handlers[key] = fn
  }
  if (handlers.data === undefined && handlers.drain === undefined) {
    throw invalidArgType('Expected at least "data" or "drain" callback')
  }
  return handlers
}

/**
 * Validates listen()/connect() options. Returns { handlers, native, data, tls, allowHalfOpen }
 * where `native` is what the binding takes and `tls` the checked TLS input (null without one).
 */
function parseOptions(options, what) {
  // A function is an object to Bun.
  if (options === null || (typeof options !== 'object' && typeof options !== 'function')) {
    throw invalidArgType(what === 'listen' ? 'Expected object' : 'Expected options object')
  }
  if (options.socket === undefined) {
    throw invalidArgType('SocketOptions.socket is required')
  }
  if (options.socket === null || typeof options.socket !== 'object') {
    throw invalidArgType('SocketHandler must be an object')
  }
  const socket = options.socket
  const binaryType = parseBinaryType(socket.binaryType)
  const allowHalfOpen = optionalBoolean(options, 'allowHalfOpen')
  let port
  if (options.port !== undefined && options.port !== null) {
    port = parsePort(options.port)
  }
  // Bun checks the TLS options' types before `exclusive`, and reads their files after it.
  const tlsValue = options.tls
  const tls = tlsValue === undefined || tlsValue === null || tlsValue === false ? null : tlsOptions().checkTlsOptions(tlsValue)
  // A listener shares its port only with `reusePort` and without `exclusive`, as in Bun (whose
  // `exclusive` does nothing else outside Windows). connect() checks both and ignores them.
  const exclusive = optionalBoolean(options, 'exclusive')
  const reusePort = optionalBoolean(options, 'reusePort') && !exclusive
  const ipv6Only = optionalBoolean(options, 'ipv6Only')
  if (tls !== null && tls.serverName !== null && tls.serverName.includes('\0')) {
    throw invalidArgType('"serverName" must not contain null bytes')
  }
  if (tls !== null) tlsOptions().readTlsFiles(tls)
  let unix
  if (options.unix !== undefined && options.unix !== null) {
    if (typeof options.unix !== 'string') throw invalidArgType('SocketOptions.unix must be a string')
    if (options.unix !== '') unix = options.unix
  }
  // connect({ fd }): checked after `unix`, before the handlers, as Bun does; with it, no
  // hostname is needed.
  let fd
  if (what === 'connect' && options.fd !== undefined) fd = parseFd(options.fd)
  const handlers = { binaryType, ...readCallbacks(socket) }
  if (fd !== undefined) {
    return { handlers, data: options.data, tls, allowHalfOpen, native: { fd } }
  }
  let hostname
  if (unix === undefined) {
    const raw = options.hostname
    if (!raw) throw invalidArgType('Expected either "hostname" or "unix"')
    hostname = String(raw)
    // A truthy value that reads as '' ([], new String('')).
    if (hostname === '') throw invalidArgType('Expected a non-empty "hostname"')
    if (hostname.includes('\0')) throw invalidArgType('"hostname" must not contain null bytes')
    // connect() takes an IPv6 address in brackets, as in a URL; listen() does not.
    if (what === 'connect' && hostname.startsWith('[') && hostname.endsWith(']') && isIPv6(hostname.slice(1, -1))) {
      hostname = hostname.slice(1, -1)
    }
    if (port === undefined) throw invalidArgType('Missing "port"')
  }
  return {
    handlers,
    data: options.data,
    tls,
    allowHalfOpen,
    native: unix !== undefined ? { unix } : { hostname, port, reusePort, ipv6Only },
  }
}

/** A boolean option: undefined is false; Bun refuses anything else that is not a boolean, null too. */
function optionalBoolean(options, key) {
  const value = options[key]
  if (value === undefined) return false
  if (typeof value !== 'boolean') throw invalidArgType(`SocketOptions.${key} must be a boolean`)
  return value
}

function parseFd(value) {
  if (typeof value !== 'number') throw invalidArgType('SocketOptions.fd must be a number')
  if (!Number.isInteger(value)) throw outOfRange(`SocketOptions.fd must be an integer (received ${value})`)
  if (value < -2147483648 || value > 2147483647) {
    throw outOfRange(`SocketOptions.fd must be in the range [-2147483648, 2147483647] (received ${value})`)
  }
  return value
}

function parsePort(value) {
  const port = typeof value === 'bigint' ? Number(value) : Number(value)
  if (!Number.isInteger(port)) {
    throw outOfRange(`SocketOptions.port must be an integer (received ${port})`)
  }
  if (port < 0 || port > 65535) {
    throw outOfRange(`SocketOptions.port must be in the range [0, 65535] (received ${port})`)
  }
  return port
}

/** The handler object of `reload(options)`, checked as Bun checks a socket's or a listener's. */
function parseReload(args, isListener) {
  if (args.length === 0) throw new Error('Expected 1 argument')
  const options = args[0]
  if (options === null || typeof options !== 'object') {
    if (isListener) throw invalidArgType('Expected options object')
    throw new Error('Expected options object')
  }
  if (options.socket === undefined || options.socket === null) {
    throw new Error(isListener ? 'Expected "socket" object' : 'Expected "socket" option')
  }
  return parseHandlers(options.socket)
}

module.exports = { parseHandlers, parseOptions, parseReload }
