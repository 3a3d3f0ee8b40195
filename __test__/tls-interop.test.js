'use strict'
// TLS between this package (Bun.listen/Bun.connect) and node:tls, both ways: bulk echo with
// checksums, ALPN (wire format on our side, Node's array form on the other), client
// certificates. node:tls exists under Bun too, so this file also runs under `bun test`.

const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const tls = require('node:tls')
const { listen, connect } = require('bun')
const { deferred, within, waitFor, autoClose } = require('./helpers')

// --- certificates -----------------------------------------------------------------------------

const pem = (name) => fs.readFileSync(path.join(__dirname, 'fixtures', 'certs', name), 'utf8')
const SERVER_TLS = { key: pem('server-key.pem'), cert: pem('server.pem') }
const CLIENT_TLS = { ca: pem('ca.pem'), serverName: 'localhost' }
const CLIENT_CERT = { key: pem('client-key.pem'), cert: pem('client.pem') }
const CLIENT_CN = 'bun-sockets test client'

// --- local helpers ------------------------------------------------------------------------------

const track = autoClose()

/** node:tls servers and sockets opened by a test; destroyed and closed after it. */
const nodeHandles = []
afterEach(async () => {
  const handles = nodeHandles.splice(0).reverse()
  for (const h of handles) if (typeof h.destroy === 'function') h.destroy()
  const servers = handles.filter((h) => typeof h.destroy !== 'function')
  await Promise.all(servers.map((s) => within(new Promise((resolve) => s.close(() => resolve())), 5000, 'node server close')))
})
const nodeTrack = (handle) => (nodeHandles.push(handle), handle)

const SIZE = 256 * 1024
const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex')

/** A node:tls server on 127.0.0.1:0; `onSocket` gets each secure connection. */
async function nodeServer(options, onSocket) {
  const server = nodeTrack(
    tls.createServer(options, (socket) => {
      nodeTrack(socket)
      socket.on('error', () => {}) // a test's teardown may reset it
      onSocket(socket)
    }),
  )
  await within(new Promise((resolve) => server.listen(0, '127.0.0.1', resolve)), 5000, 'node listen')
  return server
}

/** A node:tls client to 127.0.0.1:port; resolves at secureConnect. */
async function nodeClient(port, options = {}) {
  const socket = nodeTrack(tls.connect({ port, host: '127.0.0.1', ca: pem('ca.pem'), servername: 'localhost', ...options }))
  const connected = new Promise((resolve, reject) => {
    socket.once('secureConnect', resolve)
    socket.once('error', reject)
  })
  await within(connected, 5000, 'node secureConnect')
  return socket
}

/**
 * Socket handlers that write through a queue: what write() does not take now is written on
 * `drain`. `send(socket, buf)` queues; `echo` handlers write back every chunk received.
 */
function queuedWriter() {
  const queue = []
  const flush = (socket) => {
    while (queue.length > 0) {
      const n = socket.write(queue[0])
      if (n < 0) throw new Error(`write returned ${n}`)
      if (n < queue[0].length) return void (queue[0] = queue[0].subarray(n))
      queue.shift()
    }
  }
  const send = (socket, buf) => {
    queue.push(buf)
    flush(socket)
  }
  return { send, flush, pending: () => queue.length }
}

/** Hashes received bytes; `done` resolves at `size` bytes with { received, digest }. */
function receiver(size) {
  const hash = crypto.createHash('sha256')
  let received = 0
  const done = deferred()
  const data = (chunk) => {
    hash.update(chunk)
    received += chunk.length
    if (received >= size) done.resolve({ received, digest: hash.digest('hex') })
  }
  return { data, done: within(done.promise, 10000, `${size} bytes`) }
}

// --- our client, node:tls server -------------------------------------------------------------------

