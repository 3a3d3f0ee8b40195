'use strict'
// STARTTLS with socket.upgradeTLS(): a plain connection that both sides upgrade in place, what
// upgradeTLS returns and leaves behind, event order on the upgraded socket, argument validation.
// Runs under Jest (bun → package) and `bun test` (real Bun); the expectations are Bun 1.4.4's
// (docs/reference/bun-tls.md, Q7). What the `raw` socket's data handler receives (TLS records) is
// only checked to be some bytes: its framing is the TLS library's.

const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { listen, connect } = require('bun')
const { deferred, within, waitFor, autoClose, thrown, sender } = require('./helpers')

// --- certificates -----------------------------------------------------------------------------

const pem = (name) => fs.readFileSync(path.join(__dirname, 'fixtures', 'certs', name), 'utf8')
const SERVER_TLS = { key: pem('server-key.pem'), cert: pem('server.pem') }
const CLIENT_TLS = { ca: pem('ca.pem'), serverName: 'localhost' }

// --- local helpers ------------------------------------------------------------------------------

const track = autoClose()

const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex')

/**
 * Handlers for one upgraded (TLS) side. Events are logged into `events` ("open", "handshake true",
 * "data" once per run of chunks, "drain", "end", "close"); received bytes are kept in `chunks`;
 * `sockets` holds the socket each event came with. `hooks` run after the logging. A handshake
 * handler is installed unless `handshake: false`.
 */
function tlsSide({ handshake = true, ...hooks } = {}) {
  const s = { events: [], chunks: [], sockets: new Set(), closed: deferred() }
  const note = (name, socket) => {
    s.sockets.add(socket)
    s.events.push(name)
  }
  const hook = (name, args) => hooks[name] && hooks[name](...args)
  s.handlers = {
    open(socket) {
      note('open', socket)
      s.openState = { authorized: socket.authorized, version: socket.getTLSVersion() }
      hook('open', arguments)
    },
    data(socket, chunk) {
      s.chunks.push(Buffer.from(chunk))
      if (s.events[s.events.length - 1] !== 'data') note('data', socket)
      hook('data', arguments)
    },
    drain(socket) {
      note('drain', socket)
      hook('drain', arguments)
    },
    end(socket) {
      note('end', socket)
    },
    error(socket, err) {
      s.error = err
      note('error', socket)
    },
    close(socket) {
      note('close', socket)
      s.closed.resolve()
    },
  }
  if (handshake) {
    s.handlers.handshake = function (socket, success) {
      note(`handshake ${success}`, socket)
      hook('handshake', arguments)
    }
  }
  s.bytes = () => Buffer.concat(s.chunks)
  s.until = (entry, ms = 5000) => waitFor(() => s.events.includes(entry), ms, `"${entry}" in [${s.events}]`)
  return s
}

/**
 * A plain listener and a plain client on 127.0.0.1 that run a one-line STARTTLS exchange: the
 * client writes "STARTTLS\n" in `open`, the server answers "OK\n" and upgrades the accepted socket
 * with `server` (a tlsSide) and `serverData`, the client upgrades on "OK" with `client` and
 * `clientData`. The plain handlers stay installed on the original sockets; what they receive after
 * the upgrade is counted in `tapped`. Resolves once both upgradeTLS calls returned.
 */
async function starttls({ server, client, serverData = { who: 'server' }, clientData = { who: 'client' } }) {
  const up = { server: deferred(), client: deferred() }
  const tapped = { server: 0, client: 0 }
  const original = {}
  const plain = (side, onLine) => {
    let text = ''
    let upgraded = false
    return {
      data(socket, chunk) {
        if (upgraded) {
          tapped[side] += chunk.length
          return
        }
        text += Buffer.from(chunk).toString('latin1')
        if (!text.endsWith('\n')) return
        upgraded = true
        original[side] = socket
        try {
          up[side].resolve({ socket, result: onLine(socket, text) })
        } catch (err) {
          up[side].reject(err)
        }
      },
    }
  }
  const listener = track(
    listen({
      hostname: '127.0.0.1',
      port: 0,
      socket: {
        open: (socket) => track(socket),
        ...plain('server', (socket, line) => {
          expect(line).toBe('STARTTLS\n')
          expect(socket.write('OK\n')).toBe(3)
          return socket.upgradeTLS({ data: serverData, tls: SERVER_TLS, socket: server.handlers })
        }),
      },
    }),
  )
  const plainClient = track(
    await within(
      connect({
        hostname: '127.0.0.1',
        port: listener.port,
        socket: {
          open: (socket) => socket.write('STARTTLS\n'),
          ...plain('client', (socket, line) => {
            expect(line).toBe('OK\n')
            return socket.upgradeTLS({ data: clientData, tls: CLIENT_TLS, socket: client.handlers })
          }),
        },
      }),
      5000,
      'connect',
    ),
  )
  const [s, c] = await within(Promise.all([up.server.promise, up.client.promise]), 5000, 'both upgrades')
  for (const { result } of [s, c]) {
    if (Array.isArray(result)) result.forEach(track)
  }
  expect(c.socket).toBe(plainClient)
  return { listener, server: s, client: c, tapped }
}

