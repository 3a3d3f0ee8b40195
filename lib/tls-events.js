'use strict'
// What a TLS session tells JS besides the end of its handshake: lines for Bun's `keylog`
// handler, sessions for its `session` handler (client), and a server's ClientHello. A listener
// whose handlers decide something before the handshake (`serverName`, `alpnCallback`, or an
// `open` that runs first and may call setVerifyMode()) has each ClientHello wait for JS; the
// answer lets the handshake go on (src/net/tls/server.rs).

const { kState, callHandler, reportHandlerError, EventKind } = require('./dispatch')
const { OPEN } = require('./tcp')

/**
 * What a listener's handlers need from each ClientHello (NativeTlsConfig.setHooks()).
 * `listenedWithServerName`: Bun asks `serverName` only if listen() was given one (reload()
 * swaps the function only).
 */
function helloHooks(handlers, listenedWithServerName) {
  return {
    // With a `handshake` handler, `open` runs before the handshake: it may call setVerifyMode().
    always: handlers.open !== undefined && handlers.handshake !== undefined,
    serverName: handlers.serverName !== undefined && listenedWithServerName,
    alpn: handlers.alpnCallback !== undefined,
    keylog: handlers.keylog !== undefined,
  }
}

/** A KEYLOG, SESSION or HELLO event of a TLS socket. */
function tlsNote(socket, kind, a, b) {
  if (socket[kState].readyState !== OPEN) return
  if (kind === EventKind.Keylog) callHandler(socket, 'keylog', a)
  else if (kind === EventKind.Session) callHandler(socket, 'session', a)
  else if (kind === EventKind.Hello) hello(socket, a, b)
}

/**
 * Shows a server's ClientHello (`servername`, the offered ALPN names in wire format; either
 * undefined when the client sent none) to Bun's handlers, then answers it. As in Bun:
 * `serverName(listenerData, servername, socket)` must return undefined, else (or if it throws)
 * the connection is refused without a word; `alpnCallback(socket, servername, protocols)`
 * returns the protocol, false to let ALPNProtocols decide, and anything else (or a throw,
 * which reaches `error`) refuses with no_application_protocol.
 */
function hello(socket, servername, wire) {
  const state = socket[kState]
  const handlers = state.handlers
  state.tls.helloServername = servername
  let refuse = false
  // A socket upgradeTLS made of a plain listener's has no hooks.
  if (servername !== undefined && state.listener?.[kState].hooks?.serverName) {
    const data = state.listener.data
    try {
      refuse = handlers.serverName.call(data, data, servername, socket) !== undefined
    } catch {
      refuse = true
    }
  }
  let alpn = null
  let alpnRefused = false
  if (!refuse && wire !== undefined && handlers.alpnCallback !== undefined && state.readyState === OPEN) {
    try {
      const choice = handlers.alpnCallback.call(socket, socket, servername, wire)
      if (choice !== false) {
        alpn = choice === undefined ? null : offered(wire, String(choice))
        alpnRefused = alpn === null
      }
    } catch (err) {
      reportHandlerError(socket, err)
      alpnRefused = true
    }
  }
  // A hook that closed the socket closed the connection with it.
  if (state.readyState !== OPEN) return
  const mode = state.tls.verifyMode
  state.native.answerHello(refuse, alpn ?? undefined, alpnRefused, mode?.requestCert, mode?.rejectUnauthorized)
}

/** `name` as a Buffer if the client offered it (in `wire`), else null. */
function offered(wire, name) {
  const wanted = Buffer.from(name)
  for (let i = 0; i < wire.length; i += 1 + wire[i]) {
    const candidate = wire.subarray(i + 1, i + 1 + wire[i])
    if (candidate.equals(wanted)) return Buffer.from(candidate)
  }
  return null
}

module.exports = { helloHooks, tlsNote }
