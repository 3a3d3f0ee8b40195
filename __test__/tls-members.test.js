'use strict'
// The introspection members of a TLSSocket (authorized, getCipher, exportKeyingMaterial, …) on a
// TLS 1.3 connection: after the handshake, before it (inside `open` when a handshake handler
// exists) and after close. Runs under Jest (bun → package) and `bun test` (real Bun); the values
// are Bun 1.4.4's (docs/reference/bun-tls.md, Q4), limited to what rustls can give as well: no
// session/ticket lengths, no TLS 1.2, no messages that are OpenSSL's words.

const fs = require('node:fs')
const path = require('node:path')
const { listen, connect } = require('bun')
const { deferred, within, autoClose } = require('./helpers')

// --- certificates -----------------------------------------------------------------------------

const pem = (name) => fs.readFileSync(path.join(__dirname, 'fixtures', 'certs', name), 'utf8')
const SERVER_TLS = { key: pem('server-key.pem'), cert: pem('server.pem') }
const CLIENT_TLS = { ca: pem('ca.pem'), serverName: 'localhost' }

// --- local helpers ------------------------------------------------------------------------------

const track = autoClose()

/** What `fn()` did: `{ value }` or `{ error }`, so handlers can record without throwing. */
function attempt(fn) {
  try {
    return { value: fn() }
  } catch (error) {
    return { error }
  }
}

/**
 * A TLS listener on 127.0.0.1:0 and one client (serverName 'localhost'), both with `open`,
 * `handshake` and `close` handlers. `onOpen`/`onClose(side, socket)` run inside those handlers;
 * `handshaken` resolves with { client, server } once both handshakes are done, `closed` once both
 * sides saw `close`.
 */
async function tlsPair({ onOpen = () => {}, onClose = () => {} } = {}) {
  const hs = { client: deferred(), server: deferred() }
  const closed = { client: deferred(), server: deferred() }
  const handlers = (side) => ({
    open(socket) {
      track(socket)
      onOpen(side, socket)
    },
    data() {},
    handshake(socket, success, err) {
      hs[side].resolve({ socket, success, err })
    },
    close(socket) {
      onClose(side, socket)
      closed[side].resolve()
    },
  })
  const listener = track(listen({ hostname: '127.0.0.1', port: 0, tls: SERVER_TLS, socket: handlers('server') }))
  const client = track(
    await within(
      connect({ hostname: '127.0.0.1', port: listener.port, tls: CLIENT_TLS, socket: handlers('client') }),
      5000,
      'connect',
    ),
  )
  const handshaken = within(
    Promise.all([hs.client.promise, hs.server.promise]),
    5000,
    'both handshakes',
  ).then(([c, s]) => {
    expect(c.success).toBe(true)
    expect(s.success).toBe(true)
    expect(c.socket).toBe(client)
    return { client, server: s.socket }
  })
  const bothClosed = () => within(Promise.all([closed.client.promise, closed.server.promise]), 5000, 'both closes')
  return { listener, client, handshaken, bothClosed }
}

/** Asserts Bun's UNABLE_TO_GET_ISSUER_CERT authorization error (a plain Error, errno 0). */
function expectIssuerError(err) {
  expect(err).toBeInstanceOf(Error)
  expect(err.code).toBe('UNABLE_TO_GET_ISSUER_CERT')
  expect(err.errno).toBe(0)
}

// --- after the handshake --------------------------------------------------------------------------

