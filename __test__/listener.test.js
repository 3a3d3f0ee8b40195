'use strict'
// The listener returned by Bun.listen: properties, stop(), stop(true), reload, dispose.
// Runs under Jest (bun → package) and `bun test` (real Bun).

const fs = require('node:fs')
const path = require('node:path')
const { listen, connect } = require('bun')
const { deferred, within, sleep, tempDir, hasIPv6, autoClose } = require('./helpers')

// --- local helpers ------------------------------------------------------------------------

const track = autoClose()

const noop = () => {}

/**
 * A listener whose accepted sockets are handed out in order by `accepted()`. `server` holds
 * extra server handlers.
 */
function listening(options = {}, server = {}) {
  const queue = []
  const waiters = []
  const listener = track(
    listen({
      hostname: '127.0.0.1',
      port: 0,
      ...options,
      socket: {
        data: noop,
        ...server,
        open(socket) {
          track(socket)
          if (waiters.length > 0) waiters.shift().resolve(socket)
          else queue.push(socket)
          if (server.open) server.open.call(this, socket)
        },
      },
    }),
  )
  const accepted = () => {
    if (queue.length > 0) return Promise.resolve(queue.shift())
    const d = deferred()
    waiters.push(d)
    return within(d.promise, 5000, 'accept')
  }
  return { listener, accepted }
}

/** Connects to the listener (TCP or unix) and waits for the client's open. */
async function dial(listener, client = {}, hostname = '127.0.0.1') {
  const target = listener.unix !== undefined ? { unix: listener.unix } : { hostname, port: listener.port }
  return track(await within(connect({ ...target, socket: { data: noop, ...client } }), 5000, 'connect'))
}

/** The rejection of a connect that should fail. */
function refused(options) {
  return within(connect({ ...options, socket: { data: noop } }).then((s) => (s.terminate(), null), (e) => e), 5000, 'connect')
}

/** Client handlers that collect text and log end/close. */
function clientLog(log, got = { text: '' }) {
  const closed = deferred()
  return {
    closed: () => within(closed.promise, 5000, 'client close'),
    handlers: {
      data: (s, chunk) => (got.text += chunk),
      end: () => log.push('C end'),
      close: (s, err) => closed.resolve(log.push(`C close ${err}`)),
    },
  }
}

// --- properties ---------------------------------------------------------------------------

