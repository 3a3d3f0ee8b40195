'use strict'
// Bun's TLSSocket: TCPSocket plus the TLS members, answered from the native rustls session, the
// `handshake` event, and upgradeTLS.

const { handles, kState: kShared, callHandler, reportHandlerError } = require('./dispatch')
const { parseHandlers } = require('./handlers')
const { invalidArgType, outOfRange, tlsError } = require('./errors')
const { toBytes, isBufferSource } = require('./write')
const tls = require('./tls')
const { isNativeError } = require('node:util').types
const { parseTlsOptions } = require('./tls-options')
const { TCPSocket, internals } = require('./tcp')

const { kNative, kId, kState, kData, kListener, kAllowHalfOpen, kSockets, kTls, kResource, OPEN, CLOSED, callOpen } = internals

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
      // DER of the peer's certificate once read; null when it sent none.
      peer: undefined,
      // upgradeTLS: the TLS socket's `raw` twin, and the raw socket's TLS twin.
      raw: null,
      partner: null,
      // setVerifyMode(requestCert, rejectUnauthorized) before the handshake; null: the options'.
      verifyMode: null,
      // A server's SNI while its ClientHello waits for JS (tls-events.js).
      helloServername: undefined,
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

  /** Bun's checks and messages (docs/reference/arguments.md); `length` is truncated. */
  exportKeyingMaterial(length, label, context) {
    if (this[kState] === CLOSED) return undefined
    if (arguments.length < 2) throw new Error('Expected length and label to be provided')
    const size = keyingLength(length)
    if (typeof label !== 'string' && !(label instanceof String)) throw new Error('Expected label to be a string')
    let ctx
    if (arguments.length >= 3) {
      if (typeof context === 'string' || context instanceof String) ctx = Buffer.from(String(context))
      else if (isBufferSource(context)) ctx = Buffer.from(toBytes(context))
      else throw new Error('Expected context to be a string, Buffer or TypedArray')
    }
    if (size > 2 ** 32) {
      throw outOfRange(`The value of "size" is out of range. It must be >= 0 and <= 4294967296. Received ${separated(size)}`)
    }
    if (!this[kTls].established) throw new Error('OpenSSL HANDSHAKE_NOT_COMPLETE via OPENSSL_internal SSL routines')
    const result = this[kNative].exportKeyingMaterial(size, String(label), ctx)
    if (typeof result !== 'string') return result
    if (result === 'OUTPUT_TOO_LARGE') throw new Error('OpenSSL OUTPUT_TOO_LARGE via OPENSSL_internal HKDF functions')
    if (result === 'NO_MEMORY') throw memoryError()
    throw new Error('OpenSSL HANDSHAKE_NOT_COMPLETE via OPENSSL_internal SSL routines')
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
    if (this[kState] === CLOSED) return
    if (typeof session === 'string' || session instanceof String) return
    if (!isBufferSource(session)) throw new Error('Expected session to be a string, Buffer or TypedArray')
    if (this[kState] !== OPEN) return
    this[kNative].setTlsSession(Buffer.from(toBytes(session)))
  }

  getServername() {
    if (this[kState] === CLOSED) return undefined
    const { meta } = this[kTls]
    if (!meta.isServer) return meta.sni ? meta.servername : undefined
    return tlsInfo(this)?.servername ?? this[kTls].helloServername
  }

  setServername(name) {
    if (this[kTls].meta.isServer) throw new Error('Cannot issue SNI from a TLS server-side socket')
    if (arguments.length === 0) throw new Error('Expected 1 argument')
    if (typeof name !== 'string' && !(name instanceof String)) throw new Error('Expected "serverName" to be a string')
    if (String(name) === '' || this[kState] === CLOSED) return
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

  /** Applies to a handshake not yet begun: a client's rejection, a server's request and rejection. */
  setVerifyMode(requestCert, rejectUnauthorized) {
    if (this[kState] === CLOSED) return
    if (arguments.length < 2) throw new Error('Expected requestCert and rejectUnauthorized arguments')
    if (typeof requestCert !== 'boolean' || typeof rejectUnauthorized !== 'boolean') {
      throw new Error('Expected requestCert and rejectUnauthorized arguments to be boolean')
    }
    this[kTls].verifyMode = { requestCert, rejectUnauthorized }
  }

  renegotiate() {
    // rustls never renegotiates; Bun's BoringSSL throws this.
    if (this[kState] === OPEN) throw new Error('OpenSSL function should not have been called via OPENSSL_internal SSL routines')
  }

  disableRenegotiation() {}

  setMaxSendFragment(size) {
    if (typeof size !== 'number') throw new Error('Expected size to be a number')
    if (this[kState] === CLOSED) return false
    return size >= 512 && size <= 16384
  }

  upgradeTLS() {
    if (arguments.length === 0) throw new Error('Expected 1 arguments')
    return undefined
  }

  get [Symbol.toStringTag]() {
    return 'TLSSocket'
  }
}

