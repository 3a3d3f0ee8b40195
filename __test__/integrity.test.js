'use strict'
// Seeded randomized integrity transfers: every byte write() accepted arrives once and in order,
// whatever the write sizes, pause()/resume() sequences (same tick included) and the way the
// sender ends (end, shutdown, close right after its last write, half-open exchanges). Over TCP,
// unix sockets and TLS. A failure names its seed: BUN_SOCKETS_SEED=<seed> replays it.

const fs = require('node:fs')
const path = require('node:path')
const { listen, connect } = require('bun')
const { deferred, within, waitFor, tempDir, hasIPv6, seeded, autoClose } = require('./helpers')

const KiB = 1024
const MiB = 1024 * KiB

const pem = (name) => fs.readFileSync(path.join(__dirname, 'fixtures', 'certs', name), 'utf8')
const SERVER_TLS = { key: pem('server-key.pem'), cert: pem('server.pem') }
const CLIENT_TLS = { ca: pem('ca.pem'), serverName: 'localhost' }

const track = autoClose()
const dir = tempDir()
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const TRANSPORTS = ['tcp4', ...(hasIPv6() ? ['tcp6'] : []), 'unix', 'tls']
let unixCount = 0

/** listen() and connect() options for one transport. */
function endpoints(transport) {
  switch (transport) {
    case 'unix': {
      const unix = path.join(dir, `s${unixCount++}.sock`)
      return { server: { unix }, client: () => ({ unix }) }
    }
    case 'tls':
      return {
        server: { hostname: '127.0.0.1', port: 0, tls: SERVER_TLS },
        client: (port) => ({ hostname: '127.0.0.1', port, tls: CLIENT_TLS }),
      }
    default: {
      const hostname = transport === 'tcp6' ? '::1' : '127.0.0.1'
      return { server: { hostname, port: 0 }, client: (port) => ({ hostname, port }) }
    }
  }
}

/** Write sizes: mostly small and medium, now and then a large one. */
function writeSize(r) {
  const band = r.next()
  if (band < 0.25) return r.int(1, 64)
  if (band < 0.6) return r.int(65, 16 * KiB)
  if (band < 0.9) return r.int(16 * KiB + 1, 128 * KiB)
  return r.int(128 * KiB + 1, 512 * KiB)
}

/**
 * Sends `payload` through write(), honouring its return value: after a short write the rest
 * waits for `drain`. Writes of random sizes (or all of `fixedSize`) use the plain and the
 * offset/length forms at random. `sent` resolves
 * once write() accepted everything.
 */
function sender(r, payload, fixedSize) {
  let offset = 0
  const sent = deferred()
  const pump = (socket) => {
    while (offset < payload.length) {
      const size = Math.min(fixedSize ?? writeSize(r), payload.length - offset)
      const n = fixedSize === undefined && r.chance(0.3) ? socket.write(payload, offset, size) : socket.write(payload.subarray(offset, offset + size))
      if (n < 0) return sent.reject(new Error(`write returned ${n} at offset ${offset} of ${payload.length}`))
      offset += n
      if (n < size) return
    }
    sent.resolve()
  }
  return { pump, sent: sent.promise }
}

/**
 * Receives into a running comparison with `expected`: the offset of the first wrong byte is kept,
 * so a reordering is caught where it happens. Pauses and resumes at random, in every way a
 * handler can: resumed later, on the next turn, in a microtask, or in the same tick.
 */
function receiver(r, expected, pauseOdds, reloadOdds = 0) {
  let got = 0
  let firstBad = -1
  const all = deferred()
  // The handlers reload() passes again, with another binaryType (set once they exist).
  const reloading = { handlers: null }
  const check = (data) => {
    const chunk = Buffer.isBuffer(data) ? data : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data)
    if (firstBad < 0 && got + chunk.length <= expected.length) {
      const want = expected.subarray(got, got + chunk.length)
      if (!want.equals(chunk)) {
        let i = 0
        while (want[i] === chunk[i]) i++
        firstBad = got + i
      }
    }
    got += chunk.length
    if (got === expected.length) all.resolve()
  }
  const maybePause = (socket) => {
    if (!r.chance(pauseOdds)) return
    switch (r.int(0, 5)) {
      case 0:
        socket.pause()
        setTimeout(() => socket.resume(), r.int(0, 3))
        break
      case 1:
        socket.pause()
        setImmediate(() => socket.resume())
        break
      case 2:
        socket.pause()
        queueMicrotask(() => socket.resume())
        break
      case 3:
        // Ends paused: the last request wins.
        socket.pause()
        socket.resume()
        socket.pause()
        setTimeout(() => socket.resume(), r.int(0, 2))
        break
      case 4:
        socket.resume()
        socket.pause()
        socket.resume()
        break
      default:
        socket.pause()
        socket.pause()
        process.nextTick(() => {
          socket.resume()
          socket.resume()
        })
    }
  }
  const maybeReload = (socket) => {
    if (reloading.handlers === null || !r.chance(reloadOdds)) return
    const binaryType = r.pick(['buffer', 'arraybuffer', 'uint8array'])
    socket.reload({ socket: { ...reloading.handlers, binaryType } })
  }
  return {
    data(socket, chunk) {
      check(chunk)
      maybePause(socket)
      maybeReload(socket)
    },
    reloading,
    all: all.promise,
    verdict: () => ({ got, expected: expected.length, firstBad }),
  }
}