describe('properties', () => {
  test('port 0 gives the actual port; hostname as given; unix undefined; data', () => {
    const data = { d: 1 }
    const { listener } = listening({ data })
    expect(typeof listener.port).toBe('number')
    expect(listener.port).toBeGreaterThan(0)
    expect(listener.hostname).toBe('127.0.0.1')
    expect(listener.unix).toBeUndefined()
    expect(listener.data).toBe(data)
    expect(Object.prototype.toString.call(listener)).toBe('[object Listener]')
    expect(Object.keys(listener)).toEqual([])
    listener.data = 5
    expect(listener.data).toBe(5)
  })

  test('port, hostname and unix are read-only', () => {
    const { listener } = listening()
    const port = listener.port
    expect(() => {
      listener.port = 5
    }).toThrow(TypeError)
    expect(() => {
      listener.hostname = 'x'
    }).toThrow(TypeError)
    expect(listener.port).toBe(port)
    expect(listener.hostname).toBe('127.0.0.1')
  })

  test('hostname is reported as given', async () => {
    for (const hostname of ['localhost', '127.000.000.001']) {
      const { listener, accepted } = listening({ hostname })
      expect(listener.hostname).toBe(hostname)
      const client = await dial(listener)
      expect((await accepted()).remotePort).toBe(client.localPort)
    }
  })

  test('getsockname(out) fills family, address and port; needs an object', () => {
    const { listener } = listening()
    const out = {}
    expect(listener.getsockname(out)).toBeUndefined()
    expect(out).toEqual({ family: 'IPv4', address: '127.0.0.1', port: listener.port })
    const err = (() => {
      try {
        listener.getsockname()
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(TypeError)
    expect(err).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: 'Expected object' })
    listener.stop()
    const after = {}
    expect(listener.getsockname(after)).toBeUndefined()
    expect(after).toEqual({})
  })

  test('fd is a number, -1 after stop', () => {
    const { listener } = listening()
    expect(typeof listener.fd).toBe('number')
    expect(listener.fd).toBeGreaterThanOrEqual(0)
    listener.stop()
    expect(listener.fd).toBe(-1)
  })

  test('unix listener: path in unix, no port or hostname; the file is removed by stop', async () => {
    const unix = path.join(tempDir(), 'listener.sock')
    const { listener } = listening({ hostname: undefined, port: undefined, unix })
    expect(listener.unix).toBe(unix)
    expect(listener.port).toBeUndefined()
    expect(listener.hostname).toBeUndefined()
    expect(fs.existsSync(unix)).toBe(true)
    const client = await dial(listener)
    client.end()
    listener.stop()
    expect(listener.unix).toBe(unix)
    expect(fs.existsSync(unix)).toBe(false)
    // The path can be listened on again.
    const again = track(listen({ unix, socket: { data: noop } }))
    expect(again.unix).toBe(unix)
  })

  test('unix wins over hostname and port', async () => {
    const unix = path.join(tempDir(), 'wins.sock')
    const { listener } = listening({ hostname: '127.0.0.1', port: 0, unix })
    expect(listener.unix).toBe(unix)
    expect(listener.hostname).toBeUndefined()
    expect(listener.port).toBeUndefined()
    const client = await dial(listener)
    expect(client.readyState).toBe(1)
  })

  test('ref() and unref() return undefined, also after stop', () => {
    const { listener } = listening()
    expect(listener.unref()).toBeUndefined()
    expect(listener.ref()).toBeUndefined()
    listener.stop()
    expect(listener.ref()).toBeUndefined()
    expect(listener.unref()).toBeUndefined()
  })
})

// --- stop ---------------------------------------------------------------------------------

describe('stop', () => {
  test('stop(): existing connections keep working, new connects are refused', async () => {
    const serverGot = { text: '' }
    const { listener, accepted } = listening({}, { data: (s, chunk) => (serverGot.text += chunk) })
    const clientGot = { text: '' }
    const client = await dial(listener, { data: (s, chunk) => (clientGot.text += chunk) })
    const server = await accepted()
    const port = listener.port
    expect(listener.stop()).toBeUndefined()
    expect(listener.port).toBe(port)
    expect(listener.hostname).toBe('127.0.0.1')
    expect(server.readyState).toBe(1)
    expect(client.write('client')).toBe(6)
    expect(server.write('srv')).toBe(3)
    await within(
      (async () => {
        while (serverGot.text !== 'client' || clientGot.text !== 'srv') await sleep(5)
      })(),
      5000,
      'data after stop',
    )
    const err = await refused({ hostname: '127.0.0.1', port })
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ code: 'ECONNREFUSED' })
    // Stopping again is harmless.
    expect(listener.stop()).toBeUndefined()
    expect(listener.stop(true)).toBeUndefined()
  })

  test('stop(true): accepted sockets get close synchronously; the peer sees end then close', async () => {
    const log = []
    const { listener, accepted } = listening({}, {
      end: () => log.push('S end'),
      error: (s, err) => log.push(`S error ${err}`),
      close: (s, err) => log.push(`S close ${err} rs=${s.readyState}`),
    })
    const { closed, handlers } = clientLog(log)
    const client = await dial(listener, handlers)
    const server = await accepted()
    expect(listener.stop(true)).toBeUndefined()
    log.push('stop returned')
    expect(server.readyState).toBe(-1)
    await closed()
    expect(log).toEqual(['S close undefined rs=-1', 'stop returned', 'C end', 'C close undefined'])
    expect(client.write('x')).toBe(-1)
    expect(server.write('x')).toBe(-1)
    const err = await refused({ hostname: '127.0.0.1', port: listener.port })
    expect(err).toMatchObject({ code: 'ECONNREFUSED' })
  })

  test('stop(true) after stop() still closes the accepted sockets', async () => {
    const log = []
    const { listener, accepted } = listening()
    const { closed, handlers } = clientLog(log)
    await dial(listener, handlers)
    const server = await accepted()
    listener.stop()
    expect(server.readyState).toBe(1)
    listener.stop(true)
    expect(server.readyState).toBe(-1)
    await closed()
    expect(log).toEqual(['C end', 'C close undefined'])
  })

  test('data is cleared once the listener is fully closed', async () => {
    const idle = listening({ data: { d: 1 } }).listener
    idle.stop()
    expect(idle.data).toBeUndefined()

    // stop() with a live connection: data stays until the last connection is gone.
    const closed = deferred()
    const { listener, accepted } = listening({ data: { d: 2 } }, { close: (s) => closed.resolve(s.listener?.data) })
    const client = await dial(listener)
    const server = await accepted()
    expect(server.data).toEqual({ d: 2 })
    listener.stop()
    expect(listener.data).toEqual({ d: 2 })
    client.end()
    await within(closed.promise, 5000, 'server close')
    await sleep(0)
    expect(listener.data).toBeUndefined()

    const forced = listening({ data: { d: 3 } })
    await dial(forced.listener)
    await forced.accepted()
    forced.listener.stop(true)
    expect(forced.listener.data).toBeUndefined()
  })

  test('a connection closing does not clear data', async () => {
    const { listener, accepted } = listening({ data: { d: 1 } })
    const client = await dial(listener)
    await accepted()
    client.end()
    await sleep(20)
    expect(listener.data).toEqual({ d: 1 })
  })

  test('listener[Symbol.dispose]() stops and closes accepted sockets', async () => {
    const log = []
    const { listener, accepted } = listening({}, { close: (s, err) => log.push(`S close ${err}`) })
    const { closed, handlers } = clientLog(log)
    await dial(listener, handlers)
    await accepted()
    const port = listener.port
    expect(listener[Symbol.dispose]()).toBeUndefined()
    expect(listener.port).toBe(port)
    await closed()
    expect(log).toEqual(['S close undefined', 'C end', 'C close undefined'])
    expect(await refused({ hostname: '127.0.0.1', port })).toMatchObject({ code: 'ECONNREFUSED' })
  })
})