describe('package client ↔ node:tls server', () => {
  test('256 KiB echoed back intact', async () => {
    const payload = crypto.randomBytes(SIZE)
    const atServer = receiver(SIZE)
    const server = await nodeServer(SERVER_TLS, (socket) => {
      socket.on('data', (chunk) => {
        atServer.data(chunk)
        socket.write(chunk)
      })
    })
    const atClient = receiver(SIZE)
    const out = queuedWriter()
    const handshake = deferred()
    const client = track(
      await within(
        connect({
          hostname: '127.0.0.1',
          port: server.address().port,
          tls: CLIENT_TLS,
          socket: {
            handshake: (s, success, err) => handshake.resolve([success, err]),
            data: (s, chunk) => atClient.data(chunk),
            drain: (s) => out.flush(s),
          },
        }),
        5000,
        'connect',
      ),
    )
    expect(await within(handshake.promise, 5000, 'handshake')).toEqual([true, null])
    expect(client.authorized).toBe(true)
    out.send(client, payload)
    const [s, c] = await Promise.all([atServer.done, atClient.done])
    expect(s).toEqual({ received: SIZE, digest: sha256(payload) })
    expect(c).toEqual({ received: SIZE, digest: sha256(payload) })
    expect(client.bytesWritten).toBe(SIZE)
  }, 15000)

  test("ALPN: our wire format against Node's array form agrees on http/1.1", async () => {
    const nodeSide = deferred()
    const server = await nodeServer({ ...SERVER_TLS, ALPNProtocols: ['h2', 'http/1.1'] }, (socket) =>
      nodeSide.resolve(socket.alpnProtocol),
    )
    const handshake = deferred()
    track(
      await within(
        connect({
          hostname: '127.0.0.1',
          port: server.address().port,
          tls: { ...CLIENT_TLS, ALPNProtocols: '\x08http/1.1' },
          socket: { handshake: (s, success) => handshake.resolve([success, s.alpnProtocol]), data() {} },
        }),
        5000,
        'connect',
      ),
    )
    expect(await within(handshake.promise, 5000, 'handshake')).toEqual([true, 'http/1.1'])
    expect(await within(nodeSide.promise, 5000, 'node secure connection')).toBe('http/1.1')
  })

  test('a client certificate satisfies a node:tls server with requestCert', async () => {
    const nodeSide = deferred()
    const server = await nodeServer(
      { ...SERVER_TLS, ca: pem('ca.pem'), requestCert: true, rejectUnauthorized: true },
      (socket) => {
        nodeSide.resolve([socket.authorized, socket.getPeerCertificate().subject.CN])
        socket.write('node-hi')
      },
    )
    const got = deferred()
    track(
      await within(
        connect({
          hostname: '127.0.0.1',
          port: server.address().port,
          tls: { ...CLIENT_TLS, ...CLIENT_CERT },
          socket: { data: (s, chunk) => got.resolve(Buffer.from(chunk).toString()) },
        }),
        5000,
        'connect',
      ),
    )
    expect(await within(nodeSide.promise, 5000, 'node secure connection')).toEqual([true, CLIENT_CN])
    expect(await within(got.promise, 5000, 'data from node')).toBe('node-hi')
  })
})

// --- node:tls client, our server -------------------------------------------------------------------

describe('node:tls client ↔ package server', () => {
  /** Our TLS listener on 127.0.0.1:0 that echoes; `seen` collects handshake outcomes. */
  function echoServer(tlsOptions = SERVER_TLS) {
    const seen = { handshakes: [], sockets: [] }
    const writers = new Map()
    const writer = (s) => writers.get(s) ?? writers.set(s, queuedWriter()).get(s)
    const listener = track(
      listen({
        hostname: '127.0.0.1',
        port: 0,
        tls: tlsOptions,
        socket: {
          open: (s) => seen.sockets.push(track(s)),
          handshake: (s, success, err) =>
            seen.handshakes.push({ success, code: err ? err.code : null, authorized: s.authorized, alpn: s.alpnProtocol }),
          data: (s, chunk) => writer(s).send(s, Buffer.from(chunk)),
          drain: (s) => writer(s).flush(s),
        },
      }),
    )
    return { listener, seen }
  }

  test('256 KiB echoed back intact', async () => {
    const { listener, seen } = echoServer()
    const socket = await nodeClient(listener.port)
    expect(socket.authorized).toBe(true)
    const payload = crypto.randomBytes(SIZE)
    const atClient = receiver(SIZE)
    socket.on('data', atClient.data)
    socket.write(payload)
    expect(await atClient.done).toEqual({ received: SIZE, digest: sha256(payload) })
    await waitFor(() => seen.handshakes.length === 1, 5000, 'server handshake')
    expect(seen.handshakes[0]).toEqual({ success: true, code: 'UNABLE_TO_GET_ISSUER_CERT', authorized: false, alpn: false })
    expect(seen.sockets[0].bytesWritten).toBe(SIZE)
  }, 15000)

  test("ALPN: Node's array form against our wire format", async () => {
    const { listener, seen } = echoServer({ ...SERVER_TLS, ALPNProtocols: '\x02h2\x08http/1.1' })
    const first = await nodeClient(listener.port, { ALPNProtocols: ['http/1.1'] })
    expect(first.alpnProtocol).toBe('http/1.1')
    // The server's preference wins.
    const second = await nodeClient(listener.port, { ALPNProtocols: ['http/1.1', 'h2'] })
    expect(second.alpnProtocol).toBe('h2')
    await waitFor(() => seen.handshakes.length === 2, 5000, 'server handshakes')
    expect(seen.handshakes.map((h) => [h.success, h.alpn])).toEqual([
      [true, 'http/1.1'],
      [true, 'h2'],
    ])
  })

  test('a Node client with a client certificate against requestCert: both authorized, echo works', async () => {
    const { listener, seen } = echoServer({ ...SERVER_TLS, ca: pem('ca.pem'), requestCert: true, rejectUnauthorized: true })
    const socket = await nodeClient(listener.port, CLIENT_CERT)
    expect(socket.authorized).toBe(true)
    const atClient = receiver(5)
    socket.on('data', atClient.data)
    socket.write('hello')
    expect(await atClient.done).toEqual({ received: 5, digest: sha256(Buffer.from('hello')) })
    await waitFor(() => seen.handshakes.length === 1, 5000, 'server handshake')
    expect(seen.handshakes[0]).toEqual({ success: true, code: null, authorized: true, alpn: false })
    expect(seen.sockets[0].getPeerCertificate().subject.CN).toBe(CLIENT_CN)
  })
})
