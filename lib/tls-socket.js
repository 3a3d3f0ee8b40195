'use strict'
// Bun's TLSSocket: TCPSocket plus the TLS members, answered from the native rustls session, the
// `handshake` event, and upgradeTLS.

const { kState, callHandler, reportHandlerError } = require('./dispatch')
const timers = require('./timers')
const { parseHandlers } = require('./handlers')
const { invalidArgType, outOfRange, tlsError } = require('./errors')
const { toBytes, isBufferSource } = require('./write')
const tls = require('./tls')
const { CERT_ALTNAME_INVALID, HandshakeResult, KeyingFailure, PresetTlsError, presetTlsError } = require('./native')
const { isNativeError } = require('node:util').types
const { parseTlsOptions } = require('./tls-options')
const { TCPSocket, OPEN, CLOSED, callOpen, handOver } = require('./tcp')

/** A TLS socket's own state: `socket[kState].tls`. */
class TlsState {
  constructor(meta) {
    this.meta = meta
    this.started = false
    this.established = false
    this.authorized = false
    // undefined until the handshake ended.
    this.authError = undefined
    this.info = null
    this.deferOpen = false
    // DER of the peer's certificate once read; null when it sent none.
    this.peer = undefined
    // upgradeTLS: the TLS socket's `raw` twin, and the raw socket's TLS twin.
    this.raw = null
    this.partner = null
    // setVerifyMode(requestCert, rejectUnauthorized) before the handshake; null: the options'.
    this.verifyMode = null
    // A server's SNI while its ClientHello waits for JS (tls-events.js).
    this.helloServername = undefined
  }
}

/** A TLS socket: Bun's TLS introspection over the native session. */
class TLSSocket extends TCPSocket {
  constructor(id, handlers, data, allowHalfOpen, listener, meta) {
    super(id, handlers, data, allowHalfOpen, listener, new TlsState(meta))
  }

  get authorized() {
    return this[kState].tls.authorized
  }

  get alpnProtocol() {
    if (this[kState].readyState !== OPEN) return false
    return tlsInfo(this)?.alpn ?? false
  }

  getAuthorizationError() {
    const { authError } = this[kState].tls
    return authError === undefined ? tlsError(presetTlsError(PresetTlsError.NoIssuer)) : authError
  }

  getCipher() {
    if (this[kState].readyState === CLOSED) return undefined
    return tls.cipherInfo(tlsInfo(this) ?? {})
  }

  getTLSVersion() {
    if (this[kState].readyState === CLOSED) return null
    // Bun answers TLS 1.2 until the handshake decided.
    return tlsInfo(this)?.version ?? 'TLSv1.2'
  }

  /** Bun's argument is `abbreviated`: false gives the chain, linked by `issuerCertificate`. */
  getPeerCertificate(abbreviated) {
    if (arguments.length > 0 && typeof abbreviated !== 'boolean') throw new Error('Expected abbreviated to be a boolean')
    const der = peerCertificate(this)
    if (der === undefined) return undefined
    if (abbreviated !== false) return x509().legacyCertificate(der)
    const state = this[kState]
    return x509().detailedCertificate(state.native.peerCertificates(), state.tls.meta.ca ?? [])
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
    const state = this[kState]
    if (state.readyState === CLOSED || state.tls.meta.isServer) return null
    return tls.ephemeralKeyInfo(tlsInfo(this) ?? {})
  }

  getSharedSigalgs() {
    return this[kState].readyState === CLOSED ? null : []
  }

  /** Bun's checks and messages (docs/reference/arguments.md); `length` is truncated. */
  exportKeyingMaterial(length, label, context) {
    const state = this[kState]
    if (state.readyState === CLOSED) return undefined
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
    if (!state.tls.established) throw new Error('OpenSSL HANDSHAKE_NOT_COMPLETE via OPENSSL_internal SSL routines')
    const result = state.native.exportKeyingMaterial(size, String(label), ctx)
    if (typeof result !== 'number') return result
    if (result === KeyingFailure.OutputTooLarge) throw new Error('OpenSSL OUTPUT_TOO_LARGE via OPENSSL_internal HKDF functions')
    if (result === KeyingFailure.NoMemory) throw memoryError()
    throw new Error('OpenSSL HANDSHAKE_NOT_COMPLETE via OPENSSL_internal SSL routines')
  }

