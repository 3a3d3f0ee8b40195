'use strict'
// The TLS handlers beyond `handshake`: `keylog` and `session`, a listener's `serverName` and
// `alpnCallback` (the server's ClientHello waits while they run), and `setVerifyMode()` called
// in `open`. Real TLS over 127.0.0.1; the expectations are Bun 1.4.4's
// (docs/reference/bun-tls.md, "Later handlers"). Runs under Jest and `bun test`.

const fs = require('node:fs')
const path = require('node:path')
const { listen, connect } = require('bun')
const { deferred, within, waitFor, autoClose } = require('./helpers')

const CERTS = path.join(__dirname, 'fixtures', 'certs')
const pem = (name) => fs.readFileSync(path.join(CERTS, name), 'utf8')

const SERVER_TLS = { key: pem('server-key.pem'), cert: pem('server.pem') }
const CLIENT_TLS = { ca: pem('ca.pem'), serverName: 'localhost' }
const CLIENT_CERT = { key: pem('client-key.pem'), cert: pem('client.pem') }
const NO_TLS13 = 0x20000000 // SSL_OP_NO_TLSv1_3

const track = autoClose()

/**
 * A TLS listener with `server` handlers and one client with `client` handlers; every event is
 * logged as "S <name> <detail>" / "C <name> <detail>" into one list, in the order it happened.
 * Handlers given in `server`/`client` run after the logging, with the same arguments.
 */
function pair({ server = {}, client = {}, serverTls = SERVER_TLS, clientTls = CLIENT_TLS, listenerData } = {}) {
  const log = []
  const closed = { S: deferred(), C: deferred() }
  const sockets = []
  const handlers = (side, extra) => {
    const note = (text) => log.push(`${side} ${text}`)
    const code = (err) => (err == null ? String(err) : err.code)
    const base = {
      open(socket) {
        sockets.push(track(socket))
        note('open')
      },
      data(socket, chunk) {
        note(`data ${Buffer.from(chunk).toString()}`)
      },
      drain() {
        note('drain')
      },
      handshake(socket, success, err) {
        note(`handshake ${success} ${code(err)}`)
      },
      error(socket, err) {
        note(`error ${err.message}`)
      },
      close() {
        note('close')
        closed[side].resolve()
      },
    }
    for (const [name, fn] of Object.entries(extra)) {
      const logged = base[name]
      base[name] = function (...args) {
        if (logged !== undefined) logged.apply(this, args)
        return fn.apply(this, args)
      }
    }
    return base
  }
  const listener = track(
    listen({ hostname: '127.0.0.1', port: 0, tls: serverTls, data: listenerData, socket: handlers('S', server) }),
  )
  const promise = connect({ hostname: '127.0.0.1', port: listener.port, tls: clientTls, socket: handlers('C', client) })
  return {
    log,
    listener,
    client: promise.then(track),
    has: (entry) => log.includes(entry),
    // Messages built when they are shown, with the log as it is then.
    until: (entry, ms = 4000) => waitFor(() => log.includes(entry), ms, { toString: () => `"${entry}" in [${log}]` }),
    closed: (side) => within(closed[side].promise, 4000, { toString: () => `${side} close after [${log}]` }),
  }
}

const only = (log, side) => log.filter((entry) => entry.startsWith(side)).map((entry) => entry.slice(2))

// --- 1. keylog and session ---------------------------------------------------------------------