// --- STARTTLS --------------------------------------------------------------------------------------

describe('STARTTLS on both sides', () => {
  test('upgradeTLS returns [raw, tls], two new TLSSockets; the original is dead', async () => {
    const S = tlsSide()
    const C = tlsSide()
    const { server, client } = await starttls({ server: S, client: C })
    for (const { socket, result } of [server, client]) {
      expect(Array.isArray(result)).toBe(true)
      expect(result).toHaveLength(2)
      const [raw, tls] = result
      expect(raw).not.toBe(socket)
      expect(tls).not.toBe(socket)
      expect(raw).not.toBe(tls)
      expect(Object.prototype.toString.call(tls)).toBe('[object TLSSocket]')
      expect(Object.prototype.toString.call(raw)).toBe('[object TLSSocket]')
      expect(socket.readyState).toBe(-1)
      expect(socket.write('x')).toBe(-1)
      expect(tls.readyState).toBe(1)
    }
    await within(Promise.all([S.until('handshake true'), C.until('handshake true')]), 5000, 'handshakes')
  })

  test('the tls socket gets the new data and handlers; 64 KiB round-trip; TLS 1.3; peer CN', async () => {
    const payload = crypto.randomBytes(64 * 1024)
    const out = sender(payload, 16 * 1024)
    const echoes = new Map() // server tls socket → its pending echo
    const S = tlsSide({
      data(socket, chunk) {
        let echo = echoes.get(socket)
        if (echo === undefined || echo.finished) {
          echo = { queue: [], finished: false }
          echoes.set(socket, echo)
        }
        echo.queue.push(Buffer.from(chunk))
        flushEcho(socket, echo)
      },
      drain(socket) {
        const echo = echoes.get(socket)
        if (echo !== undefined) flushEcho(socket, echo)
      },
    })
    function flushEcho(socket, echo) {
      while (echo.queue.length > 0) {
        const head = echo.queue[0]
        const n = socket.write(head)
        if (n < 0) throw new Error(`echo write returned ${n}`)
        if (n < head.length) {
          echo.queue[0] = head.subarray(n)
          return
        }
        echo.queue.shift()
      }
    }
    const echoed = deferred()
    const C = tlsSide({
      handshake: (socket) => out.pump(socket),
      drain: (socket) => out.pump(socket),
      data: () => C.bytes().length >= payload.length && echoed.resolve(),
    })
    const serverData = { who: 'S-upgraded' }
    const clientData = { who: 'C-upgraded' }
    const { server, client, tapped } = await starttls({ server: S, client: C, serverData, clientData })
    const [, sTls] = server.result
    const [, cTls] = client.result
    expect(sTls.data).toBe(serverData)
    expect(cTls.data).toBe(clientData)

    await within(out.done, 5000, '64 KiB written')
    await within(echoed.promise, 5000, '64 KiB echoed')
    expect(C.bytes().length).toBe(payload.length)
    expect(sha256(C.bytes())).toBe(sha256(payload))

    // Every event of the new handlers came with the tls socket.
    expect([...S.sockets]).toEqual([sTls])
    expect([...C.sockets]).toEqual([cTls])
    expect(S.events[0]).toBe('open')
    expect(C.events[0]).toBe('open')
    expect(S.events).toContain('handshake true')
    expect(C.events).toContain('handshake true')

    expect(cTls.getTLSVersion()).toBe('TLSv1.3')
    expect(sTls.getTLSVersion()).toBe('TLSv1.3')
    expect(cTls.authorized).toBe(true)
    expect(cTls.getPeerCertificate().subject.CN).toBe('localhost')
    // The original handlers, still on `raw`, saw some of the TLS records go by.
    expect(tapped.server).toBeGreaterThan(0)
    expect(tapped.client).toBeGreaterThan(0)

    cTls.end()
    await within(Promise.all([S.closed.promise, C.closed.promise]), 5000, 'tls close')
  })

  test('without a handshake handler, open fires after the handshake, followed by drain', async () => {
    const S = tlsSide({ handshake: false })
    const C = tlsSide({ handshake: false })
    const { server, client } = await starttls({ server: S, client: C })
    await within(Promise.all([S.until('drain'), C.until('drain')]), 5000, 'open and drain')
    expect(S.events.slice(0, 2)).toEqual(['open', 'drain'])
    expect(C.events.slice(0, 2)).toEqual(['open', 'drain'])
    expect([...S.sockets]).toEqual([server.result[1]])
    expect([...C.sockets]).toEqual([client.result[1]])
    expect(C.openState).toEqual({ authorized: true, version: 'TLSv1.3' })
    expect(S.openState).toEqual({ authorized: false, version: 'TLSv1.3' })
  })
})

