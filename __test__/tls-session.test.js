'use strict'
// TLS session resumption: getSession() on one connection, setSession() on the next before its
// handshake starts, isSessionReused() on both sides. Runs under Jest (bun → package) and `bun test`
// (real Bun); the expectations are Bun 1.4.4's (docs/reference/bun-tls.md, Q8). A session is
// opaque here: its type is checked, never its length or content (rustls cannot serialise one).

const fs = require('node:fs')
const path = require('node:path')
const { listen, connect } = require('bun')
const { deferred, within, sleep, autoClose } = require('./helpers')

// --- certificates -----------------------------------------------------------------------------

const pem = (name) => fs.readFileSync(path.join(__dirname, 'fixtures', 'certs', name), 'utf8')
const SERVER_TLS = { key: pem('server-key.pem'), cert: pem('server.pem') }
const CLIENT_TLS = { ca: pem('ca.pem'), serverName: 'localhost' }

// --- local helpers ------------------------------------------------------------------------------

const track = autoClose()

/**
 * A TLS listener on 127.0.0.1:0 that answers any data with "pong". `connectOnce` opens one client
 * that writes "ping" in its handshake handler; `setup(socket)` runs on the client before the
 * handshake starts: in the connect promise's `.then` (`where: 'then'`) or in `open` (`where:
 * 'open'`; the client has a handshake handler, so open comes at TCP connect). It resolves after
 * the "pong" with the client, the server-side socket, and `isSessionReused()` of both as seen in
 * their handshake handlers.
 */
function pongServer() {
  const handshakes = []
  const listener = track(
    listen({
      hostname: '127.0.0.1',
      port: 0,
      tls: SERVER_TLS,
      socket: {
        open: (socket) => track(socket),
        handshake(socket, success) {
          handshakes.push({ socket, success, reused: socket.isSessionReused() })
        },
        data: (socket) => socket.write('pong'),
      },
    }),
  )

  async function connectOnce({ setup, where = 'then' } = {}) {
    const handshake = deferred()
    const pong = deferred()
    let text = ''
    const setupResult = deferred()
    const runSetup = (socket) => {
      if (setup === undefined) return setupResult.resolve()
      try {
        setupResult.resolve(setup(socket))
      } catch (err) {
        setupResult.reject(err)
      }
    }
    const before = handshakes.length
    const promise = connect({
      hostname: '127.0.0.1',
      port: listener.port,
      tls: CLIENT_TLS,
      socket: {
        open(socket) {
          track(socket)
          if (where === 'open') runSetup(socket)
        },
        handshake(socket, success) {
          handshake.resolve({ success, reused: socket.isSessionReused() })
          socket.write('ping')
        },
        data(socket, chunk) {
          text += Buffer.from(chunk).toString('latin1')
          if (text === 'pong') pong.resolve()
        },
      },
    })
    if (where === 'then') promise.then(runSetup, () => {})
    const client = track(await within(promise, 5000, 'connect'))
    const setupOutcome = await within(setupResult.promise, 5000, 'setup').then(
      (value) => ({ value }),
      (error) => ({ error }),
    )
    const clientHandshake = await within(handshake.promise, 5000, 'client handshake')
    await within(pong.promise, 5000, 'pong')
    expect(handshakes.length).toBe(before + 1)
    const serverHandshake = handshakes[before]
    expect(clientHandshake.success).toBe(true)
    expect(serverHandshake.success).toBe(true)
    return {
      client,
      server: serverHandshake.socket,
      setup: setupOutcome,
      reused: { client: clientHandshake.reused, server: serverHandshake.reused },
    }
  }

  /** A first, full connection and the session it leaves: taken 50 ms after the first data. */
  async function firstSession() {
    const first = await connectOnce()
    expect(first.reused).toEqual({ client: false, server: false })
    await sleep(50)
    const session = first.client.getSession()
    expect(session).toBeInstanceOf(Uint8Array)
    first.client.end()
    return session
  }

  return { listener, connectOnce, firstSession }
}

// --- resumption -----------------------------------------------------------------------------------

describe('resumption', () => {
  test('getSession() after the first data is a Buffer/Uint8Array', async () => {
    const { firstSession } = pongServer()
    const session = await firstSession()
    expect(session.length).toBeGreaterThan(0)
  })

  test("a server's getSession() is a Buffer after the handshake too; given to a client, it resumes nothing", async () => {
    const { connectOnce } = pongServer()
    const first = await connectOnce()
    const serverSession = first.server.getSession()
    expect(Buffer.isBuffer(serverSession)).toBe(true)
    expect(serverSession.length).toBeGreaterThan(0)
    const second = await connectOnce({ setup: (socket) => socket.setSession(serverSession) })
    expect(second.setup).toEqual({ value: undefined })
    expect(second.reused).toEqual({ client: false, server: false })
  })

  test('setSession in the connect promise .then resumes: isSessionReused() true on both sides', async () => {
    const { connectOnce, firstSession } = pongServer()
    const session = await firstSession()
    const second = await connectOnce({ setup: (socket) => socket.setSession(session), where: 'then' })
    expect(second.setup).toEqual({ value: undefined })
    expect(second.reused).toEqual({ client: true, server: true })
    expect(second.client.isSessionReused()).toBe(true)
    expect(second.server.isSessionReused()).toBe(true)
  })

  test('setSession in open (with a handshake handler) resumes', async () => {
    const { connectOnce, firstSession } = pongServer()
    const session = await firstSession()
    const second = await connectOnce({ setup: (socket) => socket.setSession(session), where: 'open' })
    expect(second.setup).toEqual({ value: undefined })
    expect(second.reused).toEqual({ client: true, server: true })
  })

  test('the same session resumes a second time', async () => {
    const { connectOnce, firstSession } = pongServer()
    const session = await firstSession()
    for (let i = 0; i < 2; i++) {
      const next = await connectOnce({ setup: (socket) => socket.setSession(session) })
      expect(next.reused).toEqual({ client: true, server: true })
      next.client.end()
    }
  })

  test('a connection without setSession is not resumed', async () => {
    const { connectOnce, firstSession } = pongServer()
    await firstSession()
    const second = await connectOnce()
    expect(second.reused).toEqual({ client: false, server: false })
    expect(second.client.isSessionReused()).toBe(false)
    expect(second.server.isSessionReused()).toBe(false)
  })
})

// --- setSession arguments -------------------------------------------------------------------------

describe('setSession arguments', () => {
  test('setSession(123) throws; the handshake is then a full one', async () => {
    const { connectOnce, firstSession } = pongServer()
    await firstSession()
    const next = await connectOnce({ setup: (socket) => socket.setSession(123) })
    expect(next.setup.error).toBeInstanceOf(Error)
    expect(next.setup.error.message).toBe('Expected session to be a string, Buffer or TypedArray')
    expect(next.reused).toEqual({ client: false, server: false })
  })

  test('setSession(Buffer.alloc(10)) is accepted silently and gives a full handshake', async () => {
    const { connectOnce, firstSession } = pongServer()
    await firstSession()
    const next = await connectOnce({ setup: (socket) => socket.setSession(Buffer.alloc(10)) })
    expect(next.setup).toEqual({ value: undefined })
    expect(next.reused).toEqual({ client: false, server: false })
  })
})
