'use strict'
// Bun's TCPSocket and SocketListener over the native halves. State here is what Bun exposes
// (readyState, data, handlers); the socket itself lives in Rust.

const binding = require('./native')
const { handles, kEvent, kHandlers, callHandler, callData, reportHandlerError, kinds } = require('./dispatch')
const { parseHandlers, parseOptions, parseReload } = require('./handlers')
const { fromNative, invalidArgType, outOfRange } = require('./errors')
const { toBytes, writeArgs } = require('./write')
const tls = require('./tls')
const { parseTlsOptions } = require('./tls-options')

const kNative = Symbol('kNative')
const kId = Symbol('kId')
const kState = Symbol('kState')
const kData = Symbol('kData')
const kListener = Symbol('kListener')
const kAllowHalfOpen = Symbol('kAllowHalfOpen')
const kPaused = Symbol('kPaused')
const kHeld = Symbol('kHeld')
const kConnect = Symbol('kConnect')
const kSockets = Symbol('kSockets')
const kAddress = Symbol('kAddress')
const kSeen = Symbol('kSeen')
const kWritten = Symbol('kWritten')
const kStopped = Symbol('kStopped')
const kPort = Symbol('kPort')
const kHostname = Symbol('kHostname')
const kUnix = Symbol('kUnix')
const kTls = Symbol('kTls')
const kTlsConfig = Symbol('kTlsConfig')

// readyState values Bun reports.
const CONNECTING = 0
const OPEN = 1
const CLOSED = -1

const disposeSymbols = [Symbol.dispose, Symbol.for('nodejs.dispose')].filter((s) => typeof s === 'symbol')

class TCPSocket {
  constructor(id, handlers, data, allowHalfOpen, listener) {
    this[kId] = id
    this[kNative] = null
    this[kHandlers] = handlers
    this[kData] = data
    this[kState] = CONNECTING
    this[kListener] = listener
    this[kAllowHalfOpen] = allowHalfOpen
    this[kPaused] = false
    this[kHeld] = null
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

  // TLS introspection answers a plain socket gives, as in Bun.

  getAuthorizationError() {
    return null
  }

  getCipher() {
    return undefined
  }

  getTLSVersion() {
    return null
  }

  getPeerCertificate() {
    return null
  }

  getCertificate() {
    return undefined
  }

  getEphemeralKeyInfo() {
    return null
  }

  getSharedSigalgs() {
    return undefined
  }

  exportKeyingMaterial() {
    return undefined
  }

  isSessionReused() {
    return false
  }

  getSession() {
    return undefined
  }

  setSession() {}

  getServername() {
    return undefined
  }

  setServername() {}

  getTLSTicket() {
    return undefined
  }

  getTLSFinishedMessage() {
    return undefined
  }

  getTLSPeerFinishedMessage() {
    return undefined
  }

  setVerifyMode() {}

  renegotiate() {}

  disableRenegotiation() {}

  setMaxSendFragment() {
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
    if (arguments.length === 0) throw new Error('Expected 1 argument, got 0')
    const value = Number(seconds)
    if (value < 0) throw new Error('Timeout must be a positive integer')
    if (this[kState] !== OPEN) return
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
    if (initialDelay === undefined) initialDelay = 0
    if (typeof initialDelay !== 'number') {
      throw invalidArgType(`The "initialDelay" property must be of type number. Received ${typeof initialDelay}`)
    }
    if (!Number.isInteger(initialDelay)) {
      throw invalidArgType('The "initialDelay" property must be of type integer. Received number')
    }
    if (initialDelay < 0 || initialDelay > Number.MAX_SAFE_INTEGER) {
      throw outOfRange(`The value of "initialDelay" is out of range. It must be >= 0 and <= 9007199254740991. Received ${initialDelay}`)
    }
    if (this[kState] !== OPEN) return false
    return this[kNative].setKeepAlive(enable === true, Math.ceil(initialDelay / 1000))
  }

  ref() {
    if (this[kState] === OPEN) this[kNative].ref()
  }

  unref() {
    if (this[kState] === OPEN) this[kNative].unref()
  }

  pause() {
    if (this[kState] !== OPEN || this[kPaused]) return
    this[kPaused] = true
    this[kNative].pause()
  }

  resume() {
    if (this[kState] !== OPEN || !this[kPaused]) return
    this[kPaused] = false
    this[kNative].resume()
    const held = this[kHeld]
    if (held !== null && held.length > 0) setImmediate(replayHeld, this)
  }

  reload(options) {
    if (this[kState] === CLOSED) return
    this[kHandlers] = parseReload(arguments, false)
  }

  /** STARTTLS: returns [raw, tls], two new sockets; this one is dead afterwards, as in Bun. */
  upgradeTLS(options) {
    if (arguments.length === 0) throw new Error('Expected 1 arguments')
    return upgrade(this, options)
  }

  [kEvent](kind, a, b) {
    if (this[kPaused] && (kind === kinds.DATA || kind === kinds.END)) {
      ;(this[kHeld] ??= []).push(kind, a)
      return
    }
    switch (kind) {
      case kinds.DATA:
        if (b === true) {
          // TLS records as read, for the `raw` socket of upgradeTLS.
          const raw = this[kTls]?.raw
          if (raw != null && raw[kState] === OPEN) callData(raw, convert(a, raw[kHandlers].binaryType))
          break
        }
        callData(this, convert(a, this[kHandlers].binaryType))
        break
      case kinds.OPEN:
        opened(this, a)
        break
      case kinds.DRAIN:
        if (this[kState] === OPEN) callHandler(this, 'drain')
        break
      case kinds.END:
        ended(this)
        break
      case kinds.CLOSE:
        if (this[kState] !== CLOSED) closed(this, a === undefined ? undefined : fromNative(a))
        break
      case kinds.ERROR:
        callHandler(this, 'error', a.syscall == null ? tls.tlsError(a) : fromNative(a))
        break
      case kinds.HANDSHAKE:
        handshaked(this, a, b)
        break
      case kinds.TIMEOUT:
        if (this[kState] === OPEN) callHandler(this, 'timeout')
        break
      case kinds.CONNECT_ERROR:
        connectFailed(this, a)
        break
    }
  }

  get [Symbol.toStringTag]() {
    return 'TCPSocket'
  }
}

for (const symbol of disposeSymbols) {
  TCPSocket.prototype[symbol] = function dispose() {
    return this.end()
  }
}

/** A TLS socket: Bun's TLS introspection over the native session. */
class TLSSocket extends TCPSocket {
  constructor(id, handlers, data, allowHalfOpen, listener, meta) {
    super(id, handlers, data, allowHalfOpen, listener)
    this[kTls] = {
      meta,
      started: false,
      established: false,
      authorized: false,
      // undefined until the handshake ended.
      authError: undefined,
      info: null,
      deferOpen: false,
      raw: null,
    }
  }

