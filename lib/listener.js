'use strict'
// Bun's SocketListener over the native listener, and listen(). Accepted sockets are TCPSockets
// (TLSSockets with `tls`), built here when the native side reports them.

const binding = require('./native')
const { HandleResource, disposeSymbols, handles, kEvent, kState, EventKind } = require('./dispatch')
const { parseOptions, parseReload } = require('./handlers')
const { fromNative, invalidArgType } = require('./errors')
const { TCPSocket, opened } = require('./tcp')

/** Everything a SocketListener holds, as `listener[kState]`; its sockets come and go through it. */
class ListenerState {
  constructor(native, handlers, data, allowHalfOpen, options, tlsMeta) {
    this.id = native.id
    this.native = native
    this.handlers = handlers
    // Bun's `serverName` hook exists only if listen() was given one.
    this.listenedWithServerName = handlers.serverName !== undefined
    this.data = data
    // Accepted sockets still open (upgradeTLS puts its TLS socket in the plain one's place).
    this.sockets = new Set()
    this.allowHalfOpen = allowHalfOpen
    this.stopped = false
    this.unix = options.unix
    this.hostname = options.unix === undefined ? options.hostname : undefined
    const address = native.address()
    this.port = address === null ? undefined : address.port
    // TLS: what accepted sockets are told (lib/tls-socket.js), and the native config for hooks.
    this.tlsMeta = tlsMeta
    this.nativeTls = null
    // TLS: what the handlers need from each ClientHello (lib/tls-events.js), as last set.
    this.hooks = null
    this.resource = new HandleResource('BunSocketsListener')
  }

  adopt(socket) {
    this.sockets.add(socket)
  }

  /** A socket closed (or was upgraded). */
  release(socket) {
    this.sockets.delete(socket)
    this.dropDataIfDone()
  }

  /** Bun drops `data` once the listener is stopped and its last connection closed. */
  dropDataIfDone() {
    if (this.stopped && this.sockets.size === 0) this.data = undefined
  }

  /** Tells the native config what the handlers need from each ClientHello. */
  setHooks() {
    this.hooks = tlsEvents().helloHooks(this.handlers, this.listenedWithServerName)
    this.nativeTls.setHooks(this.hooks)
  }

  /** Bun keeps one handler set per listener: its sockets switch with it, and so do the TLS hooks. */
  switchHandlers(handlers) {
    this.handlers = handlers
    for (const socket of this.sockets) socket[kState].handlers = handlers
    if (this.nativeTls !== null) this.setHooks()
  }
}

class SocketListener {
  constructor(native, handlers, data, allowHalfOpen, options, tlsMeta) {
    this[kState] = new ListenerState(native, handlers, data, allowHalfOpen, options, tlsMeta)
  }

  get port() {
    return this[kState].port
  }

  get hostname() {
    return this[kState].hostname
  }

  get unix() {
    return this[kState].unix
  }

  get data() {
    return this[kState].data
  }

  set data(value) {
    this[kState].data = value
  }

  get fd() {
    return this[kState].native.fd
  }

  /** Fills `out` with { family, address, port }, as Bun does. */
  getsockname(out) {
    const state = this[kState]
    if (state.stopped) return
    if (out === null || typeof out !== 'object') throw invalidArgType('Expected object')
    const address = state.native.address()
    if (address !== null) Object.assign(out, { family: address.family, address: address.address, port: address.port })
  }

  stop(closeActiveConnections) {
    const state = this[kState]
    if (!state.stopped) {
      state.stopped = true
      state.native.stop()
      handles.delete(state.id)
      state.resource.close()
    }
    if (closeActiveConnections === true) {
      for (const socket of [...state.sockets]) socket.close()
    }
    state.dropDataIfDone()
  }

  ref() {
    const state = this[kState]
    if (state.stopped) return
    state.native.ref()
    state.resource.ref()
  }

  unref() {
    const state = this[kState]
    if (state.stopped) return
    state.native.unref()
    state.resource.unref()
  }

  reload(options) {
    const state = this[kState]
    // Bun, once stopped, answers every reload this way.
    if (state.stopped) throw new Error('Expected 1 argument')
    const handlers = parseReload(arguments, true)
    // Bun switches the connections already accepted too.
    state.switchHandlers(handlers)
  }

  [kEvent](kind, native, id) {
    if (kind !== EventKind.Accept) return
    const state = this[kState]
    const meta = state.tlsMeta
    const socket = meta === null
      ? new TCPSocket(id, state.handlers, state.data, state.allowHalfOpen, this)
      : new (tlsSockets().TLSSocket)(id, state.handlers, state.data, state.allowHalfOpen, this, meta)
    handles.set(id, socket)
    state.adopt(socket)
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
  const { handlers, data, native, tls: tlsInput, allowHalfOpen } = parseOptions(options, 'listen')
  const secure = tlsInput === null ? null : tlsSockets().tlsSetup(tlsInput, native, true)
  const result = binding.listen(native, secure?.config)
  if (!(result instanceof binding.NativeListener)) {
    // Bun names the address as given ("123", not "0.0.0.123").
    throw fromNative({ ...result, address: native.unix ?? native.hostname }, 'listen')
  }
  const listener = new SocketListener(result, handlers, data, allowHalfOpen, native, secure === null ? null : secure.meta)
  const state = listener[kState]
  if (secure !== null) {
    state.nativeTls = secure.config
    state.setHooks()
  }
  handles.set(state.id, listener)
  return listener
}

// TLS only; loaded on first use.
let tlsSocketsModule = null
const tlsSockets = () => (tlsSocketsModule ??= require('./tls-socket'))
let tlsEventsModule = null
const tlsEvents = () => (tlsEventsModule ??= require('./tls-events'))

module.exports = { listen, SocketListener }