/** One side's handlers: events into `log`, errors kept, `closed` resolves with close's error. */
function side(log, name, extra) {
  const closed = deferred()
  const errors = []
  const handlers = {
    data() {},
    error(socket, err) {
      errors.push(err)
    },
    close(socket, err) {
      log.push(`${name} close${err ? ` ${err.code}` : ''}`)
      closed.resolve(err)
    },
    end() {
      log.push(`${name} end`)
    },
    timeout() {
      log.push(`${name} timeout`)
    },
    ...extra,
  }
  return { handlers, closed: closed.promise, errors }
}

/** A listener whose accepted sockets are tracked, with `handlers`. */
function serve(serverOptions, handlers) {
  return track(listen({ ...serverOptions, socket: { open: track, ...handlers } }))
}

/**
 * One transfer from client to server of a random payload, ended in one of the ways a sender
 * ends. Resolves with what the receiver saw.
 */
async function oneWay(r, transport) {
  const size = r.int(1, transport === 'tls' ? 3 * MiB : 6 * MiB)
  const payload = r.bytes(size)
  // Now and then both ends arm a one-second timeout and the receiver stalls at its first chunk
  // until both fired (Bun's timers tick in seconds: up to ~5 s there): each fires once,
  // mid-transfer. (No random pauses then, as one of their resumes could end the stall early;
  // the receiver ends the transfer, so both ends are open meanwhile.)
  const stall = r.chance(0.15)
  const ending = stall ? 'receiver-ends' : r.pick(['end', 'shutdown', 'close', 'receiver-ends'])
  const log = []
  // Half the receivers switch binaryType with reload() now and then, between chunks in flight.
  const recv = receiver(r, payload, stall ? 0 : r.pick([0, 0.02, 0.2]), r.pick([0, 0.05]))
  const { server: serverOptions, client: clientOptions } = endpoints(transport)
  const accepted = deferred()
  let stalled = null
  const serverSide = side(log, 'server', {
    open: (socket) => accepted.resolve(track(socket)),
    data(socket, chunk) {
      recv.data(socket, chunk)
      if (stall && stalled === null) {
        socket.pause()
        const fired = () => log.includes('client timeout') && log.includes('server timeout')
        stalled = waitFor(fired, 8000, 'both timeouts')
          .catch(() => {}) // the assertion below says which did not fire
          .finally(() => socket.resume())
      }
    },
  })
  recv.reloading.handlers = serverSide.handlers
  const listener = track(listen({ ...serverOptions, socket: serverSide.handlers }))
  const send = sender(r, payload)
  const clientSide = side(log, 'client', { drain: send.pump })
  const client = track(await within(connect({ ...clientOptions(listener.port), socket: clientSide.handlers }), 5000, 'connect'))
  if (transport === 'tls') await within(waitOpen(client), 5000, 'handshake')
  if (stall) {
    client.timeout(1)
    ;(await accepted.promise).timeout(1)
  }
  send.pump(client)
  await within(send.sent, 30000, 'sending')
  if (ending === 'end') client.end()
  else if (ending === 'shutdown') client.shutdown()
  else if (ending === 'close') client.close()
  else {
    await within(recv.all, 30000, 'all bytes')
    await stalled // the first chunk may have been all of it
    ;(await accepted.promise).end()
  }
  await within(serverSide.closed, 30000, `server close after ${ending}`)
  await within(clientSide.closed, 30000, `client close after ${ending}`)
  const verdict = recv.verdict()
  const timeouts = log.filter((entry) => entry.endsWith(' timeout')).sort()
  expect({ transport, ending, ...verdict, timeouts, errors: [...serverSide.errors, ...clientSide.errors].map(String) }).toEqual({
    transport,
    ending,
    got: size,
    expected: size,
    firstBad: -1,
    timeouts: stall ? ['client timeout', 'server timeout'] : [],
    errors: [],
  })
}

/**
 * The receiver cuts the connection mid-transfer, from its `data` handler, with close() or
 * terminate(), at a random point: what it saw is an unbroken prefix, nothing comes after its
 * close, and the sender learns of it (a negative write() or its own close).
 */
