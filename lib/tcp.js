'use strict'
// Bun's TCPSocket over the native half, and connect(). State here is what Bun exposes
// (readyState, data, handlers); the socket itself lives in Rust. Listeners: lib/listener.js.

const binding = require('./native')
const timers = require('./timers')
const {
  HandleResource,
  disposeSymbols,
  expectAnswer,
  answered,
  handles,
  kEvent,
  kState,
  callHandler,
  callData,
  reportHandlerError,
  EventKind,
} = require('./dispatch')
const { parseOptions, parseReload } = require('./handlers')
const { fromNative, invalidArgType, outOfRange } = require('./errors')
const { writeArgs } = require('./write')
const { isNativeError } = require('node:util').types

// TLS sockets build on TCPSocket; loaded on first use.
let tlsModule = null
const tlsSockets = () => (tlsModule ??= require('./tls-socket'))

// readyState values Bun reports.
const CONNECTING = 0
const OPEN = 1
const CLOSED = -1

/** Everything a TCPSocket (or TLSSocket) holds, as `socket[kState]`. */
class SocketState {
  constructor(id, handlers, data, allowHalfOpen, listener, tls) {
    this.id = id
    // The NativeSocket once open; null before, and again once handed to upgradeTLS.
    this.native = null
    this.handlers = handlers
    this.data = data
    this.readyState = CONNECTING
    // The SocketListener that accepted it; undefined for connect()'s and once closed.
    this.listener = listener
    this.allowHalfOpen = allowHalfOpen
    this.paused = false
    // Events held while paused or until replayed: kind, a, b, kind, a, b…
    this.held = null
    this.replaying = false
    // Made by connect(): what `jest --detectOpenHandles` shows while the socket is open.
    this.resource = null
    // connect()'s promise and its settlers, until the native side answers.
    this.connect = null
    // Both addresses, read once while open; `seen`: what the getters returned, for after close.
    this.address = null
    this.seen = null
    // bytesWritten, kept at close.
    this.written = 0
    // A TLSSocket's TLS state (lib/tls-socket.js); undefined for a plain socket.
    this.tls = tls
  }
}

/** What each TLS member returns on a plain socket, as Bun answers. */
const PLAIN_TLS_ANSWERS = {
  getAuthorizationError: null,
  getCipher: undefined,
  getTLSVersion: null,
  getPeerCertificate: null,
  getCertificate: undefined,
  getEphemeralKeyInfo: null,
  getSharedSigalgs: undefined,
  exportKeyingMaterial: undefined,
  isSessionReused: false,
  getSession: undefined,
  setSession: undefined,
  getServername: undefined,
  setServername: undefined,
  getTLSTicket: undefined,
  getTLSFinishedMessage: undefined,
  getTLSPeerFinishedMessage: undefined,
  setVerifyMode: undefined,
  renegotiate: undefined,
  disableRenegotiation: undefined,
  setMaxSendFragment: false,
}


class TCPSocket {
  /** `tls`: a TLSSocket's TLS state, else undefined. */
  constructor(id, handlers, data, allowHalfOpen, listener, tls) {
    this[kState] = new SocketState(id, handlers, data, allowHalfOpen, listener, tls)
  }

  get data() {
    return this[kState].data
  }

  set data(value) {
    this[kState].data = value
  }

  get readyState() {
    return this[kState].readyState
  }

  get listener() {
    return this[kState].listener
  }

  get bytesWritten() {
    const state = this[kState]
    const native = state.native
    return native === null || state.readyState === CLOSED ? state.written : native.bytesWritten
  }

  get fd() {
    const native = this[kState].native
    return native === null ? -1 : native.fd
  }

  get localAddress() {
    return address(this, 'local', 'address')
  }

  get localPort() {
    return address(this, 'local', 'port')
  }

  get localFamily() {
    return address(this, 'local', 'family')
  }

  get remoteAddress() {
    return address(this, 'remote', 'address')
  }

