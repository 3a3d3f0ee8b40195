'use strict'
// What a TLS session tells JS besides the end of its handshake: lines for Bun's `keylog`
// handler, sessions for its `session` handler (client), and a server's ClientHello. A listener
// whose handlers decide something before the handshake (`serverName`, `alpnCallback`, or an
// `open` that runs first and may call setVerifyMode()) has each ClientHello wait for JS; the
// answer lets the handshake go on (src/net/tls/server.rs).

const { kState: kShared, callHandler, reportHandlerError, kinds } = require('./dispatch')
const { internals } = require('./tcp')

const { kNative, kState, kTls, kListener, OPEN } = internals

// NativeTlsConfig.setHooks() bits, as src/net/tls/server.rs numbers them.
const HOOK_ALWAYS = 1
const HOOK_SERVER_NAME = 2
const HOOK_ALPN = 4
const HOOK_KEYLOG = 8

/** What a listener's handlers need from each ClientHello. */
function hookBits(handlers) {
  // With a `handshake` handler, `open` runs before the handshake: it may call setVerifyMode().
  const early = handlers.open !== undefined && handlers.handshake !== undefined
  return (
    (early ? HOOK_ALWAYS : 0) |
    (handlers.serverName !== undefined ? HOOK_SERVER_NAME : 0) |
    (handlers.alpnCallback !== undefined ? HOOK_ALPN : 0) |
    (handlers.keylog !== undefined ? HOOK_KEYLOG : 0)
  )
}

/** A KEYLOG, SESSION or HELLO event of a TLS socket. */
function tlsNote(socket, kind, a, b) {
  if (socket[kState] !== OPEN) return
  if (kind === kinds.KEYLOG) callHandler(socket, 'keylog', a)
  else if (kind === kinds.SESSION) callHandler(socket, 'session', a)
  else if (kind === kinds.HELLO) hello(socket, a, b)
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
  const state = socket[kTls]
  const handlers = socket[kShared].handlers
  state.helloServername = servername
  let refuse = false
  if (servername !== undefined && handlers.serverName !== undefined) {
    const data = socket[kListener]?.data
    try {
      refuse = handlers.serverName.call(data, data, servername, socket) !== undefined
    } catch {
      refuse = true
    }
  }
  let alpn = null
  let alpnRefused = false
  if (!refuse && wire !== undefined && handlers.alpnCallback !== undefined && socket[kState] === OPEN) {
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
  if (socket[kState] !== OPEN) return
  const mode = state.verifyMode
  socket[kNative].answerHello(refuse, alpn ?? undefined, alpnRefused, mode?.requestCert, mode?.rejectUnauthorized)
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

module.exports = { hookBits, tlsNote }