describe('keylog', () => {
  const LABELS_13 = [
    'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
    'SERVER_HANDSHAKE_TRAFFIC_SECRET',
    'CLIENT_TRAFFIC_SECRET_0',
    'SERVER_TRAFFIC_SECRET_0',
    'EXPORTER_SECRET',
  ]
  const LINE = /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64,96}\n$/

  test('TLS 1.3: each side gets five NSS key log lines as Buffers; the server before its handshake, the client after', async () => {
    const lines = { S: [], C: [] }
    const order = { S: [], C: [] }
    const sideHandlers = (side) => ({
      keylog(socket, line, ...rest) {
        expect(Buffer.isBuffer(line)).toBe(true)
        expect(rest).toEqual([])
        lines[side].push(line.toString('latin1'))
        order[side].push('keylog')
      },
      handshake: () => order[side].push('handshake'),
    })
    const p = pair({ server: sideHandlers('S'), client: sideHandlers('C') })
    await p.until('S handshake true UNABLE_TO_GET_ISSUER_CERT')
    await waitFor(() => lines.C.length === 5, 4000, 'five client lines')
    for (const side of ['S', 'C']) {
      expect(lines[side].map((line) => line.split(' ')[0])).toEqual(LABELS_13)
      for (const line of lines[side]) expect(line).toMatch(LINE)
    }
    // Both sides log the same secrets for the same client random.
    expect(lines.S.slice().sort()).toEqual(lines.C.slice().sort())
    const five = Array(5).fill('keylog')
    expect(order).toEqual({ S: [...five, 'handshake'], C: ['handshake', ...five] })
  })

  test('TLS 1.2: one CLIENT_RANDOM line each, the client\'s before its handshake', async () => {
    const seen = []
    const p = pair({
      serverTls: { ...SERVER_TLS, secureOptions: NO_TLS13 },
      client: {
        keylog: (socket, line) => seen.push(`keylog ${line.toString().split(' ')[0]}`),
        handshake: () => seen.push('handshake'),
      },
    })
    await p.until('C handshake true null')
    expect(seen).toEqual(['keylog CLIENT_RANDOM', 'handshake'])
  })

  test('a throwing keylog handler reaches error, once per line; the connection goes on', async () => {
    const p = pair({
      client: {
        keylog() {
          throw new Error('keylog failed')
        },
        handshake(socket) {
          socket.write('after')
        },
      },
    })
    await p.until('S data after')
    await waitFor(() => only(p.log, 'C').filter((e) => e === 'error keylog failed').length === 5, 4000, 'five errors')
    expect(p.has('C close')).toBe(false)
  })
})

describe('session', () => {
  test('the client gets each new session as a Buffer that resumes a later connection', async () => {
    const sessions = []
    const p = pair({
      client: {
        session(socket, session, ...rest) {
          expect(rest).toEqual([])
          sessions.push(session)
        },
        handshake(socket) {
          socket.write('hi')
        },
      },
      server: { data: (socket) => socket.write('ho') },
    })
    await p.until('C data ho')
    await waitFor(() => sessions.length > 0, 4000, 'a session')
    for (const session of sessions) expect(Buffer.isBuffer(session)).toBe(true)
    // The server side never gets one.
    expect(only(p.log, 'S').some((e) => e.startsWith('session'))).toBe(false)

    const resumed = deferred()
    const again = track(
      await connect({
        hostname: '127.0.0.1',
        port: p.listener.port,
        tls: CLIENT_TLS,
        socket: {
          data() {},
          open(socket) {
            socket.setSession(sessions[0])
          },
          handshake(socket) {
            resumed.resolve(socket.isSessionReused())
          },
        },
      }),
    )
    expect(await within(resumed.promise, 4000, 'second handshake')).toBe(true)
    again.end()
  })

  test('TLS 1.2: the session follows the handshake; a throw from the handler reaches error', async () => {
    const seen = []
    const p = pair({
      serverTls: { ...SERVER_TLS, secureOptions: NO_TLS13 },
      client: {
        handshake: () => seen.push('handshake'),
        session() {
          seen.push('session')
          throw new Error('session failed')
        },
        error: (socket, err) => seen.push(`error ${err.message}`),
      },
    })
    await waitFor(() => seen.length >= 3, 4000, `session in [${seen}]`)
    expect(seen.slice(0, 3)).toEqual(['handshake', 'session', 'error session failed'])
    expect(p.has('C close')).toBe(false)
  })

  test('keylog, session, serverName and alpnCallback must be functions (Bun names them onX)', () => {
    const names = { keylog: 'onKeylog', session: 'onSession', serverName: 'onServerName', alpnCallback: 'onALPNCallback' }
    for (const [key, internal] of Object.entries(names)) {
      let thrown
      try {
        listen({ hostname: '127.0.0.1', port: 0, socket: { data() {}, [key]: 5 } }).stop(true)
      } catch (err) {
        thrown = err
      }
      expect(thrown).toBeInstanceOf(TypeError)
      expect([thrown.code, thrown.message]).toEqual(['ERR_INVALID_ARG_TYPE', `Expected "${internal}" callback to be a function`])
    }
  })
})