  get remotePort() {
    // Bun forgets the remote port at close, unlike the others.
    return this[kState].readyState === CLOSED ? undefined : address(this, 'remote', 'port')
  }

  get remoteFamily() {
    return address(this, 'remote', 'family')
  }

  get authorized() {
    return false
  }

  get alpnProtocol() {
    return false
  }

  write(data, byteOffset, byteLength) {
    const state = this[kState]
    if (state.readyState !== OPEN) return -1
    const native = state.native
    if (arguments.length === 1) {
      if (typeof data === 'string') return native.writeString(data)
      if (data instanceof Uint8Array) return native.write(data)
    }
    const bytes = writeArgs(data, byteOffset, byteLength, arguments.length)
    return bytes === null ? 0 : native.write(bytes)
  }

  end(data, byteOffset, byteLength) {
    const state = this[kState]
    if (state.readyState !== OPEN) return -1
    let written = 0
    if (data !== undefined) {
      const bytes = writeArgs(data, byteOffset, byteLength, arguments.length)
      if (bytes !== null) written = state.native.write(bytes)
    }
    // Bun closes at once, firing `close` before end() returns, unless earlier writes are
    // still waiting for the kernel; then `close` follows once they are out.
    if (state.native.end()) closed(this, undefined)
    return written
  }

  close() {
    const state = this[kState]
    if (state.readyState !== OPEN) return
    state.native.close()
    closed(this, undefined)
  }

  terminate() {
    const state = this[kState]
    if (state.readyState !== OPEN) return
    state.native.terminate()
    closed(this, undefined)
  }

  /** Half-closes the write side; `shutdown(true)` closes the read side instead, as in Bun. */
  shutdown(halfClose) {
    const state = this[kState]
    if (state.readyState !== OPEN) return
    state.native.shutdown(halfClose === true)
  }

  flush() {}

  /** One-shot idle timer in whole seconds, as in Bun; 0 disables. */
  timeout(seconds) {
    const state = this[kState]
    // Bun checks nothing once closed.
    if (state.readyState !== OPEN) return
    if (arguments.length === 0) throw new Error('Expected 1 argument, got 0')
    const value = Number(seconds)
    if (value < 0) throw new Error('Timeout must be a positive integer')
    // Any number: huge and infinite ones never fire (the native side cannot overflow on them).
    state.native.setTimeout(Math.floor(value) || 0)
  }

  setNoDelay(noDelay = true) {
    const state = this[kState]
    if (state.readyState !== OPEN) return false
    // Bun answers true on unix sockets too.
    state.native.setNoDelay(noDelay !== false)
    return true
  }

  /** `initialDelay` in milliseconds, as in Node. */
  setKeepAlive(enable = false, initialDelay = 0) {
    // Bun reads NaN as 0.
    if (initialDelay === undefined || Number.isNaN(initialDelay)) initialDelay = 0
    if (typeof initialDelay !== 'number') {
      throw invalidArgType(`The "initialDelay" property must be of type number. Received ${typeof initialDelay}`)
    }
    if (Number.isFinite(initialDelay) && !Number.isInteger(initialDelay)) {
      throw invalidArgType('The "initialDelay" property must be of type integer. Received number')
    }
    if (initialDelay < 0 || initialDelay > Number.MAX_SAFE_INTEGER) {
      throw outOfRange(`The value of "initialDelay" is out of range. It must be >= 0 and <= 9007199254740991. Received ${initialDelay}`)
    }
    const state = this[kState]
    if (state.readyState !== OPEN) return false
    return state.native.setKeepAlive(enable === true, Math.ceil(initialDelay / 1000))
  }

  /** IP_TOS (IPV6_TCLASS): 0 or -errno, as Bun returns them. */
  setTypeOfService(tos) {
    const value = typeOfService(tos)
    const state = this[kState]
    if (state.readyState !== OPEN) return -EBADF
    return state.native.setTypeOfService(value)
  }

  getTypeOfService() {
    const state = this[kState]
    if (state.readyState !== OPEN) return -EBADF
    return state.native.typeOfService()
  }