  get authorized() {
    return this[kTls].authorized
  }

  get alpnProtocol() {
    if (this[kState] !== OPEN) return false
    return tlsInfo(this)?.alpn ?? false
  }

  getAuthorizationError() {
    const state = this[kTls]
    return state.authError === undefined ? tls.noIssuerError() : state.authError
  }

  getCipher() {
    if (this[kState] === CLOSED) return undefined
    return tls.cipherInfo(tlsInfo(this) ?? {})
  }

  getTLSVersion() {
    if (this[kState] === CLOSED) return null
    // Bun answers TLS 1.2 until the handshake decided.
    return tlsInfo(this)?.version ?? 'TLSv1.2'
  }

  /** Bun's argument is `abbreviated`: false gives the chain, linked by `issuerCertificate`. */
  getPeerCertificate(abbreviated) {
    if (arguments.length > 0 && typeof abbreviated !== 'boolean') throw new Error('Expected abbreviated to be a boolean')
    const der = peerCertificate(this)
    if (der === undefined) return undefined
    if (abbreviated !== false) return x509().legacyCertificate(der)
    return x509().detailedCertificate(this[kNative].peerCertificates(), this[kTls].meta.ca ?? [])
  }

  getPeerX509Certificate() {
    const der = peerCertificate(this)
    return der === undefined ? undefined : x509().x509Certificate(der)
  }

  getCertificate() {
    const der = ownCertificate(this)
    return der === undefined ? undefined : x509().legacyCertificate(der)
  }

  getX509Certificate() {
    const der = ownCertificate(this)
    return der === undefined ? undefined : x509().x509Certificate(der)
  }

  getEphemeralKeyInfo() {
    if (this[kState] === CLOSED || this[kTls].meta.isServer) return null
    return tls.ephemeralKeyInfo(tlsInfo(this) ?? {})
  }

