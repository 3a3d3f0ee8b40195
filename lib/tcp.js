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
  kState: kShared, // the state object dispatch.js reads ({ handlers }); kState here is the phase
  callHandler,
  callData,
  reportHandlerError,
  kinds,
} = require('./dispatch')
const { parseOptions, parseReload } = require('./handlers')
const { fromNative, invalidArgType, outOfRange } = require('./errors')
const { writeArgs } = require('./write')
const { isNativeError } = require('node:util').types

// TLS sockets build on TCPSocket; loaded on first use.
let tlsModule = null
const tlsSockets = () => (tlsModule ??= require('./tls-socket'))

const kNative = Symbol('kNative')
const kId = Symbol('kId')
const kState = Symbol('kState')
const kData = Symbol('kData')
const kListener = Symbol('kListener')
const kAllowHalfOpen = Symbol('kAllowHalfOpen')
const kPaused = Symbol('kPaused')
const kHeld = Symbol('kHeld')
const kReplaying = Symbol('kReplaying')
const kResource = Symbol('kResource')
const kConnect = Symbol('kConnect')
const kSockets = Symbol('kSockets')
const kAddress = Symbol('kAddress')
const kSeen = Symbol('kSeen')
const kWritten = Symbol('kWritten')
const kStopped = Symbol('kStopped')
const kTls = Symbol('kTls')

// readyState values Bun reports.
const CONNECTING = 0
const OPEN = 1
const CLOSED = -1

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
  constructor(id, handlers, data, allowHalfOpen, listener) {
    this[kId] = id
    this[kNative] = null
    this[kShared] = { handlers }
    this[kData] = data
    this[kState] = CONNECTING
    this[kListener] = listener
    this[kAllowHalfOpen] = allowHalfOpen
    this[kPaused] = false
    this[kHeld] = null
    this[kReplaying] = false
    // Made by connect(): what `jest --detectOpenHandles` shows while the socket is open.
    this[kResource] = null
    this[kConnect] = null
    this[kAddress] = null
    this[kSeen] = null
    this[kWritten] = 0
  }

  get data() {
    return this[kData]
  }

  set data(value) {
    this[kData] = value
  }

  get readyState() {
    return this[kState]
  }

  get listener() {
    return this[kListener]
  }

  get bytesWritten() {
    const native = this[kNative]
    return native === null || this[kState] === CLOSED ? this[kWritten] : native.bytesWritten
  }

  get fd() {
    const native = this[kNative]
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
    return this[kState] === CLOSED ? undefined : address(this, 'remote', 'port')
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
    if (this[kState] !== OPEN) return -1
    const native = this[kNative]
    if (arguments.length === 1) {
      if (typeof data === 'string') return native.writeString(data)
      if (data instanceof Uint8Array) return native.write(data)
    }
    const bytes = writeArgs(data, byteOffset, byteLength, arguments.length)
    return bytes === null ? 0 : native.write(bytes)
  }

  end(data, byteOffset, byteLength) {
    if (this[kState] !== OPEN) return -1
    let written = 0
    if (data !== undefined) {
      const bytes = writeArgs(data, byteOffset, byteLength, arguments.length)
      if (bytes !== null) written = this[kNative].write(bytes)
    }
    // Bun closes at once, firing `close` before end() returns, unless earlier writes are
    // still waiting for the kernel; then `close` follows once they are out.
    if (this[kNative].end()) closed(this, undefined)
    return written
  }

  close() {
    if (this[kState] !== OPEN) return
    this[kNative].close()
    closed(this, undefined)
  }

  terminate() {
    if (this[kState] !== OPEN) return
    this[kNative].terminate()
    closed(this, undefined)
  }

  /** Half-closes the write side; `shutdown(true)` closes the read side instead, as in Bun. */
  shutdown(halfClose) {
    if (this[kState] !== OPEN) return
    this[kNative].shutdown(halfClose === true)
  }

  flush() {}

  /** One-shot idle timer in whole seconds, as in Bun; 0 disables. */
  timeout(seconds) {
    // Bun checks nothing once closed.
    if (this[kState] !== OPEN) return
    if (arguments.length === 0) throw new Error('Expected 1 argument, got 0')
    const value = Number(seconds)
    if (value < 0) throw new Error('Timeout must be a positive integer')
    // Any number: huge and infinite ones never fire (the native side cannot overflow on them).
    this[kNative].setTimeout(Math.floor(value) || 0)
  }

  setNoDelay(noDelay = true) {
    if (this[kState] !== OPEN) return false
    // Bun answers true on unix sockets too.
    this[kNative].setNoDelay(noDelay !== false)
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
    if (this[kState] !== OPEN) return false
    return this[kNative].setKeepAlive(enable === true, Math.ceil(initialDelay / 1000))
  }

  /** IP_TOS (IPV6_TCLASS): 0 or -errno, as Bun returns them. */
  setTypeOfService(tos) {
    const value = typeOfService(tos)
    if (this[kState] !== OPEN) return -EBADF
    return this[kNative].setTypeOfService(value)
  }

  getTypeOfService() {
    if (this[kState] !== OPEN) return -EBADF
    return this[kNative].typeOfService()
  }

  ref() {
    if (this[kState] !== OPEN) return
    this[kNative].ref()
    this[kResource]?.ref()
  }

  unref() {
    if (this[kState] !== OPEN) return
    this[kNative].unref()
    this[kResource]?.unref()
  }

  pause() {
    if (this[kState] !== OPEN) return
    this[kPaused] = true
    this[kNative].pause()
  }

  resume() {
    if (this[kState] !== OPEN) return
    this[kPaused] = false
    // Chunks a TLS socket's task had already sent when pause() came go first; reading resumes
    // once they are out.
    if (this[kHeld] !== null) {
      if (!this[kReplaying]) {
        this[kReplaying] = true
        timers.setImmediate(replayHeld, this)
      }
      return
    }
    this[kNative].resume()
  }

  reload(options) {
    if (arguments.length === 0) throw new Error('Expected 1 argument')
    if (this[kState] === CLOSED) return
    const handlers = parseReload(arguments, false)
    const listener = this[kListener]
    if (listener === undefined) {
      this[kShared].handlers = handlers
      return
    }
    // Bun keeps one handler set per listener: reloading an accepted socket reloads them all.
    listener[kShared].handlers = handlers
    for (const socket of listener[kSockets]) socket[kShared].handlers = handlers
  }

  /** STARTTLS: returns [raw, tls], two new sockets; this one is dead afterwards, as in Bun. */
  upgradeTLS(options) {
    if (arguments.length === 0) throw new Error('Expected 1 arguments')
    return tlsSockets().upgrade(this, options)
  }

  [kEvent](kind, a, b) {
    // A TLS socket's task may have sent chunks before it saw pause(): they wait here, in order,
    // with everything after them. (A plain socket is read by this thread: nothing comes while
    // it is paused but a reset, which delivers what is queued ahead of it, as in Bun.)
    if (this[kHeld] !== null || (this[kPaused] && this[kTls] !== undefined)) {
      if (kind === kinds.DATA || kind === kinds.END) {
        ;(this[kHeld] ??= []).push(kind, a, b)
        return
      }
      if (kind === kinds.CLOSE) deliverHeld(this, true)
    }
    deliver(this, kind, a, b)
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
  const { handlers, data, native, tls: tlsInput } = parseOptions(options, 'connect')
  const secure = tlsInput === null ? null : tlsSockets().tlsSetup(tlsInput, native, false)
  let resolve, reject
  const promise = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  let socket
  if (secure === null) {
    socket = new TCPSocket(binding.connect(native), handlers, data, native.allowHalfOpen, undefined)
  } else {
    const { config, meta } = secure
    const id = binding.connect(native, config, meta.servername, meta.sni)
    if (id < 0) throw invalidArgType(`Invalid server name: ${meta.servername}`)
    socket = new (tlsSockets().TLSSocket)(id, handlers, data, native.allowHalfOpen, undefined, meta)
  }
  const id = socket[kId]
  socket[kConnect] = { promise, resolve, reject }
  socket[kResource] = new HandleResource('BunSocketsSocket')
  handles.set(id, socket)
  expectAnswer()
  return promise
}

