'use strict'
// Flow control: write()'s return value and `drain`, pause()/resume(), timeout(), and large
// transfers checked end to end with sha256.

const crypto = require('node:crypto')
const { listen, connect } = require('bun')
const { deferred, within, waitFor, sleep, autoClose } = require('./helpers')

const HOST = '127.0.0.1'
const KiB = 1024
const MiB = 1024 * KiB

const track = autoClose()

/** A listener on port 0; `accepted` resolves with its first accepted socket. */
function listenOnce(handlers) {
  const accepted = deferred()
  const listener = track(
    listen({
      hostname: HOST,
      port: 0,
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

async function connectTo(listener, handlers = {}) {
  const pending = connect({ hostname: HOST, port: listener.port, socket: { data() {}, ...handlers } })
  const socket = await within(pending, 5000, 'connect')
  return track(socket)
}

const sha256 = (buffer) => crypto.createHash('sha256').update(buffer).digest('hex')

/**
 * Writes all of `buffer` in `chunk`-sized pieces, honouring write()'s return value: after a
 * short write it waits for `drain` (delivered through `onDrain`) before writing the rest.
 */
function pump(socket, buffer, chunk) {
  const done = deferred()
  let offset = 0
  let waits = 0
  const step = () => {
    while (offset < buffer.length) {
      const piece = buffer.subarray(offset, Math.min(offset + chunk, buffer.length))
      const n = socket.write(piece)
      if (n < 0) return done.reject(new Error(`write returned ${n} at offset ${offset}`))
      offset += n
      if (n < piece.length) {
        waits++
        return
      }
    }
    done.resolve(waits)
  }
  return { start: step, onDrain: step, done: done.promise }
}

describe('write() backpressure and drain', () => {
  test('with the peer paused, write() goes short then 0; drain fires once after resume; the peer gets exactly bytesWritten', async () => {
    let received = 0
    const { listener, accepted } = listenOnce({
      open(socket) {
        socket.pause()
      },
      data(socket, chunk) {
        received += chunk.length
      },
    })
    let drains = 0
    const client = await connectTo(listener, {
      drain() {
        drains++
      },
    })
    const server = await accepted

    const chunk = Buffer.alloc(256 * KiB, 'x')
    const returns = []
    let n
    do {
      n = client.write(chunk)
      returns.push(n)
    } while (n === chunk.length && returns.length < 4096)

    // The first short write took part of the chunk (or nothing); every write after it takes nothing.
    expect(n).toBeGreaterThanOrEqual(0)
    expect(n).toBeLessThan(chunk.length)
    expect(returns.slice(0, -1).every((r) => r === chunk.length)).toBe(true)
    for (let i = 0; i < 3; i++) expect(client.write(chunk)).toBe(0)
    expect(client.write('tail')).toBe(0)

    const total = returns.reduce((a, b) => a + b, 0)
    expect(client.bytesWritten).toBe(total)

    // Nothing moves while the server is paused.
    await sleep(200)
    expect(drains).toBe(0)
    expect(received).toBe(0)

    server.resume()
    await waitFor(() => drains > 0, 5000, 'drain')
    await waitFor(() => received >= total, 5000, 'all accepted bytes to arrive')
    await sleep(200)
    expect(drains).toBe(1)
    expect(received).toBe(total)
    expect(client.bytesWritten).toBe(total)

    // Writable again once drained.
    expect(client.write('x')).toBe(1)
  })
})

describe('pause() and resume()', () => {
  test('pause() holds back data and end until resume(), which delivers them', async () => {
    const events = []
    const ended = deferred()
    const closed = deferred()
    const { listener, accepted } = listenOnce({
      open(socket) {
        socket.pause()
      },
      data(socket, chunk) {
        events.push(['data', String(chunk)])
      },
      end() {
        events.push(['end'])
        ended.resolve()
      },
      close() {
        closed.resolve()
      },
    })
    const client = await connectTo(listener)
    const server = await accepted

    expect(client.write('one')).toBe(3)
    await sleep(50)
    expect(client.write('two')).toBe(3)
    client.shutdown()
    await sleep(300)
    expect(events).toEqual([])
    expect(server.readyState).toBe(1)

    expect(server.resume()).toBeUndefined()
    await within(ended.promise, 5000, 'end after resume')
    const text = events.filter((e) => e[0] === 'data').map((e) => e[1]).join('')
    expect(text).toBe('onetwo')
    expect(events[events.length - 1]).toEqual(['end'])
    await within(closed.promise, 5000, 'server close')
  })

  test('data arriving after a second pause() waits for the next resume()', async () => {
    const chunks = []
    const { listener, accepted } = listenOnce({
      data(socket, chunk) {
        chunks.push(String(chunk))
      },
    })
    const client = await connectTo(listener)
    const server = await accepted

    client.write('first')
    await waitFor(() => chunks.join('') === 'first', 5000, 'first chunk')

    expect(server.pause()).toBeUndefined()
    expect(server.pause()).toBeUndefined()
    client.write('second')
    await sleep(300)
    expect(chunks.join('')).toBe('first')

    server.resume()
    await waitFor(() => chunks.join('') === 'firstsecond', 5000, 'second chunk after resume')
  })
})

describe('timeout()', () => {
  test('timeout(1) fires once, is not reset by traffic, and does not close the socket', async () => {
    const fired = []
    const closes = []
    const serverData = []
    const first = deferred()
    const second = deferred()
    const { listener, accepted } = listenOnce({
      data(socket, chunk) {
        serverData.push(String(chunk))
      },
      timeout(socket) {
        fired.push(['server', Date.now(), arguments.length, socket.readyState])
        second.resolve()
      },
      close() {
        closes.push('server')
      },
    })
    const client = await connectTo(listener, {
      timeout(socket) {
        fired.push(['client', Date.now(), arguments.length, socket.readyState])
        first.resolve()
      },
      close() {
        closes.push('client')
      },
    })
    const server = await accepted

    // Bun checks timeouts on a coarse 4-second tick, so a timeout armed at a random moment can
    // fire early. The client's timeout lines us up with a tick; the server's, armed shortly
    // after it fired, is the one measured.
    const start = Date.now()
    expect(client.timeout(1)).toBeUndefined()
    await within(first.promise, 6000, 'first timeout')
    expect(Date.now() - start).toBeLessThanOrEqual(5000)
    await sleep(100)
    const armedAt = Date.now()
    expect(server.timeout(1)).toBeUndefined()

    // Traffic both ways while the server's timeout is armed does not push it back.
    const traffic = setInterval(() => {
      client.write('ping')
      server.write('pong')
    }, 250)
    try {
      await within(second.promise, 6000, 'second timeout')
    } finally {
      clearInterval(traffic)
    }
    const elapsed = fired[1][1] - armedAt
    expect(elapsed).toBeGreaterThanOrEqual(950)
    expect(elapsed).toBeLessThanOrEqual(5000)

    // One-shot: nothing more across the next tick.
    await sleep(4500)
    expect(fired.map(([who, , args, readyState]) => [who, args, readyState])).toEqual([
      ['client', 1, 1],
      ['server', 1, 1],
    ])
    expect(closes).toEqual([])
    expect(client.readyState).toBe(1)
    expect(server.readyState).toBe(1)

    // Still usable.
    serverData.length = 0
    client.write('after')
    await waitFor(() => serverData.join('') === 'after', 5000, 'data after timeout')
  }, 30000)

  test('timeout(0) disables an armed timeout', async () => {
    const { listener, accepted } = listenOnce({})
    let fired = 0
    const client = await connectTo(listener, {
      timeout() {
        fired++
      },
    })
    await accepted
    client.timeout(1)
    expect(client.timeout(0)).toBeUndefined()
    // Past at least one 4-second tick, where timeout(1) would have fired.
    await sleep(5500)
    expect(fired).toBe(0)
    expect(client.readyState).toBe(1)
  }, 20000)
})

describe('large transfers', () => {
  test('64 MiB client to server, honouring write() and drain, arrives intact (sha256)', async () => {
    const total = 64 * MiB
    const payload = crypto.randomBytes(total)
    const expected = sha256(payload)

    const hash = crypto.createHash('sha256')
    let received = 0
    const complete = deferred()
    const { listener, accepted } = listenOnce({
      data(socket, chunk) {
        hash.update(chunk)
        received += chunk.length
        if (received >= total) complete.resolve()
      },
    })
    let writer
    const client = await connectTo(listener, {
      drain() {
        writer.onDrain()
      },
    })
    await accepted
    writer = pump(client, payload, 1 * MiB)
    writer.start()
    await within(writer.done, 40000, 'writing 64 MiB')
    await within(complete.promise, 40000, 'receiving 64 MiB')
    expect(received).toBe(total)
    expect(client.bytesWritten).toBe(total)
    expect(hash.digest('hex')).toBe(expected)
  }, 60000)

  test('16 MiB echoed back by a server that honours backpressure arrives intact (sha256)', async () => {
    const total = 16 * MiB
    const payload = crypto.randomBytes(total)
    const expected = sha256(payload)

    // Echo server: what the kernel does not take is queued, and reading pauses until drain.
    const pending = []
    const flush = (socket) => {
      while (pending.length > 0) {
        const buf = pending[0]
        const n = socket.write(buf)
        if (n < 0) throw new Error(`server write returned ${n}`)
        if (n < buf.length) {
          pending[0] = buf.subarray(n)
          socket.pause()
          return
        }
        pending.shift()
      }
      socket.resume()
    }
    const { listener, accepted } = listenOnce({
      data(socket, chunk) {
        pending.push(Buffer.from(chunk))
        if (pending.length === 1) flush(socket)
      },
      drain(socket) {
        flush(socket)
      },
    })

    const hash = crypto.createHash('sha256')
    let received = 0
    const complete = deferred()
    let writer
    const client = await connectTo(listener, {
      data(socket, chunk) {
        hash.update(chunk)
        received += chunk.length
        if (received >= total) complete.resolve()
      },
      drain() {
        writer.onDrain()
      },
    })
    await accepted
    writer = pump(client, payload, 256 * KiB)
    writer.start()
    await within(writer.done, 40000, 'writing 16 MiB')
    await within(complete.promise, 40000, 'receiving the 16 MiB echo')
    expect(received).toBe(total)
    expect(hash.digest('hex')).toBe(expected)
  }, 60000)
})

describe('request/response within one process', () => {
  test('a ping-pong that never stops leaves room for timers, immediates and the I/O of other sockets', async () => {
    const echo = {
      data(socket, chunk) {
        socket.write(chunk)
      },
    }
    const { listener, accepted } = listenOnce(echo)
    let roundTrips = 0
    let running = true
    const started = deferred()
    const client = await connectTo(listener, {
      data(socket, chunk) {
        if (++roundTrips === 100) started.resolve()
        if (running) socket.write(chunk)
      },
    })
    await accepted
    client.setNoDelay(true)
    client.write('ping')
    await within(started.promise, 5000, '100 round trips')
    // While the two ends answer each other without pause, everything else still gets its turn.
    const beforeTimer = roundTrips
    await within(sleep(20), 2000, 'a 20 ms timer during the ping-pong')
    const beforeImmediate = roundTrips
    await within(new Promise((resolve) => setImmediate(resolve)), 2000, 'an immediate during the ping-pong')
    const second = listenOnce(echo)
    const echoed = deferred()
    const other = await connectTo(second.listener, {
      data(_socket, chunk) {
        echoed.resolve(chunk.toString())
      },
    })
    await second.accepted
    other.write('other')
    expect(await within(echoed.promise, 2000, 'an echo on another connection')).toBe('other')
    running = false
    expect(beforeImmediate).toBeGreaterThan(beforeTimer)
    expect(roundTrips).toBeGreaterThan(beforeImmediate)
  }, 20000)
})