async function cutByReceiver(r, transport) {
  const size = r.int(64 * KiB, transport === 'tls' ? 2 * MiB : 4 * MiB)
  const payload = r.bytes(size)
  const cut = r.int(1, size - 1)
  const how = r.pick(['close', 'terminate'])
  const recv = receiver(r, payload, r.pick([0, 0.05]))
  const log = []
  let cutAt = -1
  let afterCut = 0
  const { server: serverOptions, client: clientOptions } = endpoints(transport)
  const serverSide = side(log, 'server', {
    open: track,
    data(socket, chunk) {
      if (cutAt >= 0) {
        afterCut++
        return
      }
      recv.data(socket, chunk)
      const { got } = recv.verdict()
      if (got >= cut) {
        cutAt = got
        socket[how]()
      }
    },
  })
  const listener = track(listen({ ...serverOptions, socket: serverSide.handlers }))
  let offset = 0
  let refused = false
  // From the first write on: a TLS client's drain at the end of its handshake must not start
  // the transfer (the cut could then close the socket before waitOpen saw it open).
  let started = false
  const pump = (socket) => {
    while (started && offset < size) {
      const n = socket.write(payload.subarray(offset, offset + Math.min(writeSize(r), size - offset)))
      if (n < 0) {
        refused = true
        return
      }
      offset += n
      if (n === 0) return
    }
  }
  const clientSide = side(log, 'client', { drain: pump })
  const client = track(await within(connect({ ...clientOptions(listener.port), socket: clientSide.handlers }), 5000, 'connect'))
  if (transport === 'tls') await within(waitOpen(client), 5000, 'handshake')
  started = true
  pump(client)
  await within(serverSide.closed, 30000, `server ${how}`)
  // The sender may have handed everything to the kernel before the cut; it then ends itself.
  if (offset >= size && !refused) client.end()
  await within(clientSide.closed, 30000, `client close after the receiver's ${how}`)
  const verdict = recv.verdict()
  expect({ transport, how, firstBad: verdict.firstBad, cut: cutAt >= cut, afterCut }).toEqual({
    transport,
    how,
    firstBad: -1,
    cut: true,
    afterCut: 0,
  })
  expect(verdict.got).toBe(cutAt)
}

/**
 * Both directions at once, then a half-open exchange: the client sends, shuts down its side and
 * waits; the server, once it saw everything and the client's end, sends its answer and ends.
 */
async function exchange(r, transport) {
  const up = r.bytes(r.int(1, transport === 'tls' ? 1 * MiB : 3 * MiB))
  const down = r.bytes(r.int(1, transport === 'tls' ? 1 * MiB : 3 * MiB))
  const answer = r.bytes(r.int(1, 256 * KiB))
  const log = []
  const atServer = receiver(r, up, r.pick([0, 0.05]))
  const atClient = receiver(r, Buffer.concat([down, answer]), r.pick([0, 0.05]))
  const { server: serverOptions, client: clientOptions } = endpoints(transport)
  const toClient = sender(r, down)
  const reply = sender(r, answer)
  let replying = false
  const serverSide = side(log, 'server', {
    open(socket) {
      track(socket)
      toClient.pump(socket)
    },
    data: atServer.data,
    drain: (socket) => (replying ? reply : toClient).pump(socket),
    end(socket) {
      log.push('server end')
      Promise.all([atServer.all, toClient.sent]).then(() => {
        replying = true
        reply.pump(socket)
        return reply.sent.then(() => socket.end())
      })
    },
  })
  const listener = track(listen({ ...serverOptions, allowHalfOpen: true, socket: serverSide.handlers }))
  const toServer = sender(r, up)
  const clientSide = side(log, 'client', { data: atClient.data, drain: toServer.pump })
  const client = track(
    await within(connect({ ...clientOptions(listener.port), allowHalfOpen: true, socket: clientSide.handlers }), 5000, 'connect'),
  )
  if (transport === 'tls') await within(waitOpen(client), 5000, 'handshake')
  toServer.pump(client)
  await within(toServer.sent, 30000, 'client sending')
  client.shutdown()
  await within(atClient.all, 30000, 'answer')
  await within(clientSide.closed, 30000, 'client close')
  await within(serverSide.closed, 30000, 'server close')
  expect({ transport, up: atServer.verdict(), down: atClient.verdict() }).toEqual({
    transport,
    up: { got: up.length, expected: up.length, firstBad: -1 },
    down: { got: down.length + answer.length, expected: down.length + answer.length, firstBad: -1 },
  })
  expect([...serverSide.errors, ...clientSide.errors]).toEqual([])
}

/**
 * STARTTLS with bytes in flight: the client writes a random plaintext prefix and upgrades as
 * soon as write() accepted it, whatever the server has read by then; the server upgrades from
 * the `data` that completes the prefix, handing over the bytes after it (the start of the
 * ClientHello, when they came in the same read) as `initialData`. Then a random payload goes
 * through TLS to a receiver that pauses at random, and the client ends.
 */