function opened(socket, native) {
  socket[kNative] = native
  socket[kState] = OPEN
  const pending = socket[kConnect]
  socket[kConnect] = null
  if (pending !== null) answered()
  // Resolved before `open` runs, so `.then` callbacks run after the handler's nextTicks and
  // before its microtasks, as in Bun.
  if (pending !== null) pending.resolve(socket)
  const state = socket[kTls]
  if (state !== undefined) {
    // Bun calls `open` after the handshake unless there is a `handshake` handler. A client
    // starts its handshake once the promise's callbacks ran, so setSession() there applies.
    if (!state.meta.isServer) timers.queueMicrotask(() => startHandshake(socket))
    if (socket[kShared].handlers.handshake === undefined) {
      state.deferOpen = true
      return
    }
  }
  callOpen(socket)
}

function startHandshake(socket) {
  if (socket[kState] !== OPEN) return
  tlsSockets().startTls(socket)
}

function callOpen(socket) {
  const onOpen = socket[kShared].handlers.open
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
  if (socket[kState] !== OPEN) return
  const onEnd = socket[kShared].handlers.end
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
  if (!socket[kAllowHalfOpen]) timers.queueMicrotask(() => socket.close())
}

function closed(socket, err) {
  // upgradeTLS's `raw` shares its connection with the TLS socket: both close, raw first.
  const partner = socket[kTls]?.partner
  if (partner != null && partner[kState] !== CLOSED) return closed(partner, err)
  // Bun ends a handshake still under way first (handshake(false, ECONNRESET), or the `open` it
  // held back), then closes without an error.
  if (socket[kTls] !== undefined && socket[kState] === OPEN && socket[kTls].authError === undefined) {
    tlsSockets().handshakeCut(socket)
    if (socket[kState] === CLOSED) return // a handler closed it
    err = undefined
  }
  socket[kState] = CLOSED
  handles.delete(socket[kId])
  const native = socket[kNative]
  if (native !== null) {
    socket[kWritten] = native.bytesWritten
    native.detach()
  }
  const listener = socket[kListener]
  if (listener !== undefined) {
    listener[kSockets].delete(socket)
    if (listener[kStopped] && listener[kSockets].size === 0) listener[kData] = undefined
  }
  socket[kListener] = undefined
  socket[kHeld] = null
  socket[kResource]?.close()
  const raw = socket[kTls]?.raw
  if (raw != null && raw[kState] !== CLOSED) {
    raw[kState] = CLOSED
    callHandler(raw, 'close', err)
  }
  callHandler(socket, 'close', err)
}