// --- 2. a listener's serverName and alpnCallback --------------------------------------------------

const X1 = '\x03x/1'
const H2 = '\x02h2'

describe('alpnCallback', () => {
  test('called as alpnCallback(socket, servername, offered names in wire format); its choice is the protocol', async () => {
    let args
    const p = pair({
      server: {
        alpnCallback(socket, servername, wire) {
          args = { isThis: this === socket, open: socket.readyState, servername, wire: Buffer.from(wire).toString('latin1') }
          expect(Buffer.isBuffer(wire)).toBe(true)
          return 'h2'
        },
      },
      clientTls: { ...CLIENT_TLS, ALPNProtocols: X1 + H2 },
    })
    await p.until('S handshake true UNABLE_TO_GET_ISSUER_CERT')
    expect(args).toEqual({ isThis: true, open: 1, servername: 'localhost', wire: X1 + H2 })
    expect((await p.client).alpnProtocol).toBe('h2')
  })

  test('not called when the client offers no ALPN; servername is undefined without SNI', async () => {
    const calls = []
    const alpnCallback = (socket, servername) => {
      calls.push(servername)
      return 'x/1'
    }
    const first = pair({ server: { alpnCallback } })
    await first.until('C handshake true null')
    const second = pair({ server: { alpnCallback }, clientTls: { ...CLIENT_TLS, serverName: '', ALPNProtocols: X1 } })
    await second.until('C handshake true null')
    expect(calls).toEqual([undefined])
  })

  test('false lets ALPNProtocols decide', async () => {
    const p = pair({
      serverTls: { ...SERVER_TLS, ALPNProtocols: H2 + X1 },
      server: { alpnCallback: () => false },
      clientTls: { ...CLIENT_TLS, ALPNProtocols: X1 + H2 },
    })
    await p.until('C handshake true null')
    expect((await p.client).alpnProtocol).toBe('h2')
  })

  for (const [title, choice] of [
    ['undefined', () => undefined],
    ['a protocol the client did not offer', () => 'spdy/1'],
    ['a number', () => 42],
  ]) {
    test(`${title} refuses: handshake(false, EPROTO NO_APPLICATION_PROTOCOL) on both sides, then close`, async () => {
      const p = pair({ server: { alpnCallback: choice }, clientTls: { ...CLIENT_TLS, ALPNProtocols: X1 } })
      await p.closed('S')
      await p.closed('C')
      expect(only(p.log, 'S')).toEqual(['open', 'handshake false EPROTO', 'close'])
      expect(only(p.log, 'C')).toEqual(['open', 'handshake false EPROTO', 'close'])
    })
  }

  test('a throwing selection reaches error first, then the handshake fails', async () => {
    let refusal
    const p = pair({
      server: {
        alpnCallback() {
          throw new TypeError('no protocol for you')
        },
        handshake(socket, success, err) {
          refusal = err
        },
      },
      clientTls: { ...CLIENT_TLS, ALPNProtocols: X1 },
    })
    await p.closed('S')
    expect(only(p.log, 'S')).toEqual(['open', 'error no protocol for you', 'handshake false EPROTO', 'close'])
    expect(refusal.message).toBe('error:10000133:SSL routines:OPENSSL_internal:NO_APPLICATION_PROTOCOL')
  })
})

describe('serverName handler', () => {
  test('called as serverName(listenerData, servername, socket) with this = listener data', async () => {
    let args
    const listenerData = { name: 'listener' }
    const p = pair({
      listenerData,
      server: {
        serverName(data, servername, socket) {
          args = { isThis: this === data, data, servername, isSocket: socket.readyState === 1 }
        },
      },
    })
    await p.until('S handshake true UNABLE_TO_GET_ISSUER_CERT')
    expect(args).toEqual({ isThis: true, data: listenerData, servername: 'localhost', isSocket: true })
  })

  test('not called without SNI', async () => {
    let called = false
    const p = pair({ server: { serverName: () => (called = true) }, clientTls: { ...CLIENT_TLS, serverName: '' } })
    await p.until('S handshake true UNABLE_TO_GET_ISSUER_CERT')
    expect(called).toBe(false)
  })

  for (const [title, serverName] of [
    ['returning anything but undefined', () => 'another.test'],
    [
      'throwing',
      () => {
        throw new Error('unknown name')
      },
    ],
  ]) {
    test(`${title} refuses: handshake(false, EPROTO CONNECTION_REJECTED), no error; the client is cut off`, async () => {
      let refusal
      const p = pair({
        server: {
          serverName,
          handshake(socket, success, err) {
            refusal = err
          },
        },
      })
      await p.closed('S')
      await p.closed('C')
      expect(only(p.log, 'S')).toEqual(['open', 'handshake false EPROTO', 'close'])
      expect(refusal.message).toBe('error:10000085:SSL routines:OPENSSL_internal:CONNECTION_REJECTED')
      expect(only(p.log, 'C')).toEqual(['open', 'handshake false ECONNRESET', 'close'])
    })
  }
})