  ref() {
    const state = this[kState]
    if (state.readyState !== OPEN) return
    state.native.ref()
    state.resource?.ref()
  }

  unref() {
    const state = this[kState]
    if (state.readyState !== OPEN) return
    state.native.unref()
    state.resource?.unref()
  }

  pause() {
    const state = this[kState]
    if (state.readyState !== OPEN) return
    state.paused = true
    state.native.pause()
  }

  resume() {
    const state = this[kState]
    if (state.readyState !== OPEN) return
    state.paused = false
    // Chunks a TLS socket's task had already sent when pause() came go first; reading resumes
    // once they are out.
    if (state.held !== null) {
      if (!state.replaying) {
        state.replaying = true
        timers.setImmediate(replayHeld, this)
      }
      return
    }
    state.native.resume()
  }

  reload(options) {
    if (arguments.length === 0) throw new Error('Expected 1 argument')
    const state = this[kState]
    if (state.readyState === CLOSED) return
    const handlers = parseReload(arguments, false)
    const listener = state.listener
    if (listener === undefined) {
      state.handlers = handlers
      return
    }
    // Bun keeps one handler set per listener: reloading an accepted socket reloads them all.
    listener[kState].switchHandlers(handlers)
  }

  /** STARTTLS: returns [raw, tls], two new sockets; this one is dead afterwards, as in Bun. */
  upgradeTLS(options) {
    if (arguments.length === 0) throw new Error('Expected 1 arguments')
    return tlsSockets().upgrade(this, options)
  }

  [kEvent](kind, a, b) {
    const state = this[kState]
    // A TLS socket's task may have sent chunks before it saw pause(): they wait here, in order,
    // with everything after them. (A plain socket is read by this thread: nothing comes while
    // it is paused but a reset, which delivers what is queued ahead of it, as in Bun.)
    if (state.held !== null || (state.paused && state.tls !== undefined)) {
      if (kind === EventKind.Data || kind === EventKind.Records || kind === EventKind.End) {
        ;(state.held ??= []).push(kind, a, b)
        return
      }
      if (kind === EventKind.Close) deliverHeld(this, true)
    }
    deliver(this, state, kind, a, b)
  }

  get [Symbol.toStringTag]() {
    return 'TCPSocket'
  }
}

// The TLS introspection answers a plain socket gives, as in Bun (TLSSocket overrides them).
for (const [name, answer] of Object.entries(PLAIN_TLS_ANSWERS)) {
  Object.defineProperty(TCPSocket.prototype, name, {
    value: { [name]: () => answer }[name],
    writable: true,
    configurable: true,
  })
}

for (const symbol of disposeSymbols) {
  TCPSocket.prototype[symbol] = function dispose() {
    return this.end()
  }
}

const EBADF = 9

/** setTypeOfService()'s argument, checked as Bun checks it (undefined is 0). */
function typeOfService(tos) {
  if (tos === undefined) return 0
  if (typeof tos !== 'number') {
    throw invalidArgType(`The "tos" property must be of type number. Received ${tos === null ? 'object' : typeof tos}`)
  }
  if (Number.isNaN(tos) || (Number.isFinite(tos) && !Number.isInteger(tos))) {
    throw invalidArgType('The "tos" property must be of type integer. Received number')
  }
  if (tos < 0 || tos > 255) {
    throw outOfRange(`The value of "tos" is out of range. It must be >= 0 and <= 255. Received ${tos}`)
  }
  return tos
}

