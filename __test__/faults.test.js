'use strict'
// Faults and edge inputs a user meets: peers that reset (mid-write, right after accepting, while
// we are paused or half-open), Workers terminated mid-transfer, timers no clock can hold, a huge
// TLS write to a peer that does not read, a pause that must stay a pause. The expectations are
// Bun 1.4.4's (docs/reference/bun-tcp.md, "Faults").

const fs = require('node:fs')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { listen, connect } = require('bun')
const { deferred, within, waitFor, sleep, autoClose, fixtureRunner, openSockets, tempDir } = require('./helpers')

const HOST = '127.0.0.1'
const MiB = 1024 * 1024
const pem = (name) => fs.readFileSync(path.join(__dirname, 'fixtures', 'certs', name), 'utf8')
const SERVER_TLS = { key: pem('server-key.pem'), cert: pem('server.pem') }
const CLIENT_TLS = { ca: pem('ca.pem'), serverName: 'localhost' }

const track = autoClose()
const { run } = fixtureRunner()

/**
 * Records a socket's events as short strings. Bun also fires `drain` whenever pause(), resume()
 * or the peer's end re-arms its poll; `events` leaves those out, `drains` counts them.
 */
function recorder(extra = {}) {
  const events = []
  const closed = deferred()
  const record = { events, drains: 0 }
  const handlers = {
    data(socket, data) {
      events.push(`data ${data.length}`)
    },
    drain() {
      record.drains++
    },
    end() {
      events.push('end')
    },
    error(socket, err) {
      events.push(`error ${err.code}`)
    },
    close(socket, err) {
      events.push(err ? `close ${err.code} ${err.syscall}` : 'close')
      closed.resolve(err)
    },
    ...extra,
  }
  return Object.assign(record, { closed: closed.promise, handlers })
}

/** A listener whose accepted sockets resolve `accepted` (the first one). */
function listenWith(handlers, options = {}) {
  const accepted = deferred()
  const listener = track(
    listen({
      hostname: HOST,
      port: 0,
      ...options,
      socket: {
        data() {},
        ...handlers,
        open(socket) {
          track(socket)
          handlers.open?.(socket)
          accepted.resolve(socket)
        },
      },
    }),
  )
  return { listener, accepted: within(accepted.promise, 5000, 'accept') }
}

describe('peer resets', () => {
  test('a reset while the client floods: close(ECONNRESET, read), no end, write() then -1', async () => {
    const { listener } = listenWith({ open: (socket) => setTimeout(() => socket.terminate(), 30) })
    const big = Buffer.alloc(MiB)
    const pump = (socket) => {
      while (socket.write(big) === big.length);
    }
    const client = recorder({ open: pump, drain: pump })
    const socket = track(await connect({ hostname: HOST, port: listener.port, socket: client.handlers }))
    const err = await within(client.closed, 5000, 'client close')
    expect(err).toMatchObject({ code: 'ECONNRESET', syscall: 'read', errno: -104 })
    expect(client.events).toEqual(['close ECONNRESET read'])
    expect(socket.write('x')).toBe(-1)
  })

  test('accepted then reset at once: every client gets open, a resolved promise, then close(ECONNRESET)', async () => {
    // The race is narrow (about 1 connect in 100 lost it on the old core): 8 rounds of 50.
    const { listener } = listenWith({ open: (socket) => socket.terminate() })
    const connectOnce = () => {
      const seen = { open: 0, connectError: 0 }
      const closed = deferred()
      const pending = connect({
        hostname: HOST,
        port: listener.port,
        socket: {
          data() {},
          open() {
            seen.open++
          },
          connectError() {
            seen.connectError++
          },
          close(socket, err) {
            closed.resolve(err?.code)
          },
        },
      })
      return pending.then(
        async () => ({ ...seen, promise: 'resolved', close: await within(closed.promise, 5000, 'close') }),
        (err) => ({ ...seen, promise: `rejected ${err.code}` }),
      )
    }
    for (let round = 0; round < 8; round++) {
      const outcomes = await Promise.all(Array.from({ length: 50 }, connectOnce))
      for (const outcome of outcomes) {
        expect(outcome).toEqual({ open: 1, connectError: 0, promise: 'resolved', close: 'ECONNRESET' })
      }
    }
  })

  test.each(['plain', 'TLS'])('%s: a paused socket delivers the data ahead of a reset, then closes with ECONNRESET', async (kind) => {
    const tls = kind === 'TLS'
    const server = recorder({ open: (socket) => socket.pause() })
    const { listener, accepted } = listenWith(server.handlers, tls ? { tls: SERVER_TLS } : undefined)
    const handshaken = deferred()
    const client = track(
      await connect({
        hostname: HOST,
        port: listener.port,
        ...(tls ? { tls: CLIENT_TLS } : {}),
        socket: { data() {}, handshake: handshaken.resolve },
      }),
    )
    if (tls) await within(handshaken.promise, 5000, 'handshake')
    const paused = await accepted
    expect(client.write('hello world')).toBe(11)
    await sleep(50)
    expect(server.events).toEqual([])
    client.terminate()
    await within(server.closed, 5000, 'close of the paused socket')
    expect(server.events).toEqual(['data 11', 'close ECONNRESET read'])
    expect(paused.readyState).toBe(-1)
  })

  test('a socket waiting for drain notices the reset: data first, then close(ECONNRESET), no drain', async () => {
    const { listener, accepted } = listenWith({ open: (socket) => socket.pause() })
    const client = recorder()
    const socket = track(await connect({ hostname: HOST, port: listener.port, socket: client.handlers }))
    const server = await accepted
    server.write('hello')
    await waitFor(() => client.events.length > 0, 5000, 'data')
    const big = Buffer.alloc(MiB)
    while (socket.write(big) === big.length);
    await sleep(30)
    server.terminate()
    await within(client.closed, 5000, 'client close')
    expect(client.events).toEqual(['data 5', 'close ECONNRESET read'])
    expect(client.drains).toBe(0)
  })

  test('a half-open socket notices a reset after the peer ended: close(EPIPE, read)', async () => {
    const server = recorder()
    const { listener } = listenWith(server.handlers, { allowHalfOpen: true })
    const client = track(await connect({ hostname: HOST, port: listener.port, allowHalfOpen: true, socket: { data() {} } }))
    client.write('abc')
    client.shutdown()
    await waitFor(() => server.events.includes('end'), 5000, 'end')
    client.terminate()
    await within(server.closed, 5000, 'server close')
    expect(server.events).toEqual(['data 3', 'end', 'close EPIPE read'])
  })
})