  isSessionReused() {
    if (this[kState].readyState === CLOSED) return false
    return tlsInfo(this)?.resumed ?? false
  }

  getSession() {
    const state = this[kState]
    if (state.readyState === CLOSED || !state.tls.established) return undefined
    return state.native.tlsSession() ?? undefined
  }

  setSession(session) {
    const state = this[kState]
    if (state.readyState === CLOSED) return
    if (typeof session === 'string' || session instanceof String) return
    if (!isBufferSource(session)) throw new Error('Expected session to be a string, Buffer or TypedArray')
    if (state.readyState !== OPEN) return
    state.native.setTlsSession(Buffer.from(toBytes(session)))
  }

  getServername() {
    const state = this[kState]
    if (state.readyState === CLOSED) return undefined
    const { meta } = state.tls
    if (!meta.isServer) return meta.sni ? meta.servername : undefined
    return tlsInfo(this)?.servername ?? state.tls.helloServername
  }

  setServername(name) {
    const state = this[kState]
    if (state.tls.meta.isServer) throw new Error('Cannot issue SNI from a TLS server-side socket')
    if (arguments.length === 0) throw new Error('Expected 1 argument')
    if (typeof name !== 'string' && !(name instanceof String)) throw new Error('Expected "serverName" to be a string')
    if (String(name) === '' || state.readyState === CLOSED) return
    if (state.tls.started) throw new Error('Already started.')
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
    if (this[kState].readyState === CLOSED) return
    if (arguments.length < 2) throw new Error('Expected requestCert and rejectUnauthorized arguments')
    if (typeof requestCert !== 'boolean' || typeof rejectUnauthorized !== 'boolean') {
      throw new Error('Expected requestCert and rejectUnauthorized arguments to be boolean')
    }
    this[kState].tls.verifyMode = { requestCert, rejectUnauthorized }
  }

  renegotiate() {
    // rustls never renegotiates; Bun's BoringSSL throws this.
    if (this[kState].readyState === OPEN) throw new Error('OpenSSL function should not have been called via OPENSSL_internal SSL routines')
  }

  disableRenegotiation() {}