function connect(options) {
  const { handlers, data, native, tls: tlsInput, allowHalfOpen } = parseOptions(options, 'connect')
  const secure = tlsInput === null ? null : tlsSockets().tlsSetup(tlsInput, native, false)
  let resolve, reject
  const promise = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  let socket
  if (secure === null) {
    socket = new TCPSocket(binding.connect(native), handlers, data, allowHalfOpen, undefined)
  } else {
    const { config, meta } = secure
    const id = binding.connect(native, config, meta.servername, meta.sni)
    if (id < 0) throw invalidArgType(`Invalid server name: ${meta.servername}`)
    socket = new (tlsSockets().TLSSocket)(id, handlers, data, allowHalfOpen, undefined, meta)
  }
  const state = socket[kState]
  state.connect = { promise, resolve, reject }
  state.resource = new HandleResource('BunSocketsSocket')
  handles.set(state.id, socket)
  expectAnswer()
  return promise
}

function opened(socket, native) {
  const state = socket[kState]
  state.native = native
  state.readyState = OPEN
  const pending = state.connect
  state.connect = null
  if (pending !== null) {
    answered()
    // Resolved before `open` runs, so `.then` callbacks run after the handler's nextTicks and
    // before its microtasks, as in Bun.
    pending.resolve(socket)
  }
  // A TLS socket's `open` may wait for its handshake.
  if (state.tls !== undefined && tlsSockets().opening(socket)) return
  callOpen(socket)
}

function callOpen(socket) {
  const onOpen = socket[kState].handlers.open
  if (onOpen === undefined) return
  let failure
  try {
    const result = onOpen.call(socket, socket)
    // Bun treats an Error returned from `open` as thrown.
    if (isNativeError(result)) failure = result
  } catch (err) {
    failure = err
  }
  if (failure === undefined) return
  reportHandlerError(socket, failure)
  // Bun closes a socket whose `open` handler threw.
  socket.close()
}

function ended(socket) {
  const state = socket[kState]
  if (state.readyState !== OPEN) return
  const onEnd = state.handlers.end
  if (onEnd !== undefined) {
    try {
      onEnd.call(socket, socket)
    } catch (err) {
      reportHandlerError(socket, err)
      socket.close()
      return
    }
  }
  // Without allowHalfOpen, Bun closes right after the handler and its microtasks ran.
  if (!state.allowHalfOpen) timers.queueMicrotask(() => socket.close())
}

function closed(socket, err) {
  const state = socket[kState]
  const tls = state.tls
  // upgradeTLS's `raw` shares its connection with the TLS socket: both close, raw first.
  const partner = tls?.partner
  if (partner != null && partner[kState].readyState !== CLOSED) return closed(partner, err)
  // Bun ends a handshake still under way first (handshake(false, ECONNRESET), or the `open` it
  // held back), then closes without an error.
  if (tls !== undefined && state.readyState === OPEN && tls.authError === undefined) {
    tlsSockets().handshakeCut(socket)
    if (state.readyState === CLOSED) return // a handler closed it
    err = undefined
  }
  state.readyState = CLOSED
  handles.delete(state.id)
  const native = state.native
  if (native !== null) {
    state.written = native.bytesWritten
    native.detach()
  }
  const listener = state.listener
  if (listener !== undefined) listener[kState].release(socket)
  state.listener = undefined
  state.held = null
  state.resource?.close()
  const raw = tls?.raw
  if (raw != null && raw[kState].readyState !== CLOSED) {
    raw[kState].readyState = CLOSED
    callHandler(raw, 'close', err)
  }
  callHandler(socket, 'close', err)
}

function connectFailed(socket, info) {
  const state = socket[kState]
  state.readyState = CLOSED
  handles.delete(state.id)
  state.resource?.close()
  answered()
  const { promise, reject } = state.connect
  state.connect = null
  const onConnectError = state.handlers.connectError
  if (onConnectError === undefined) {
    reject(fromNative(info, 'connect'))
    return
  }
  // The promise rejects with its own copy of the error; with a connectError handler the
  // rejection counts as handled, unless the handler threw, as in Bun.
  try {
    onConnectError.call(socket, socket, fromNative(info, 'connect'))
  } catch (err) {
    reject(err)
    return
  }
  promise.catch(() => {})
  reject(fromNative(info, 'connect'))
}