test('raw.end() closes the connection: both local sockets and the peer get close', async () => {
  const S = tlsSide()
  const C = tlsSide()
  const { client } = await starttls({ server: S, client: C })
  await within(Promise.all([S.until('handshake true'), C.until('handshake true')]), 5000, 'handshakes')
  const [raw, upgraded] = client.result
  let rawClosed = false
  raw.reload({ socket: { data() {}, close: () => (rawClosed = true) } })
  raw.end()
  await within(Promise.all([S.closed.promise, C.closed.promise]), 5000, 'close on both ends')
  await waitFor(() => rawClosed, 5000, 'raw close')
  expect(raw.readyState).toBe(-1)
  expect(upgraded.readyState).toBe(-1)
  expect(upgraded.write('x')).toBe(-1)
})

// --- validation ------------------------------------------------------------------------------------

test('upgradeTLS validation: errors thrown at the call, the original stays usable', async () => {
  let received = ''
  const listener = track(
    listen({
      hostname: '127.0.0.1',
      port: 0,
      socket: {
        open: (socket) => track(socket),
        data: (socket, chunk) => (received += Buffer.from(chunk).toString('latin1')),
      },
    }),
  )
  const connecting = connect({ hostname: '127.0.0.1', port: listener.port, socket: { data() {} } })
  const socket = track(await within(connecting, 5000, 'connect'))
  const handlers = { data() {} }

  const cases = [
    [() => socket.upgradeTLS(), Error, 'Expected 1 arguments'],
    [() => socket.upgradeTLS({}), Error, 'Expected "socket" option'],
    [() => socket.upgradeTLS({ tls: CLIENT_TLS }), Error, 'Expected "socket" option'],
    [() => socket.upgradeTLS({ socket: handlers }), Error, 'Expected "tls" option'],
  ]
  for (const [fn, Class, message] of cases) {
    const err = thrown(fn)
    expect(err).toBeInstanceOf(Class)
    expect(err.message).toBe(message)
    expect(socket.readyState).toBe(1)
  }
  const noCallbacks = thrown(() => socket.upgradeTLS({ tls: CLIENT_TLS, socket: { open() {} } }))
  expect(noCallbacks).toBeInstanceOf(TypeError)
  expect(noCallbacks.code).toBe('ERR_INVALID_ARG_TYPE')
  expect(noCallbacks.message).toBe('Expected at least "data" or "drain" callback')

  expect(socket.readyState).toBe(1)
  expect(socket.write('still-plain')).toBe(11)
  await waitFor(() => received === 'still-plain', 5000, 'plain bytes after validation errors')

  const result = socket.upgradeTLS({ tls: CLIENT_TLS, socket: handlers })
  expect(Array.isArray(result)).toBe(true)
  result.forEach(track)
  expect(socket.readyState).toBe(-1)
  const again = thrown(() => socket.upgradeTLS({ tls: CLIENT_TLS, socket: handlers }))
  expect(again).toBeInstanceOf(TypeError)
  expect(again.code).toBe('ERR_INVALID_ARG_TYPE')
  expect(again.message).toBe('upgradeTLS requires an established socket')
})