function connectFailed(socket, info) {
  socket[kState] = CLOSED
  handles.delete(socket[kId])
  socket[kResource]?.close()
  answered()
  const { promise, reject } = socket[kConnect]
  socket[kConnect] = null
  const onConnectError = socket[kShared].handlers.connectError
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

/** One native event, delivered. */
function deliver(socket, kind, a, b) {
  switch (kind) {
    case kinds.DATA:
      if (b === true) {
        // TLS records as read, for the `raw` socket of upgradeTLS.
        const raw = socket[kTls]?.raw
        if (raw != null && raw[kState] === OPEN) callData(raw, convert(a, raw[kShared].handlers.binaryType))
        break
      }
      callData(socket, convert(a, socket[kShared].handlers.binaryType))
      break
    case kinds.OPEN:
      opened(socket, a)
      break
    case kinds.DRAIN:
      if (socket[kState] === OPEN) callHandler(socket, 'drain')
      break
    case kinds.END:
      ended(socket)
      break
    case kinds.CLOSE:
      if (socket[kState] !== CLOSED) closed(socket, a === undefined ? undefined : fromNative(a))
      break
    case kinds.ERROR:
      callHandler(socket, 'error', fromNative(a))
      break
    case kinds.HANDSHAKE:
      tlsSockets().handshaked(socket, a, b)
      break
    case kinds.KEYLOG:
    case kinds.SESSION:
    case kinds.HELLO:
      tlsSockets().tlsNote(socket, kind, a, b)
      break
    case kinds.TIMEOUT:
      if (socket[kState] === OPEN) callHandler(socket, 'timeout')
      break
    case kinds.CONNECT_ERROR:
      connectFailed(socket, a)
      break
  }
}

/** Delivers held events on the turn after resume(), stopping if a handler pauses again. */
function replayHeld(socket) {
  socket[kReplaying] = false
  if (socket[kState] !== OPEN || socket[kPaused]) return
  if (deliverHeld(socket, false)) socket[kNative].resume()
}

/** Delivers held events in order; true once none are left. `always`: even while paused. */
function deliverHeld(socket, always) {
  const held = socket[kHeld]
  if (held === null) return true
  let i = 0
  while (i < held.length && (always || (!socket[kPaused] && socket[kState] === OPEN))) {
    const kind = held[i]
    const a = held[i + 1]
    const b = held[i + 2]
    i += 3
    socket[kHeld] = i < held.length ? held : null
    deliver(socket, kind, a, b)
    if (socket[kHeld] === null) return true
  }
  held.splice(0, i)
  if (held.length === 0) socket[kHeld] = null
  return socket[kHeld] === null
}

// Bun keeps what an address getter returned while open; one never read stays undefined.
function address(socket, end, field) {
  if (socket[kState] !== OPEN) return socket[kSeen]?.[`${end}.${field}`]
  let cached = socket[kAddress]
  if (cached === null) {
    const native = socket[kNative]
    if (native === null) return undefined
    cached = { local: native.localAddress() ?? undefined, remote: native.remoteAddress() ?? undefined }
    socket[kAddress] = cached
  }
  const value = cached[end]?.[field]
  ;(socket[kSeen] ??= {})[`${end}.${field}`] = value
  return value
}

function convert(buffer, binaryType) {
  if (binaryType === 'buffer') return buffer
  if (binaryType === 'uint8array') return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  // A bulk read owns its whole ArrayBuffer; small messages share a slab, so they are copied out.
  if (buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength) return buffer.buffer
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength)
}

/** What lib/tls-socket.js and lib/listener.js build on. */
const internals = {
  kNative,
  kId,
  kState,
  kData,
  kListener,
  kAllowHalfOpen,
  kSockets,
  kStopped,
  kTls,
  kResource,
  OPEN,
  CLOSED,
  disposeSymbols,
  callOpen,
  opened,
  tlsSockets,
}

module.exports = { connect, TCPSocket, internals }