/**
 * upgradeTLS (lib/tls-socket.js): the connection goes on in `raw` and `upgraded`; `socket` is
 * dead without a `close`, and its async resource lives on in `upgraded`.
 */
function handOver(socket, raw, upgraded) {
  const state = socket[kState]
  for (const next of [raw, upgraded]) {
    const nextState = next[kState]
    nextState.native = state.native
    nextState.readyState = OPEN
  }
  upgraded[kState].resource = state.resource
  state.resource = null
  state.readyState = CLOSED
  state.native = null
  const listener = state.listener
  state.listener = undefined
  handles.set(state.id, upgraded)
  if (listener !== undefined) {
    // Adopted first: a stopped listener would drop its `data` while holding no connection.
    listener[kState].adopt(upgraded)
    listener[kState].release(socket)
  }
}

/** One native event, delivered. */
function deliver(socket, state, kind, a, b) {
  switch (kind) {
    case EventKind.Data:
      callData(socket, convert(a, state.handlers.binaryType))
      break
    case EventKind.Records: {
      // TLS records as read, for the `raw` socket of upgradeTLS.
      const raw = state.tls?.raw
      if (raw != null) {
        const rawState = raw[kState]
        if (rawState.readyState === OPEN) callData(raw, convert(a, rawState.handlers.binaryType))
      }
      break
    }
    case EventKind.Open:
      opened(socket, a)
      break
    case EventKind.Drain:
      if (state.readyState === OPEN) callHandler(socket, 'drain')
      break
    case EventKind.End:
      ended(socket)
      break
    case EventKind.Close:
      if (state.readyState !== CLOSED) closed(socket, a === undefined ? undefined : fromNative(a))
      break
    case EventKind.Error:
      callHandler(socket, 'error', fromNative(a))
      break
    case EventKind.Handshake:
      tlsSockets().handshaked(socket, a, b)
      break
    case EventKind.Keylog:
    case EventKind.Session:
    case EventKind.Hello:
      tlsSockets().tlsNote(socket, kind, a, b)
      break
    case EventKind.Timeout:
      if (state.readyState === OPEN) callHandler(socket, 'timeout')
      break
    case EventKind.ConnectError:
      connectFailed(socket, a)
      break
  }
}

/** Delivers held events on the turn after resume(), stopping if a handler pauses again. */
function replayHeld(socket) {
  const state = socket[kState]
  state.replaying = false
  if (state.readyState !== OPEN || state.paused) return
  if (deliverHeld(socket, false)) state.native.resume()
}

/** Delivers held events in order; true once none are left. `always`: even while paused. */
function deliverHeld(socket, always) {
  const state = socket[kState]
  const held = state.held
  if (held === null) return true
  let i = 0
  while (i < held.length && (always || (!state.paused && state.readyState === OPEN))) {
    const kind = held[i]
    const a = held[i + 1]
    const b = held[i + 2]
    i += 3
    state.held = i < held.length ? held : null
    deliver(socket, state, kind, a, b)
    if (state.held === null) return true
  }
  held.splice(0, i)
  if (held.length === 0) state.held = null
  return state.held === null
}

// Bun keeps what an address getter returned while open; one never read stays undefined.
function address(socket, end, field) {
  const state = socket[kState]
  if (state.readyState !== OPEN) return state.seen?.[`${end}.${field}`]
  let cached = state.address
  if (cached === null) {
    const native = state.native
    if (native === null) return undefined
    cached = { local: native.localAddress() ?? undefined, remote: native.remoteAddress() ?? undefined }
    state.address = cached
  }
  const value = cached[end]?.[field]
  ;(state.seen ??= {})[`${end}.${field}`] = value
  return value
}

function convert(buffer, binaryType) {
  if (binaryType === 'buffer') return buffer
  if (binaryType === 'uint8array') return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  // A bulk read owns its whole ArrayBuffer; small messages share a slab, so they are copied out.
  if (buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength) return buffer.buffer
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength)
}

module.exports = { connect, TCPSocket, OPEN, CLOSED, opened, callOpen, handOver }