describe('serverName after reload()', () => {
  /** A TLS listener, a first client kept open, its accepted socket; `dial()` tells how the next handshake ends. */
  async function listenAndDial(handlers) {
    const accepted = deferred()
    const listener = track(
      listen({
        hostname: '127.0.0.1',
        port: 0,
        tls: SERVER_TLS,
        socket: { data() {}, ...handlers, open: (socket) => accepted.resolve(track(socket)) },
      }),
    )
    const dial = () => {
      const result = deferred()
      connect({
        hostname: '127.0.0.1',
        port: listener.port,
        tls: CLIENT_TLS,
        socket: { data() {}, handshake: (socket, success) => result.resolve(success), close: () => result.resolve('closed') },
      }).then(track, (err) => result.resolve(err.code))
      return within(result.promise, 4000, 'client handshake')
    }
    expect(await dial()).toBe(true)
    return { listener, dial, first: await within(accepted.promise, 4000, 'accept') }
  }
  const refusing = (names) => ({
    socket: {
      data() {},
      serverName(data, servername) {
        names.push(servername)
        return 'refused'
      },
    },
  })

  test("reloading the listener or an accepted socket swaps the listener's serverName handler", async () => {
    for (const via of ['listener', 'socket']) {
      const names = []
      const { listener, dial, first } = await listenAndDial({
        serverName() {
          names.push('initial')
        },
      })
      ;(via === 'listener' ? listener : first).reload(refusing(names))
      expect([via, await dial()]).toEqual([via, false])
      expect(names).toEqual(['initial', 'localhost'])
    }
  })

  test('a listener that began without serverName never asks one a reload() brings, as in Bun', async () => {
    for (const via of ['listener', 'socket']) {
      const names = []
      const { listener, dial, first } = await listenAndDial({})
      ;(via === 'listener' ? listener : first).reload(refusing(names))
      expect([via, await dial()]).toEqual([via, true])
      expect(names).toEqual([])
    }
  })
})

describe('a write() from inside serverName or alpnCallback', () => {
  for (const hook of ['serverName', 'alpnCallback']) {
    test(`${hook}: returns 0, drain follows the handshake, and the bytes written then arrive`, async () => {
      const written = []
      let server
      const attempt = (socket) => written.push(socket.write('early'))
      const p = pair({
        server: {
          open: (socket) => (server = socket),
          [hook]: hook === 'alpnCallback' ? (socket) => (attempt(socket), 'x/1') : (data, name, socket) => void attempt(socket),
          drain: (socket) => socket.write('after drain'),
        },
        clientTls: { ...CLIENT_TLS, ALPNProtocols: X1 },
      })
      await p.until('C data after drain')
      expect(written).toEqual([0])
      expect(only(p.log, 'S').slice(0, 3)).toEqual(['open', 'handshake true UNABLE_TO_GET_ISSUER_CERT', 'drain'])
      expect(server.alpnProtocol).toBe(hook === 'alpnCallback' ? 'x/1' : false)
    })
  }
})

// --- 3. setVerifyMode() in open ----------------------------------------------------------------------