async function startTls(r, transport) {
  const pre = r.bytes(r.int(1, 512 * KiB))
  const post = r.bytes(r.int(1, 1 * MiB))
  const atPlain = receiver(r, pre, 0)
  const atTls = receiver(r, post, r.pick([0, 0.05]))
  const { server: serverOptions, client: clientOptions } = endpoints(transport)
  const log = []
  const tlsServer = side(log, 'tls server', { data: atTls.data })
  let plainSeen = 0
  let upgraded = false
  const listener = serve(serverOptions, {
    data(socket, chunk) {
      if (upgraded) return // the raw twin sees the records
      const take = Math.min(chunk.length, pre.length - plainSeen)
      atPlain.data(socket, chunk.subarray(0, take))
      plainSeen += take
      if (plainSeen < pre.length) return
      upgraded = true
      const rest = chunk.subarray(take)
      const [, secure] = socket.upgradeTLS({
        tls: SERVER_TLS,
        ...(rest.length > 0 ? { initialData: rest } : {}),
        socket: tlsServer.handlers,
      })
      track(secure)
    },
  })
  const toServer = sender(r, pre)
  const secured = sender(r, post)
  const tlsClient = side(log, 'tls client', {
    drain: secured.pump,
    handshake(socket, success) {
      if (success) secured.pump(socket)
    },
  })
  const client = track(
    await within(connect({ ...clientOptions(listener.port), socket: { data() {}, drain: toServer.pump } }), 5000, 'connect'),
  )
  toServer.pump(client)
  await within(toServer.sent, 30000, 'plaintext')
  const [, secure] = client.upgradeTLS({ tls: CLIENT_TLS, socket: tlsClient.handlers })
  track(secure)
  await within(secured.sent, 30000, 'sending through TLS')
  secure.end()
  await within(tlsServer.closed, 30000, 'TLS server close')
  await within(tlsClient.closed, 30000, 'TLS client close')
  expect({ transport, plain: atPlain.verdict(), tls: atTls.verdict() }).toEqual({
    transport,
    plain: { got: pre.length, expected: pre.length, firstBad: -1 },
    tls: { got: post.length, expected: post.length, firstBad: -1 },
  })
  expect([...tlsServer.errors, ...tlsClient.errors]).toEqual([])
}

/** A TLS client is writable once its handshake is done (writes before it are dropped, as in Bun). */
function waitOpen(socket) {
  return new Promise((resolve) => {
    const poll = () => (socket.getTLSVersion?.() && socket.authorized ? resolve() : setTimeout(poll, 2))
    poll()
  })
}

describe.each(TRANSPORTS)('%s', (transport) => {
  test('random one-way transfers, each ended by end(), shutdown(), close() or the receiver', async () => {
    await seeded(async (r) => {
      for (let i = 0; i < 6; i++) await oneWay(r, transport)
    })
  }, 120000)

  test('random transfers the receiver cuts with close() or terminate() mid-stream', async () => {
    await seeded(async (r) => {
      for (let i = 0; i < 4; i++) await cutByReceiver(r, transport)
    })
  }, 120000)

  test('random two-way transfers, then a half-open exchange', async () => {
    await seeded(async (r) => {
      for (let i = 0; i < 3; i++) await exchange(r, transport)
    })
  }, 120000)

  test('32 MiB in 64 KiB writes to a receiver pausing for 2 ms at random arrives in order', async () => {
    await seeded(async (r) => {
      const payload = r.bytes(transport === 'tls' ? 16 * MiB : 32 * MiB)
      const recv = receiver(r, payload, 0)
      const { server: serverOptions, client: clientOptions } = endpoints(transport)
      const listener = serve(serverOptions, {
        data(socket, chunk) {
          recv.data(socket, chunk)
          if (r.chance(0.05)) {
            socket.pause()
            setTimeout(() => socket.resume(), 2)
          }
        },
      })
      const send = sender(r, payload, 64 * KiB)
      const client = track(
        await within(connect({ ...clientOptions(listener.port), socket: { data() {}, drain: send.pump } }), 5000, 'connect'),
      )
      if (transport === 'tls') await within(waitOpen(client), 5000, 'handshake')
      send.pump(client)
      await within(recv.all, 60000, 'all bytes')
      expect(recv.verdict()).toEqual({ got: payload.length, expected: payload.length, firstBad: -1 })
    })
  }, 120000)
})

// STARTTLS starts on a plain connection: every transport but tls.
describe.each(TRANSPORTS.filter((t) => t !== 'tls'))('%s', (transport) => {
  test('STARTTLS while the plaintext is still in flight', async () => {
    await seeded(async (r) => {
      for (let i = 0; i < 3; i++) await startTls(r, transport)
    })
  }, 120000)
})