describe('TLS: every accepted byte goes out, and write() stays bounded', () => {
  for (const how of ['close', 'shutdown', 'end']) {
    test(`8 MiB then ${how}() right after the last write: the server gets all 8 MiB`, async () => {
      const total = 8 * MiB
      const data = Buffer.alloc(total, 1)
      let got = 0
      const server = recorder({
        data(socket, chunk) {
          got += chunk.length
        },
      })
      const { listener } = listenWith(server.handlers, { tls: SERVER_TLS })
      let offset = 0
      const sent = deferred()
      const pump = (socket) => {
        while (offset < total) {
          const n = socket.write(data.subarray(offset))
          if (n <= 0) return
          offset += n
        }
        socket[how]()
        sent.resolve()
      }
      track(
        await connect({ hostname: HOST, port: listener.port, tls: CLIENT_TLS, socket: { data() {}, drain: pump } }),
      )
      await within(sent.promise, 20000, 'sending')
      await within(server.closed, 20000, 'server close')
      expect(got).toBe(total)
    })
  }

  test('a client that writes 2 MiB and closes the moment its handshake is done loses nothing (late session tickets do not reset it)', async () => {
    for (let round = 0; round < 10; round++) {
      const total = 2 * MiB + round
      let got = 0
      const server = recorder({
        data(socket, chunk) {
          got += chunk.length
        },
      })
      const { listener } = listenWith(server.handlers, { tls: SERVER_TLS })
      const data = Buffer.alloc(total, 2)
      let offset = 0
      const pump = (socket) => {
        while (offset < total) {
          const n = socket.write(data.subarray(offset, offset + 100000))
          if (n <= 0) return
          offset += n
        }
        socket.close()
      }
      track(await connect({ hostname: HOST, port: listener.port, tls: CLIENT_TLS, socket: { data() {}, drain: pump, handshake() {} } }))
      const err = await within(server.closed, 20000, 'server close')
      expect({ round, got, err: err?.code }).toEqual({ round, got: total, err: undefined })
      listener.stop(true)
    }
  })

  test('write(64 MiB) to a peer that does not read takes a part, then 0, with flat memory; the rest follows on drain', async () => {
    const result = await within(run('fault-tls-bigwrite.js').exited, 50000, 'big TLS write')
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report.first).toBeGreaterThan(0)
    expect(report.first).toBeLessThan(32 * MiB)
    expect(report.second).toBe(0)
    expect(report.rssGrowth).toBeLessThan(32 * MiB)
    expect(report.drains).toBeGreaterThan(0)
    expect(report.received).toBe(64 * MiB)
  }, 60000)
})

describe('memory and crashes', () => {
  test('pause(); resume(); pause() in one tick leaves the socket paused: a flood fills only the kernel buffers', async () => {
    const result = await within(run('fault-pause-flood.js', ['1500']).exited, 20000, 'pause flood')
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report.received).toBe(0)
    expect(report.sent).toBeLessThan(48 * MiB)
    expect(report.peakRss).toBeLessThan(200 * MiB)
  }, 30000)

  test('timeout() with Infinity, 1e308, 2**64 or a BigInt returns undefined and never crashes', async () => {
    const result = await within(run('fault-timeouts.js').exited, 20000, 'timeouts')
    expect(result.stderr).toBe('')
    expect(result.signal).toBeNull()
    expect(result.code).toBe(0)
    const outcomes = JSON.parse(result.stdout)
    expect(outcomes).toHaveLength(44)
    expect(new Set(outcomes)).toEqual(new Set(['undefined']))
  }, 30000)
})

describe('Workers', () => {
  test.each(['tcp', 'tls', 'unix'])('terminating Workers in the middle of a %s transfer leaves no socket open', async (transport) => {
    const before = openSockets()
    const dir = transport === 'unix' ? tempDir() : undefined
    for (let round = 0; round < 2; round++) {
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          const worker = new Worker(path.join(__dirname, 'fixtures', 'worker-flood.js'), { workerData: { transport, dir } })
          const full = deferred()
          worker.on('message', full.resolve)
          worker.on('error', full.reject)
          await within(full.promise, 10000, 'worker to fill its socket')
          await within(worker.terminate(), 10000, 'worker terminate')
        }),
      )
    }
    await waitFor(() => openSockets() <= before, 5000, `sockets back to ${before} (now ${openSockets()})`)
    expect(openSockets()).toBeLessThanOrEqual(before)
  }, 60000)
})