  getSharedSigalgs() {
    return this[kState] === CLOSED ? null : []
  }

  exportKeyingMaterial(length, label, context) {
    if (this[kState] === CLOSED) return undefined
    if (length === undefined || label === undefined) throw new Error('Expected length and label to be provided')
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) {
      throw invalidArgType(`The "length" argument must be of type number. Received ${typeof length}`)
    }
    if (typeof label !== 'string') throw invalidArgType(`The "label" argument must be of type string. Received ${typeof label}`)
    if (!this[kTls].established) throw new Error('OpenSSL HANDSHAKE_NOT_COMPLETE via OPENSSL_internal SSL routines')
    const ctx = context === undefined ? undefined : Buffer.from(typeof context === 'string' ? Buffer.from(context) : toBytes(context))
    return this[kNative].exportKeyingMaterial(length, label, ctx) ?? undefined
  }

  isSessionReused() {
    if (this[kState] === CLOSED) return false
    return tlsInfo(this)?.resumed ?? false
  }

  getSession() {
    if (this[kState] === CLOSED || !this[kTls].established) return undefined
    return this[kNative].tlsSession() ?? undefined
  }

  setSession(session) {
    if (typeof session === 'string') return
    if (!ArrayBuffer.isView(session) && !(session instanceof ArrayBuffer)) {
      throw new Error('Expected session to be a string, Buffer or TypedArray')
    }
    if (this[kState] !== OPEN) return
    this[kNative].setTlsSession(Buffer.from(toBytes(session)))
  }

  getServername() {
    if (this[kState] === CLOSED) return undefined
    const { meta } = this[kTls]
    if (!meta.isServer) return meta.sni ? meta.servername : undefined
    return tlsInfo(this)?.servername ?? undefined
  }

  setServername(name) {
    if (this[kTls].meta.isServer) throw new Error('Cannot issue SNI from a TLS server-side socket')
    if (this[kTls].started) throw new Error('Already started.')
  }

  getTLSTicket() {
    return undefined
  }

  getTLSFinishedMessage() {
    return undefined
  }

  getTLSPeerFinishedMessage() {
    return undefined
  }

  setVerifyMode() {}

  renegotiate() {
    // rustls never renegotiates; Bun's BoringSSL throws this.
    if (this[kState] === OPEN) throw new Error('OpenSSL function should not have been called via OPENSSL_internal SSL routines')
  }

  disableRenegotiation() {}

  setMaxSendFragment(size) {
    if (this[kState] === CLOSED) return false
    return typeof size === 'number' && size >= 512 && size <= 16384
  }

  upgradeTLS() {
    if (arguments.length === 0) throw new Error('Expected 1 arguments')
    return undefined
  }

  get [Symbol.toStringTag]() {
    return 'TLSSocket'
  }
}

let x509Module = null
function x509() {
  return (x509Module ??= require('./x509'))
}

/** The native session's state, kept once the handshake ended. */
function tlsInfo(socket) {
  const state = socket[kTls]
  if (state.info !== null) return state.info
  const native = socket[kNative]
  if (native === null || socket[kState] === CLOSED) return null
  const info = native.tlsInfo()
  if (info !== null && state.established) state.info = info
  return info
}

function peerCertificate(socket) {
  if (socket[kState] === CLOSED || socket[kNative] === null) return undefined
  const state = socket[kTls]
  if (state.peer === undefined) {
    if (!state.established) return undefined
    state.peer = socket[kNative].peerCertificates()?.[0] ?? null
  }
  return state.peer ?? undefined
}

function ownCertificate(socket) {
  if (socket[kState] === CLOSED) return undefined
  return socket[kTls].meta.certificate
}

/**
 * The handshake ended. `outcome`: 0 failed (close follows), 1 succeeded, 2 succeeded but the
 * peer is refused (close follows), 3 reported as failed while the connection stays up (Bun's
 * hostname mismatch with rejectUnauthorized false).
 */