/**
 * exportKeyingMaterial()'s length as Bun takes it: a number, truncated; NaN, infinities,
 * negatives and 2^63 or more are "not positive" (more than 2^32 is refused after the label
 * and context are checked).
 */
function keyingLength(length) {
  if (typeof length !== 'number') throw new Error('Expected length to be a number')
  const size = Math.trunc(length)
  if (!(size >= 0) || size >= 2 ** 63) throw new Error('Expected length to be a positive number')
  return size + 0 // not -0
}

/** An integer with `_` between groups of three digits, as Node prints a received value. */
function separated(n) {
  return String(n).replace(/\B(?=(\d{3})+$)/g, '_')
}

function memoryError() {
  const err = new Error('Failed to allocate memory')
  err.code = 'ERR_MEMORY_ALLOCATION_FAILED'
  return err
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
  let err = info === undefined ? null : tlsError(info)
  if (err !== null && err.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    // After a refused certificate the native side still has it, for Node's message.
    const peer = socket[kNative].peerCertificates()?.[0]
    err = tls.altnameError(state.meta.servername, peer == null ? undefined : x509().legacyCertificate(peer))
  }
  state.authError = err
  state.authorized = outcome === 1 && err === null
  if (state.raw !== null) state.raw[kTls].authError = err
  const handlers = socket[kShared].handlers
  if (handlers.handshake !== undefined) {
    try {
      const result = handlers.handshake.call(socket, socket, success, err)
      // Bun reports an Error the handler returns as if it threw it (the socket stays open).
      if (isNativeError(result)) reportHandlerError(socket, result)
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

/** The connection closed before the handshake ended: it ends now, failed, as Bun reports it. */
function handshakeCut(socket) {
  handshaked(socket, 0, {
    code: 'ECONNRESET',
    message: 'Client network socket disconnected before secure TLS connection was established',
  })
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

/**
 * STARTTLS, checked in Bun's order. Options beyond bun-types' { data, tls, socket }, as Bun's
 * own node:tls passes them: `isServer` (default: whether the socket was accepted) and
 * `initialData`, bytes already read from the peer that the new session takes first.
 */
function upgrade(socket, options) {
  if (socket[kState] !== OPEN || socket[kNative] === null) {
    throw invalidArgType('upgradeTLS requires an established socket')
  }
  if (options === null || (typeof options !== 'object' && typeof options !== 'function')) {
    throw new Error('Expected options object')
  }
  if (options.socket === undefined || options.socket === null) throw new Error('Expected "socket" option')
  const handlers = parseHandlers(options.socket)
  const accepted = socket[kListener] !== undefined
  const isServer = options.isServer === undefined || options.isServer === null ? accepted : Boolean(options.isServer)
  const hostname = socket.remoteAddress ?? 'localhost'
  const setup = tlsSetup(options.tls, { hostname, unix: undefined }, isServer)
  if (setup === null) throw new Error('Expected "tls" option')
  const initial = initialData(options.initialData)
  const native = socket[kNative]
  if (!native.upgradeTls(setup.config, setup.meta.servername ?? hostname, setup.meta.sni, initial)) {
    throw invalidArgType('upgradeTLS requires an established socket')
  }
  const id = socket[kId]
  const listener = socket[kListener]
  const raw = new TLSSocket(id, socket[kShared].handlers, socket[kData], socket[kAllowHalfOpen], listener, setup.meta)
  const upgraded = new TLSSocket(id, handlers, options.data, socket[kAllowHalfOpen], listener, setup.meta)
  for (const next of [raw, upgraded]) {
    next[kNative] = native
    next[kState] = OPEN
  }
  upgraded[kTls].raw = raw
  raw[kTls].partner = upgraded
  // The original is dead without a `close`; its async resource lives on in the TLS socket.
  upgraded[kResource] = socket[kResource]
  socket[kResource] = null
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
  if (!isServer) startTls(upgraded)
  return [raw, upgraded]
}

/** upgradeTLS's `initialData` as bytes: strings as UTF-8; Bun ignores what is neither. */
function initialData(value) {
  if (typeof value === 'string' || value instanceof String) return value.length === 0 ? undefined : Buffer.from(String(value))
  if (isBufferSource(value)) {
    const bytes = toBytes(value)
    return bytes.byteLength === 0 ? undefined : Buffer.from(bytes)
  }
  return undefined
}

/** Starts a client's handshake with what JS decided before it: setVerifyMode(), handlers. */
function startTls(socket) {
  const state = socket[kTls]
  const handlers = socket[kShared].handlers
  state.started = true
  socket[kNative].startTls(state.verifyMode?.rejectUnauthorized, handlers.keylog !== undefined, handlers.session !== undefined)
}

module.exports = { TLSSocket, handshaked, handshakeCut, tlsSetup, upgrade, startTls, tlsNote: (...args) => tlsEvents().tlsNote(...args) }

let tlsEventsModule = null
function tlsEvents() {
  return (tlsEventsModule ??= require('./tls-events'))
}
