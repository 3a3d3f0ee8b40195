'use strict'
// Bun's SocketListener over the native listener, and listen(). Accepted sockets are TCPSockets
// (TLSSockets with `tls`), built here when the native side reports them.

const binding = require('./native')
const { HandleResource, handles, kEvent, kState: kShared, kinds } = require('./dispatch')
const { parseOptions, parseReload } = require('./handlers')
const { fromNative, invalidArgType } = require('./errors')
const { TCPSocket, internals } = require('./tcp')

const { kNative, kId, kState, kData, kAllowHalfOpen, kSockets, kStopped, OPEN, CLOSED, disposeSymbols, opened, tlsSockets } =
  internals

const kPort = Symbol('kPort')
const kHostname = Symbol('kHostname')
const kUnix = Symbol('kUnix')
const kTlsConfig = Symbol('kTlsConfig')
const kResource = Symbol('kResource')
const kNativeTls = Symbol('kNativeTls')

class SocketListener {
  constructor(native, handlers, data, options, tlsMeta) {
    this[kNative] = native
    this[kTlsConfig] = tlsMeta
    this[kId] = native.id
    this[kShared] = { handlers }
    this[kData] = data
    this[kSockets] = new Set()
    this[kAllowHalfOpen] = options.allowHalfOpen === true
    this[kState] = OPEN
    this[kStopped] = false
    this[kUnix] = options.unix
    this[kHostname] = options.unix === undefined ? options.hostname : undefined
    const address = native.address()
    this[kPort] = address === null ? undefined : address.port
    this[kResource] = new HandleResource('BunSocketsListener')
  }

  get port() {
    return this[kPort]
  }

  get hostname() {
    return this[kHostname]
  }

  get unix() {
    return this[kUnix]
  }

  get data() {
    return this[kData]
  }

  set data(value) {
    this[kData] = value
  }

  get fd() {
    return this[kNative].fd
  }

  /** Fills `out` with { family, address, port }, as Bun does. */
  getsockname(out) {
    if (this[kState] !== OPEN) return
    if (out === null || typeof out !== 'object') throw invalidArgType('Expected object')
    const address = this[kNative].address()
    if (address !== null) Object.assign(out, { family: address.family, address: address.address, port: address.port })
  }

  stop(closeActiveConnections) {
    if (this[kState] === OPEN) {
      this[kState] = CLOSED
      this[kNative].stop()
      handles.delete(this[kId])
      this[kStopped] = true
      this[kResource].close()
    }
    if (closeActiveConnections === true) {
      for (const socket of [...this[kSockets]]) socket.close()
    }
    // Bun drops `data` once the listener is stopped and its last connection closed.
    if (this[kSockets].size === 0) this[kData] = undefined
  }

  ref() {
    if (this[kState] !== OPEN) return
    this[kNative].ref()
    this[kResource].ref()
  }

  unref() {
    if (this[kState] !== OPEN) return
    this[kNative].unref()
    this[kResource].unref()
  }

  reload(options) {
    // Bun, once stopped, answers every reload this way.
    if (this[kState] === CLOSED) throw new Error('Expected 1 argument')
    const handlers = parseReload(arguments, true)
    this[kShared].handlers = handlers
    this[kNativeTls]?.setHooks(tlsEvents().hookBits(handlers))
    // Bun switches the connections already accepted too.
    for (const socket of this[kSockets]) socket[kShared].handlers = handlers
  }

  [kEvent](kind, native, id) {
    if (kind !== kinds.ACCEPT) return
    const meta = this[kTlsConfig]
    const socket = meta === null
      ? new TCPSocket(id, this[kShared].handlers, this[kData], this[kAllowHalfOpen], this)
      : new (tlsSockets().TLSSocket)(id, this[kShared].handlers, this[kData], this[kAllowHalfOpen], this, meta)
    handles.set(id, socket)
    this[kSockets].add(socket)
    opened(socket, native)
  }

  get [Symbol.toStringTag]() {
    return 'Listener'
  }
}

for (const symbol of disposeSymbols) {
  SocketListener.prototype[symbol] = function dispose() {
    this.stop(true)
  }
}

function listen(options) {
  const { handlers, data, native, tls: tlsInput } = parseOptions(options, 'listen')
  const secure = tlsInput === null ? null : tlsSockets().tlsSetup(tlsInput, native, true)
  const result = binding.listen(native, secure?.config)
  if (!(result instanceof binding.NativeListener)) {
    // Bun names the address as given ("123", not "0.0.0.123").
    throw fromNative({ ...result, address: native.unix ?? native.hostname }, 'listen')
  }
  const listener = new SocketListener(result, handlers, data, native, secure === null ? null : secure.meta)
  if (secure !== null) {
    listener[kNativeTls] = secure.config
    secure.config.setHooks(tlsEvents().hookBits(handlers))
  }
  handles.set(listener[kId], listener)
  return listener
}

// TLS only; loaded on first use.
let tlsEventsModule = null
const tlsEvents = () => (tlsEventsModule ??= require('./tls-events'))

module.exports = { listen, SocketListener }