function handshaked(socket, outcome, info) {
  const state = socket[kTls]
  if (state === undefined || socket[kState] !== OPEN) return
  const success = outcome === 1 || outcome === 2
  state.established = outcome !== 0
  let err = info === undefined ? null : tls.tlsError(info)
  if (err !== null && err.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    // After a refused certificate the native side still has it, for Node's message.
    const peer = socket[kNative].peerCertificates()?.[0]
    err = tls.altnameError(state.meta.servername, peer == null ? undefined : x509().legacyCertificate(peer).subjectaltname)
  }
  state.authError = err
  state.authorized = outcome === 1 && err === null
  if (state.raw !== null) state.raw[kTls].authError = err
  const handlers = socket[kHandlers]
  if (handlers.handshake !== undefined) {
    try {
      handlers.handshake.call(socket, socket, success, err)
    } catch (thrown) {
      reportHandlerError(socket, thrown)
    }
  } else if (state.deferOpen) {
    state.deferOpen = false
    callOpen(socket)
  }
  // Bun reports the socket writable right after the handshake.
  if ((outcome === 1 || outcome === 3) && socket[kState] === OPEN) callHandler(socket, 'drain')
}

/** Options of listen()/connect() for TLS: null for plain TCP, else what the native side takes. */
function tlsSetup(input, native, isServer) {
  const parsed = parseTlsOptions(input, isServer)
  if (parsed === null) return null
  const config = tls.nativeConfig(parsed, isServer)
  const meta = { isServer, certificate: parsed.certs[0], ca: parsed.ca, servername: undefined, sni: false }
  if (!isServer) {
    const host = native.unix === undefined ? native.hostname : 'localhost'
    const named = parsed.serverName !== undefined && parsed.serverName !== ''
    meta.servername = named ? parsed.serverName : host
    meta.sni = parsed.serverName !== ''
  }
  return { config, meta }
}

function upgrade(socket, options) {
  if (options === null || typeof options !== 'object' || options.socket === undefined || options.socket === null) {
    throw new Error('Expected "socket" option')
  }
  const handlers = parseHandlers(options.socket)
  if (socket[kTls] !== undefined) return undefined
  if (socket[kState] !== OPEN || socket[kNative] === null) {
    throw invalidArgType('upgradeTLS requires an established socket')
  }
  const isServer = socket[kListener] !== undefined
  const hostname = socket.remoteAddress ?? 'localhost'
  const setup = tlsSetup(options.tls, { hostname, unix: undefined }, isServer)
  if (setup === null) throw new Error('Expected "tls" option')
  const native = socket[kNative]
  if (!native.upgradeTls(setup.config, setup.meta.servername ?? hostname, setup.meta.sni)) {
    throw invalidArgType('upgradeTLS requires an established socket')
  }
  const id = socket[kId]
  const listener = socket[kListener]
  const raw = new TLSSocket(id, socket[kHandlers], socket[kData], socket[kAllowHalfOpen], listener, setup.meta)
  const upgraded = new TLSSocket(id, handlers, options.data, socket[kAllowHalfOpen], listener, setup.meta)
  for (const next of [raw, upgraded]) {
    next[kNative] = native
    next[kState] = OPEN
  }
  upgraded[kTls].raw = raw
  // The original is dead without a `close`.
  socket[kState] = CLOSED
  socket[kNative] = null
  socket[kListener] = undefined
  handles.set(id, upgraded)
  if (listener !== undefined) {
    listener[kSockets].delete(socket)
    listener[kSockets].add(upgraded)
  }
  if (handlers.handshake !== undefined) callOpen(upgraded)
  else upgraded[kTls].deferOpen = true
  if (!isServer) {
    upgraded[kTls].started = true
    native.startTls()
  }
  return [raw, upgraded]
}

class SocketListener {
  constructor(native, handlers, data, options, tlsMeta) {
    this[kNative] = native
    this[kTlsConfig] = tlsMeta
    this[kId] = native.id
    this[kHandlers] = handlers
    this[kData] = data
    this[kSockets] = new Set()
    this[kAllowHalfOpen] = options.allowHalfOpen === true
    this[kState] = OPEN
    this[kStopped] = false
    this[kUnix] = options.unix
    this[kHostname] = options.unix === undefined ? options.hostname : undefined
    const address = native.address()
    this[kPort] = address === null ? undefined : address.port
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
    if (out === null || typeof out !== 'object') throw invalidArgType('Expected object')
    if (this[kState] !== OPEN) return
    const address = this[kNative].address()
    if (address !== null) Object.assign(out, { family: address.family, address: address.address, port: address.port })
  }