describe('setVerifyMode(requestCert, rejectUnauthorized) in open', () => {
  const WRONG_NAME = { key: pem('wrong-name-key.pem'), cert: pem('wrong-name.pem') }
  const SELF_SIGNED = { key: pem('self-signed-ca-key.pem'), cert: pem('self-signed-ca.pem') }
  const MTLS = { ...SERVER_TLS, ca: pem('ca.pem') }

  test('client (false, false) lifts the rejection: handshake(false, ALTNAME) and the connection stays', async () => {
    const p = pair({
      serverTls: WRONG_NAME,
      client: { open: (socket) => socket.setVerifyMode(false, false), handshake: (socket) => socket.write('still here') },
    })
    await p.until('S data still here')
    expect(only(p.log, 'C').slice(0, 2)).toEqual(['open', 'handshake false ERR_TLS_CERT_ALTNAME_INVALID'])
  })

  test('client (false, true) imposes it: an untrusted certificate ends the connection', async () => {
    const p = pair({
      serverTls: SELF_SIGNED,
      clientTls: { serverName: 'localhost', rejectUnauthorized: false },
      client: { open: (socket) => socket.setVerifyMode(false, true) },
    })
    await p.closed('C')
    expect(only(p.log, 'C')).toEqual(['open', 'handshake false DEPTH_ZERO_SELF_SIGNED_CERT', 'close'])
  })

  test('server (true, true) requests a client certificate and requires it', async () => {
    const withCert = pair({
      serverTls: MTLS,
      clientTls: { ...CLIENT_TLS, ...CLIENT_CERT },
      server: { open: (socket) => socket.setVerifyMode(true, true) },
    })
    await withCert.until('S handshake true null')
    const without = pair({ serverTls: MTLS, server: { open: (socket) => socket.setVerifyMode(true, true) } })
    await without.closed('S')
    expect(only(without.log, 'S')).toEqual(['open', 'handshake false EPROTO', 'close'])
    await without.until('C error error:1000045c:SSL routines:OPENSSL_internal:TLSV1_ALERT_CERTIFICATE_REQUIRED')
  })

  test('server (true, false) lifts requestCert\'s rejection: a client without certificate is let in', async () => {
    const p = pair({
      serverTls: { ...MTLS, requestCert: true, rejectUnauthorized: true },
      server: { open: (socket) => socket.setVerifyMode(true, false), handshake: (socket) => socket.write('welcome') },
    })
    await p.until('C data welcome')
    expect(only(p.log, 'S').slice(0, 2)).toEqual(['open', 'handshake true UNABLE_TO_GET_ISSUER_CERT'])
  })

  test('server (false, …) does not ask: the client certificate is never seen', async () => {
    let peer = null
    const p = pair({
      serverTls: { ...MTLS, requestCert: true },
      clientTls: { ...CLIENT_TLS, ...CLIENT_CERT },
      server: {
        open: (socket) => socket.setVerifyMode(false, true),
        handshake: (socket) => (peer = socket.getPeerCertificate()),
      },
    })
    await p.until('S handshake true UNABLE_TO_GET_ISSUER_CERT')
    expect(peer).toBeUndefined()
  })

  test('wants two booleans while open; a closed socket ignores it', async () => {
    const p = pair({ client: { handshake: (socket) => socket.end() } })
    const socket = await p.client
    const messages = []
    for (const args of [[], [true], [1, 0], [null, null]]) {
      try {
        socket.setVerifyMode(...args)
      } catch (err) {
        messages.push(`${err.constructor.name}: ${err.message}`)
      }
    }
    expect(messages).toEqual([
      'Error: Expected requestCert and rejectUnauthorized arguments',
      'Error: Expected requestCert and rejectUnauthorized arguments',
      'Error: Expected requestCert and rejectUnauthorized arguments to be boolean',
      'Error: Expected requestCert and rejectUnauthorized arguments to be boolean',
    ])
    await p.closed('C')
    expect(socket.setVerifyMode()).toBeUndefined()
  })
})

test('an Error returned from handshake goes to error as if thrown; the connection stays up', async () => {
  const p = pair({
    server: {
      handshake: () => new Error('handshake returned this'),
      data: (socket) => socket.write('pong'),
    },
    client: {
      handshake(socket) {
        socket.write('ping')
      },
    },
  })
  await p.until('C data pong')
  expect(only(p.log, 'S').slice(0, 3)).toEqual([
    'open',
    'handshake true UNABLE_TO_GET_ISSUER_CERT',
    'error handshake returned this',
  ])
})