// --- reload -------------------------------------------------------------------------------

test('listener.reload() switches handlers for existing and new connections', async () => {
  const seen = []
  const { listener } = listening({}, { data: (s, chunk) => seen.push(`old ${chunk}`) })
  const first = await dial(listener)
  first.write('one')
  await within((async () => { while (seen.length < 1) await sleep(5) })(), 5000, 'first data')
  expect(listener.reload({ socket: { data: (s, chunk) => seen.push(`new ${chunk}`) } })).toBeUndefined()
  first.write('two')
  await within((async () => { while (seen.length < 2) await sleep(5) })(), 5000, 'second data')
  const second = await dial(listener)
  second.write('three')
  await within((async () => { while (seen.length < 3) await sleep(5) })(), 5000, 'third data')
  expect(seen).toEqual(['old one', 'new two', 'new three'])
})

test("reload() on an accepted socket switches the handlers of all the listener's sockets, later ones included", async () => {
  const seen = []
  const handlers = (name) => ({
    data: (socket, chunk) => seen.push(`${name} ${chunk} ${socket === first ? 'first' : socket === second ? 'second' : 'later'}`),
  })
  const { listener, accepted } = listening({}, handlers('old'))
  const one = await dial(listener)
  const first = await accepted()
  const two = await dial(listener)
  const second = await accepted()
  // Bun keeps one set of handlers per listener: the first accepted socket reloads them all.
  expect(first.reload({ socket: handlers('new') })).toBeUndefined()
  one.write('1')
  await within((async () => { while (seen.length < 1) await sleep(5) })(), 5000, 'data on the first')
  two.write('2')
  await within((async () => { while (seen.length < 2) await sleep(5) })(), 5000, 'data on the second')
  // (Its `open` is the new set's too: none, so it is not among accepted().)
  const three = await dial(listener)
  three.write('3')
  await within((async () => { while (seen.length < 3) await sleep(5) })(), 5000, 'data on a later one')
  expect(seen).toEqual(['new 1 first', 'new 2 second', 'new 3 later'])
})