  stop(closeActiveConnections) {
    if (this[kState] === OPEN) {
      this[kState] = CLOSED
      this[kNative].stop()
      handles.delete(this[kId])
      this[kStopped] = true
    }
    if (closeActiveConnections === true) {
      for (const socket of [...this[kSockets]]) socket.close()
    }
    // Bun drops `data` once the listener is stopped and its last connection closed.
    if (this[kSockets].size === 0) this[kData] = undefined
  }

  ref() {
    if (this[kState] === OPEN) this[kNative].ref()
  }

  unref() {
    if (this[kState] === OPEN) this[kNative].unref()
  }

  reload(options) {
    // Bun, once stopped, answers every reload this way.
    if (this[kState] === CLOSED) throw new Error('Expected 1 argument')
    const handlers = parseReload(arguments, true)
    this[kHandlers] = handlers
    // Bun switches the connections already accepted too.
    for (const socket of this[kSockets]) socket[kHandlers] = handlers
  }

  [kEvent](kind, native, id) {
    if (kind !== kinds.ACCEPT) return
    const meta = this[kTlsConfig]
    const socket = meta === null
      ? new TCPSocket(id, this[kHandlers], this[kData], this[kAllowHalfOpen], this)
      : new TLSSocket(id, this[kHandlers], this[kData], this[kAllowHalfOpen], this, meta)
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
  const secure = tlsSetup(tlsInput, native, true)
  const result = binding.listen(native, secure?.config)
  if (!(result instanceof binding.NativeListener)) {
    // Bun names the address as given ("123", not "0.0.0.123").
    throw fromNative({ ...result, address: native.unix ?? native.hostname }, 'listen')
  }
  const listener = new SocketListener(result, handlers, data, native, secure === null ? null : secure.meta)
  handles.set(listener[kId], listener)
  return listener
}

function connect(options) {
  const { handlers, data, native, tls: tlsInput } = parseOptions(options, 'connect')
  const secure = tlsSetup(tlsInput, native, false)
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
    socket = new TLSSocket(id, handlers, data, native.allowHalfOpen, undefined, meta)
  }
  const id = socket[kId]
  socket[kConnect] = { promise, resolve, reject }
  handles.set(id, socket)
  return promise
}

function opened(socket, native) {
  socket[kNative] = native
  socket[kState] = OPEN
  const pending = socket[kConnect]
  socket[kConnect] = null
  // Resolved before `open` runs, so `.then` callbacks run after the handler's nextTicks and
  // before its microtasks, as in Bun.
  if (pending !== null) pending.resolve(socket)
  const state = socket[kTls]
  if (state !== undefined) {
    // Bun calls `open` after the handshake unless there is a `handshake` handler. A client
    // starts its handshake once the promise's callbacks ran, so setSession() there applies.
    if (!state.meta.isServer) queueMicrotask(() => startHandshake(socket))
    if (socket[kHandlers].handshake === undefined) {
      state.deferOpen = true
      return
    }
  }
  callOpen(socket)
}

function startHandshake(socket) {
  if (socket[kState] !== OPEN) return
  socket[kTls].started = true
  socket[kNative].startTls()
}

function callOpen(socket) {
  const onOpen = socket[kHandlers].open
  if (onOpen === undefined) return
  try {
    onOpen.call(socket, socket)
  } catch (err) {
    reportHandlerError(socket, err)
    // Bun closes a socket whose `open` handler threw.
    socket.close()
  }
}

function ended(socket) {
  if (socket[kState] !== OPEN) return
  const onEnd = socket[kHandlers].end
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
  if (!socket[kAllowHalfOpen]) queueMicrotask(() => socket.close())
}

function closed(socket, err) {
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
  const { promise, reject } = socket[kConnect]
  socket[kConnect] = null
  const onConnectError = socket[kHandlers].connectError
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

function replayHeld(socket) {
  const held = socket[kHeld]
  socket[kHeld] = null
  if (held === null) return
  for (let i = 0; i < held.length; i += 2) {
    if (socket[kState] !== OPEN) return
    if (socket[kPaused]) {
      ;(socket[kHeld] ??= []).push(...held.slice(i))
      return
    }
    socket[kEvent](held[i], held[i + 1])
  }
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
  // Native chunks own their whole ArrayBuffer.
  if (buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength) return buffer.buffer
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength)
}

module.exports = { listen, connect, TCPSocket, TLSSocket, SocketListener, toBytes }