  setMaxSendFragment(size) {
    if (typeof size !== 'number') throw new Error('Expected size to be a number')
    if (this[kState].readyState === CLOSED) return false
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
  const state = socket[kState]
  const tlsState = state.tls
  if (tlsState.info !== null) return tlsState.info
  const native = state.native
  if (native === null || state.readyState === CLOSED) return null
  const info = native.tlsInfo()
  if (info !== null && tlsState.established) tlsState.info = info
  return info
}

function peerCertificate(socket) {
  const state = socket[kState]
  if (state.readyState === CLOSED || state.native === null) return undefined
  const tlsState = state.tls
  if (tlsState.peer === undefined) {
    if (!tlsState.established) return undefined
    tlsState.peer = state.native.peerCertificates()?.[0] ?? null
  }
  return tlsState.peer ?? undefined
}

function ownCertificate(socket) {
  const state = socket[kState]
  if (state.readyState === CLOSED) return undefined
  return state.tls.meta.certificate
}

/**
 * A TLS socket opened: true if its `open` waits for the handshake, as Bun's does without a
 * `handshake` handler. A client starts its handshake once connect()'s promise callbacks ran,
 * so setSession() there applies.
 */
function opening(socket) {
  const state = socket[kState]
  if (!state.tls.meta.isServer) timers.queueMicrotask(() => startHandshake(socket))
  if (state.handlers.handshake !== undefined) return false
  state.tls.deferOpen = true
  return true
}

function startHandshake(socket) {
  if (socket[kState].readyState === OPEN) startTls(socket)
}

/** The handshake ended: `result` is a HandshakeResult, `info` the failure's descriptor. */
function handshaked(socket, result, info) {
  const state = socket[kState]
  const tlsState = state.tls
  if (tlsState === undefined || state.readyState !== OPEN) return
  const success = result === HandshakeResult.Succeeded || result === HandshakeResult.Refused
  tlsState.established = result !== HandshakeResult.Failed
  let err = info === undefined ? null : tlsError(info)
  if (err !== null && err.code === CERT_ALTNAME_INVALID) {
    // After a refused certificate the native side still has it, for Node's message.
    const peer = state.native.peerCertificates()?.[0]
    err = tls.altnameError(tlsState.meta.servername, peer == null ? undefined : x509().legacyCertificate(peer))
  }
  tlsState.authError = err
  tlsState.authorized = result === HandshakeResult.Succeeded && err === null
  if (tlsState.raw !== null) tlsState.raw[kState].tls.authError = err
  const handlers = state.handlers
  if (handlers.handshake !== undefined) {
    try {
      const result = handlers.handshake.call(socket, socket, success, err)
      // Bun reports an Error the handler returns as if it threw it (the socket stays open).
      if (isNativeError(result)) reportHandlerError(socket, result)
    } catch (thrown) {
      reportHandlerError(socket, thrown)
    }
  } else if (tlsState.deferOpen) {
    tlsState.deferOpen = false
    callOpen(socket)
  }
  // Bun reports the socket writable right after the handshake.
  const stays = result === HandshakeResult.Succeeded || result === HandshakeResult.FailedKeptOpen
  if (stays && state.readyState === OPEN) callHandler(socket, 'drain')
}

/** The connection closed before the handshake ended: it ends now, failed, as Bun reports it. */
function handshakeCut(socket) {
  handshaked(socket, HandshakeResult.Failed, presetTlsError(PresetTlsError.Disconnected))
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
  const state = socket[kState]
  if (state.readyState !== OPEN || state.native === null) {
    throw invalidArgType('upgradeTLS requires an established socket')
  }
  if (options === null || (typeof options !== 'object' && typeof options !== 'function')) {
    throw new Error('Expected options object')
  }
  if (options.socket === undefined || options.socket === null) throw new Error('Expected "socket" option')
  const handlers = parseHandlers(options.socket)
  const accepted = state.listener !== undefined
  const isServer = options.isServer === undefined || options.isServer === null ? accepted : Boolean(options.isServer)
  const hostname = socket.remoteAddress ?? 'localhost'
  const setup = tlsSetup(options.tls, { hostname, unix: undefined }, isServer)
  if (setup === null) throw new Error('Expected "tls" option')
  const initial = initialData(options.initialData)
  if (!state.native.upgradeTls(setup.config, setup.meta.servername ?? hostname, setup.meta.sni, initial)) {
    throw invalidArgType('upgradeTLS requires an established socket')
  }
  const { id, listener, allowHalfOpen } = state
  const raw = new TLSSocket(id, state.handlers, state.data, allowHalfOpen, listener, setup.meta)
  const upgraded = new TLSSocket(id, handlers, options.data, allowHalfOpen, listener, setup.meta)
  upgraded[kState].tls.raw = raw
  raw[kState].tls.partner = upgraded
  handOver(socket, raw, upgraded)
  if (handlers.handshake !== undefined) callOpen(upgraded)
  else upgraded[kState].tls.deferOpen = true
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
  const state = socket[kState]
  const { handlers, tls: tlsState } = state
  tlsState.started = true
  state.native.startTls(tlsState.verifyMode?.rejectUnauthorized, handlers.keylog !== undefined, handlers.session !== undefined)
}

module.exports = { TLSSocket, opening, handshaked, handshakeCut, tlsSetup, upgrade, tlsNote: (...args) => tlsEvents().tlsNote(...args) }

let tlsEventsModule = null
function tlsEvents() {
  return (tlsEventsModule ??= require('./tls-events'))
}