describe('after the handshake', () => {
  test('both sides: TLSSocket, TLS 1.3, a TLS 1.3 cipher, no ALPN, no reuse, SNI localhost', async () => {
    const { client, handshaken } = await tlsPair()
    const { server } = await handshaken
    for (const socket of [client, server]) {
      expect(Object.prototype.toString.call(socket)).toBe('[object TLSSocket]')
      expect(socket.alpnProtocol).toBe(false)
      expect(socket.getTLSVersion()).toBe('TLSv1.3')
      const cipher = socket.getCipher()
      expect(Object.keys(cipher).sort()).toEqual(['name', 'standardName', 'version'])
      expect(cipher.version).toBe('TLSv1.3')
      expect(cipher.name).toBe(cipher.standardName)
      expect(cipher.name).toMatch(/^TLS_(AES_\w+|CHACHA20_\w+)$/)
      expect(socket.getSharedSigalgs()).toEqual([])
      expect(socket.isSessionReused()).toBe(false)
      expect(socket.getServername()).toBe('localhost')
      expect(socket.getTLSTicket()).toBeUndefined()
      expect(socket.getTLSFinishedMessage()).toBeUndefined()
      expect(socket.getTLSPeerFinishedMessage()).toBeUndefined()
    }
    expect(client.getCipher()).toEqual(server.getCipher())
  })

  test('authorization: client authorized, server (no client cert) not, with UNABLE_TO_GET_ISSUER_CERT', async () => {
    const { client, handshaken } = await tlsPair()
    const { server } = await handshaken
    expect(client.authorized).toBe(true)
    expect(client.getAuthorizationError()).toBeNull()
    expect(server.authorized).toBe(false)
    expectIssuerError(server.getAuthorizationError())
    expect(client.getPeerCertificate().subject.CN).toBe('localhost')
    expect(server.getPeerCertificate()).toBeUndefined()
  })

  test('getEphemeralKeyInfo: {} on the TLS 1.3 client, null on the server', async () => {
    const { client, handshaken } = await tlsPair()
    const { server } = await handshaken
    expect(client.getEphemeralKeyInfo()).toEqual({})
    expect(server.getEphemeralKeyInfo()).toBeNull()
  })

  test('exportKeyingMaterial: 32 equal bytes on both sides, different for another label', async () => {
    const { client, handshaken } = await tlsPair()
    const { server } = await handshaken
    const c = client.exportKeyingMaterial(32, 'label', Buffer.alloc(4))
    const s = server.exportKeyingMaterial(32, 'label', Buffer.alloc(4))
    expect(Buffer.isBuffer(c)).toBe(true)
    expect(Buffer.isBuffer(s)).toBe(true)
    expect(c.length).toBe(32)
    expect(c.equals(s)).toBe(true)
    const other = client.exportKeyingMaterial(32, 'other label', Buffer.alloc(4))
    expect(other.length).toBe(32)
    expect(other.equals(c)).toBe(false)
    expect(server.exportKeyingMaterial(32, 'other label', Buffer.alloc(4)).equals(other)).toBe(true)
    for (const socket of [client, server]) {
      expect(() => socket.exportKeyingMaterial()).toThrow(new Error('Expected length and label to be provided'))
    }
  })

  test('setServername throws: "Already started." on the client, no SNI from a server', async () => {
    const { client, handshaken } = await tlsPair()
    const { server } = await handshaken
    const onClient = attempt(() => client.setServername('x'))
    expect(onClient.error).toBeInstanceOf(Error)
    expect(onClient.error.message).toBe('Already started.')
    const onServer = attempt(() => server.setServername('x'))
    expect(onServer.error).toBeInstanceOf(Error)
    expect(onServer.error.message).toBe('Cannot issue SNI from a TLS server-side socket')
    expect(client.getServername()).toBe('localhost')
    expect(server.getServername()).toBe('localhost')
  })

  test('setVerifyMode, renegotiate, disableRenegotiation, setMaxSendFragment; the socket stays open', async () => {
    const { client, handshaken } = await tlsPair()
    const { server } = await handshaken
    for (const socket of [client, server]) {
      expect(socket.setVerifyMode(true, true)).toBeUndefined()
      expect(() => socket.renegotiate()).toThrow(Error)
      expect(socket.disableRenegotiation()).toBeUndefined()
      expect(socket.setMaxSendFragment(1024)).toBe(true)
      expect(socket.setMaxSendFragment(100)).toBe(false)
      expect(socket.readyState).toBe(1)
    }
  })
})

// --- before the handshake -------------------------------------------------------------------------

test('before the handshake (in open, with a handshake handler): nothing negotiated yet', async () => {
  const seen = {}
  const { handshaken } = await tlsPair({
    onOpen(side, socket) {
      seen[side] = {
        tag: Object.prototype.toString.call(socket),
        authorized: socket.authorized,
        alpnProtocol: socket.alpnProtocol,
        authorizationError: socket.getAuthorizationError(),
        cipher: socket.getCipher(),
        peerCertificate: socket.getPeerCertificate(),
        session: socket.getSession(),
        isSessionReused: socket.isSessionReused(),
        exported: attempt(() => socket.exportKeyingMaterial(32, 'x')),
      }
    },
  })
  await handshaken
  for (const side of ['client', 'server']) {
    const s = seen[side]
    expect(s).toBeDefined()
    expect(s.tag).toBe('[object TLSSocket]')
    expect(s.authorized).toBe(false)
    expect(s.alpnProtocol).toBe(false)
    expectIssuerError(s.authorizationError)
    expect(s.cipher).toEqual({ name: null, standardName: null, version: null })
    expect(s.peerCertificate).toBeUndefined()
    expect(s.session).toBeUndefined()
    expect(s.isSessionReused).toBe(false)
    expect(s.exported.error).toBeInstanceOf(Error)
  }
})

// --- after close ----------------------------------------------------------------------------------

test('after close (in the close handler and later): the TLS state is gone', async () => {
  const seen = { client: [], server: [] }
  const snapshot = (socket) => ({
    cipher: socket.getCipher(),
    version: socket.getTLSVersion(),
    peerCertificate: socket.getPeerCertificate(),
    exported: attempt(() => socket.exportKeyingMaterial()),
    exportedWithArgs: attempt(() => socket.exportKeyingMaterial(32, 'label', Buffer.alloc(4))),
    servername: socket.getServername(),
    alpnProtocol: socket.alpnProtocol,
    maxSendFragment: socket.setMaxSendFragment(1024),
    readyState: socket.readyState,
  })
  const { client, handshaken, bothClosed } = await tlsPair({
    onClose: (side, socket) => seen[side].push(snapshot(socket)),
  })
  const { server } = await handshaken
  client.end()
  await bothClosed()
  seen.client.push(snapshot(client))
  seen.server.push(snapshot(server))
  for (const side of ['client', 'server']) {
    expect(seen[side]).toHaveLength(2)
    for (const s of seen[side]) {
      expect(s.cipher).toBeUndefined()
      expect(s.version).toBeNull()
      expect(s.peerCertificate).toBeUndefined()
      expect(s.exported).toEqual({ value: undefined })
      expect(s.exportedWithArgs).toEqual({ value: undefined })
      expect(s.servername).toBeUndefined()
      expect(s.alpnProtocol).toBe(false)
      expect(s.maxSendFragment).toBe(false)
      expect(s.readyState).toBe(-1)
    }
  }
  expect(Object.prototype.toString.call(client)).toBe('[object TLSSocket]')
  expect(Object.prototype.toString.call(server)).toBe('[object TLSSocket]')
})