// --- dual stack -----------------------------------------------------------------------------

;(hasIPv6() ? test : test.skip)("listening on '::' accepts IPv4 and IPv6 clients", async () => {
  const { listener, accepted } = listening({ hostname: '::' })
  expect(listener.hostname).toBe('::')
  const v4 = await dial(listener, {}, '127.0.0.1')
  const s4 = await accepted()
  const v6 = await dial(listener, {}, '::1')
  const s6 = await accepted()
  expect(v4.remotePort).toBe(listener.port)
  expect(v6.remoteAddress).toBe('::1')
  expect(s6.remoteAddress).toBe('::1')
  expect(s4.remotePort).toBe(v4.localPort)
  expect(s6.remotePort).toBe(v6.localPort)
})

;(hasIPv6() ? test : test.skip)("listening on '::1' refuses IPv4, on '127.0.0.1' refuses IPv6", async () => {
  const six = listening({ hostname: '::1' }).listener
  expect(await refused({ hostname: '127.0.0.1', port: six.port })).toMatchObject({ code: 'ECONNREFUSED' })
  const four = listening().listener
  expect(await refused({ hostname: '::1', port: four.port })).toMatchObject({ code: 'ECONNREFUSED' })
})

;(hasIPv6() ? test : test.skip)("ipv6Only: a listener on '::' refuses IPv4 and leaves the IPv4 port free", async () => {
  const six = listening({ hostname: '::', ipv6Only: true }).listener
  await dial(six, {}, '::1')
  expect(await refused({ hostname: '127.0.0.1', port: six.port })).toMatchObject({ code: 'ECONNREFUSED' })
  const four = listening({ hostname: '0.0.0.0', port: six.port }).listener
  expect(four.port).toBe(six.port)
  // Without it, '::' holds the IPv4 port as well.
  const dual = listening({ hostname: '::' }).listener
  expect(() => listen({ hostname: '0.0.0.0', port: dual.port, socket: { data: noop } })).toThrow(
    expect.objectContaining({ code: 'EADDRINUSE' }),
  )
})

// --- sharing a port -------------------------------------------------------------------------

describe('reusePort and exclusive', () => {
  const second = (port, options) => {
    try {
      track(listen({ hostname: '127.0.0.1', port, ...options, socket: { data: noop } }))
      return 'shared'
    } catch (err) {
      return err.code
    }
  }

  test('listeners share a port when each asks with reusePort, and connections reach them', async () => {
    const first = listening({ reusePort: true }).listener
    const other = listening({ port: first.port, reusePort: true }).listener
    expect(other.port).toBe(first.port)
    const client = await dial(first)
    expect(client.remotePort).toBe(first.port)
    // One that did not ask, or asks with exclusive, is refused.
    expect(second(first.port, {})).toBe('EADDRINUSE')
    expect(second(first.port, { reusePort: true, exclusive: true })).toBe('EADDRINUSE')
  })

  test('exclusive wins over reusePort; alone it changes nothing on a port in use', () => {
    const exclusive = listening({ reusePort: true, exclusive: true }).listener
    expect(second(exclusive.port, { reusePort: true })).toBe('EADDRINUSE')
    for (const first of [{}, { exclusive: true }, { exclusive: false }]) {
      const listener = listening(first).listener
      for (const next of [{}, { exclusive: true }, { exclusive: false }]) {
        expect([first, next, second(listener.port, next)]).toEqual([first, next, 'EADDRINUSE'])
      }
    }
  })
})
