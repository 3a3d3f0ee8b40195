'use strict'
// UDP sockets (Bun.udpSocket): properties, sending and receiving, sendMany, connected sockets,
// ICMP errors, drain, handlers, reload, close, ordering, a paced burst and process liveness.
// Runs under Jest (bun → package) and `bun test` (real Bun). Argument validation and socket
// options are in udp-options.test.js.

const { udpSocket } = require('bun')
const { deferred, within, waitFor, sleep, hasIPv6, fixtureRunner, autoClose, thrown, hasErrorQueue, onBun } = require('./helpers')

const V4 = '127.0.0.1'
const V6 = '::1'
const test6 = hasIPv6() ? test : test.skip
/** Errors that only Linux's error queue reports (see helpers.js). */
const testQueue = hasErrorQueue ? test : test.skip

// --- local helpers ------------------------------------------------------------------------

const track = autoClose()

/** A UDP socket bound to loopback on port 0, closed after the test. */
async function open(options = {}) {
  const socket = await within(udpSocket({ hostname: V4, port: 0, ...options }), 2000, 'udpSocket')
  track(socket)
  return socket
}

/**
 * A socket that records every `data` call in `got` (with `this` and the argument count) and
 * every `error` call in `errors`.
 */
async function receiver(options = {}, handlers = {}) {
  const got = []
  const errors = []
  const socket = await open({
    ...options,
    socket: {
      data(...args) {
        got.push({ self: this, nargs: args.length, socket: args[0], data: args[1], port: args[2], address: args[3], flags: args[4] })
      },
      error(err) {
        errors.push({ self: this, nargs: arguments.length, err })
      },
      ...handlers,
    },
  })
  return Object.assign(socket, { got, errors })
}

/** Resolves once `predicate()` holds; fails the test after `ms`. */
const until = (predicate, ms = 3000, what = 'condition') => within(waitFor(predicate, ms, what), ms + 500, what)

/**
 * A UDP port on `host` that nothing listens on: bound with node:dgram and closed again, so that
 * the ICMP tests do not depend on how quickly udpSocket's close() releases its port.
 */
async function deadPort(host = V4) {
  const dgram = require('node:dgram')
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
  await within(new Promise((resolve) => socket.bind(0, host, resolve)), 2000, 'dgram bind')
  const { port } = socket.address()
  await within(new Promise((resolve) => socket.close(resolve)), 2000, 'dgram close')
  return port
}

const text = (data) => Buffer.from(data).toString()
const tag = (value) => Object.prototype.toString.call(value)

// --- creation and properties --------------------------------------------------------------

describe('properties', () => {
  test('udpSocket() returns a promise of a socket bound where asked', async () => {
    const promise = udpSocket({ hostname: V4, port: 0 })
    expect(promise).toBeInstanceOf(Promise)
    const s = await within(promise, 2000, 'udpSocket')
    track(s)
    expect(tag(s)).toBe('[object UDPSocket]')
    expect(s.hostname).toBe(V4)
    expect(typeof s.port).toBe('number')
    expect(s.port).toBeGreaterThan(0)
    expect(s.address).toEqual({ address: V4, family: 'IPv4', port: s.port })
    expect(Object.keys(s.address)).toEqual(['address', 'family', 'port'])
    expect(s.address).toBe(s.address)
    expect(s.remoteAddress).toBeUndefined()
    expect(s.binaryType).toBe('buffer')
    expect(s.closed).toBe(false)
    expect(Number.isInteger(s.fd)).toBe(true)
    expect(s.fd).toBeGreaterThanOrEqual(0)
  })

  test6('an IPv6 socket reports family IPv6', async () => {
    const s = await open({ hostname: V6 })
    expect(s.hostname).toBe(V6)
    expect(s.address).toEqual({ address: V6, family: 'IPv6', port: s.port })
  })

  test('a connected socket reports its remote address', async () => {
    const r = await open()
    const c = await open({ connect: { hostname: V4, port: r.port } })
    expect(c.hostname).toBe(V4)
    expect(c.address).toEqual({ address: V4, family: 'IPv4', port: c.port })
    expect(c.remoteAddress).toEqual({ address: V4, family: 'IPv4', port: r.port })
    expect(c.closed).toBe(false)
  })

  test('binaryType is only read when a socket handler object is given', async () => {
    const s = await open({ binaryType: 'bogus' })
    expect(s.binaryType).toBe('buffer')
  })
})

// --- sending and receiving ----------------------------------------------------------------

describe('send and receive', () => {
  test('data(socket, data, port, address, flags) is called with the socket as this', async () => {
    const r = await receiver()
    const s = await open()
    expect(s.send('hello', r.port, V4)).toBe(true)
    await until(() => r.got.length === 1, 3000, 'datagram')
    const [d] = r.got
    expect(d.nargs).toBe(5)
    expect(d.self).toBe(r)
    expect(d.socket).toBe(r)
    expect(Buffer.isBuffer(d.data)).toBe(true)
    expect(d.data.constructor.name).toBe('Buffer')
    expect(text(d.data)).toBe('hello')
    expect(d.port).toBe(s.port)
    expect(d.address).toBe(V4)
    expect(d.flags).toEqual({ truncated: false, ipv6: false })
    expect(Object.keys(d.flags)).toEqual(['truncated', 'ipv6'])
  })

  test('a received Buffer owns its memory', async () => {
    const r = await receiver()
    const s = await open()
    s.send('hello', r.port, V4)
    await until(() => r.got.length === 1, 3000, 'datagram')
    const { data } = r.got[0]
    expect(data.byteOffset).toBe(0)
    expect(data.buffer.byteLength).toBe(5)
  })

  test6('IPv6 datagrams carry flags.ipv6 true and the ::1 sender address', async () => {
    const r = await receiver({ hostname: V6 })
    const s = await open({ hostname: V6 })
    expect(s.send('six', r.port, V6)).toBe(true)
    await until(() => r.got.length === 1, 3000, 'datagram')
    const [d] = r.got
    expect(text(d.data)).toBe('six')
    expect(d.port).toBe(s.port)
    expect(d.address).toBe(V6)
    expect(d.flags).toEqual({ truncated: false, ipv6: true })
  })

  test('send() accepts strings, Buffers, typed arrays, ArrayBuffers and DataViews, and returns true', async () => {
    const r = await receiver()
    const s = await open()
    const u8 = new Uint8Array([0x78, 0x73, 0x75, 0x62, 0x79])
    const sent = [
      s.send('string', r.port, V4),
      s.send(Buffer.from('buffer'), r.port, V4),
      s.send(new TextEncoder().encode('uint8array'), r.port, V4),
      s.send(new TextEncoder().encode('arraybuffer').buffer, r.port, V4),
      s.send(new DataView(new TextEncoder().encode('xdvx').buffer, 1, 2), r.port, V4),
      s.send(u8.subarray(1, 4), r.port, V4),
      s.send(new Uint16Array([0x6968]), r.port, V4),
      s.send('é€', r.port, V4),
    ]
    expect(sent).toEqual([true, true, true, true, true, true, true, true])
    await until(() => r.got.length === 8, 3000, 'datagrams')
    expect(r.got.map((d) => text(d.data))).toEqual(['string', 'buffer', 'uint8array', 'arraybuffer', 'dv', 'sub', 'hi', 'é€'])
    expect(r.got[7].data.length).toBe(5)
  })

  test('empty datagrams are sent and delivered', async () => {
    const r = await receiver()
    const s = await open()
    expect(s.send('', r.port, V4)).toBe(true)
    expect(s.send(Buffer.alloc(0), r.port, V4)).toBe(true)
    expect(s.sendMany(['', r.port, V4])).toBe(1)
    s.send('end', r.port, V4)
    await until(() => r.got.length === 4, 3000, 'datagrams')
    expect(r.got.map((d) => d.data.length)).toEqual([0, 0, 0, 3])
  })

  test('a 65,507-byte datagram arrives intact on IPv4; 65,508 bytes throws EMSGSIZE', async () => {
    const r = await receiver()
    const s = await receiver()
    const big = Buffer.alloc(65507)
    for (let i = 0; i < big.length; i++) big[i] = i % 251
    expect(s.send(big, r.port, V4)).toBe(true)
    await until(() => r.got.length === 1, 3000, 'large datagram')
    expect(r.got[0].data.length).toBe(65507)
    expect(Buffer.compare(r.got[0].data, big)).toBe(0)
    expect(r.got[0].flags).toEqual({ truncated: false, ipv6: false })

    const err = thrown(() => s.send(Buffer.alloc(65508), r.port, V4))
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ code: 'EMSGSIZE', syscall: 'send', errno: -90 })
    expect(err.message).toBe('EMSGSIZE: message too long, send')
    if (hasErrorQueue) {
      // The kernel also queues the failure on the socket's error queue; Bun reports it too.
      await until(() => s.errors.length === 1, 3000, 'async EMSGSIZE')
      expect(s.errors[0].err).toMatchObject({ code: 'EMSGSIZE', syscall: 'recv' })
    }
    expect(r.got.length).toBe(1)
  })

  test6('a 65,527-byte datagram arrives intact on IPv6; 65,528 bytes throws EMSGSIZE', async () => {
    const r = await receiver({ hostname: V6 })
    const s = await receiver({ hostname: V6 })
    const big = Buffer.alloc(65527, 0x36)
    expect(s.send(big, r.port, V6)).toBe(true)
    await until(() => r.got.length === 1, 3000, 'large datagram')
    expect(Buffer.compare(r.got[0].data, big)).toBe(0)
    expect(r.got[0].flags).toEqual({ truncated: false, ipv6: true })
    const err = thrown(() => s.send(Buffer.alloc(65528), r.port, V6))
    expect(err).toMatchObject({ code: 'EMSGSIZE', syscall: 'send' })
    if (hasErrorQueue) await until(() => s.errors.length === 1, 3000, 'async EMSGSIZE')
  })

  test('sending to an IPv6 address from an IPv4 socket throws EAFNOSUPPORT', async () => {
    const s = await receiver()
    const err = thrown(() => s.send('x', 9, V6))
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ code: 'EAFNOSUPPORT', syscall: 'send', errno: -97 })
    expect(err.message).toBe('EAFNOSUPPORT: address family not supported, send')
  })

  test('100 datagrams sent in a loop arrive in order', async () => {
    const r = await receiver()
    const s = await open()
    for (let i = 0; i < 100; i++) expect(s.send(String(i), r.port, V4)).toBe(true)
    await until(() => r.got.length === 100, 5000, '100 datagrams')
    expect(r.got.map((d) => Number(text(d.data)))).toEqual(Array.from({ length: 100 }, (_, i) => i))
  })
})

// --- binaryType ---------------------------------------------------------------------------

describe('binaryType', () => {
  const cases = [
    ['buffer', 'buffer', 'Buffer'],
    ['arraybuffer', 'arraybuffer', 'ArrayBuffer'],
    ['uint8array', 'uint8array', 'Uint8Array'],
    ['Float32Array', 'float32array', 'Float32Array'],
    ['uint16array', 'uint16array', 'Uint16Array'],
  ]
  test.each(cases)('binaryType %s delivers %s data', async (option, getter, ctor) => {
    const r = await receiver({ binaryType: option })
    const s = await open()
    s.send('abcdefgh', r.port, V4)
    await until(() => r.got.length === 1, 3000, 'datagram')
    const { data } = r.got[0]
    expect(data.constructor.name).toBe(ctor)
    if (ctor === 'ArrayBuffer') expect(tag(data)).toBe('[object ArrayBuffer]')
    expect(data.byteLength).toBe(8)
    expect(text(ctor === 'ArrayBuffer' ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength))).toBe('abcdefgh')
    if (ctor === 'Float32Array') expect(data.length).toBe(2)
    if (ctor === 'Uint16Array') expect(data.length).toBe(4)
    expect(r.binaryType).toBe(getter)
  })

  test('a typed-array binaryType drops a trailing partial element', async () => {
    const r = await receiver({ binaryType: 'float32array' })
    const s = await open()
    s.send('abc', r.port, V4)
    await until(() => r.got.length === 1, 3000, 'datagram')
    expect(r.got[0].data.constructor.name).toBe('Float32Array')
    expect(r.got[0].data.length).toBe(0)
  })
})

// --- sendMany -----------------------------------------------------------------------------

describe('sendMany', () => {
  test('an unconnected socket sends flat [data, port, address] triples and returns the count', async () => {
    const r = await receiver()
    const s = await open()
    const ab = new TextEncoder().encode('a3').buffer
    expect(s.sendMany(['a1', r.port, V4, Buffer.from('a2'), r.port, V4, ab, String(r.port), V4])).toBe(3)
    expect(s.sendMany([])).toBe(0)
    await until(() => r.got.length === 3, 3000, 'datagrams')
    expect(r.got.map((d) => text(d.data))).toEqual(['a1', 'a2', 'a3'])
    expect(r.got.every((d) => d.port === s.port && d.address === V4)).toBe(true)
  })

  test('a connected socket sends a list of payloads', async () => {
    const r = await receiver()
    const c = await open({ connect: { hostname: V4, port: r.port } })
    expect(c.sendMany(['c1', Buffer.from('c2')])).toBe(2)
    expect(c.sendMany(['c3', 'c4', 'c5'])).toBe(3)
    expect(c.sendMany([])).toBe(0)
    await until(() => r.got.length === 5, 3000, 'datagrams')
    expect(r.got.map((d) => text(d.data))).toEqual(['c1', 'c2', 'c3', 'c4', 'c5'])
  })

  test('a kernel error after the first packet stops the batch and returns the count sent', async () => {
    const r = await receiver()
    const s = await open({ socket: { error() {} } })
    expect(s.sendMany(['j1', r.port, V4, 'j2', r.port, V6, 'j3', r.port, V4])).toBe(1)
    s.send('end', r.port, V4)
    await until(() => r.got.length === 2, 3000, 'datagrams')
    expect(r.got.map((d) => text(d.data))).toEqual(['j1', 'end'])
  })

  test('a kernel error on the first packet throws', async () => {
    const s = await open({ socket: { error() {} } })
    const err = thrown(() => s.sendMany(['k1', 9, V6, 'k2', 9, V4]))
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ code: 'EAFNOSUPPORT', syscall: 'send', errno: -97 })
  })
})

// --- connected sockets --------------------------------------------------------------------

describe('connected sockets', () => {
  test('send(data) reaches the peer and replies come back', async () => {
    const r = await receiver()
    const c = await receiver({ connect: { hostname: V4, port: r.port } })
    expect(c.send('hello')).toBe(true)
    await until(() => r.got.length === 1, 3000, 'datagram at peer')
    expect(text(r.got[0].data)).toBe('hello')
    expect(r.got[0].port).toBe(c.port)
    expect(r.send('reply', r.got[0].port, r.got[0].address)).toBe(true)
    await until(() => c.got.length === 1, 3000, 'reply')
    expect(text(c.got[0].data)).toBe('reply')
    expect(c.got[0].port).toBe(r.port)
    expect(c.got[0].address).toBe(V4)
    expect(c.got[0].flags).toEqual({ truncated: false, ipv6: false })
  })

  test6('an IPv6 connected socket works', async () => {
    const r = await receiver({ hostname: V6 })
    const c = await open({ hostname: V6, connect: { hostname: V6, port: r.port } })
    expect(c.remoteAddress).toEqual({ address: V6, family: 'IPv6', port: r.port })
    expect(c.send('v6')).toBe(true)
    await until(() => r.got.length === 1, 3000, 'datagram')
    expect(text(r.got[0].data)).toBe('v6')
    expect(r.got[0].flags).toEqual({ truncated: false, ipv6: true })
  })
})

// --- ICMP errors ----------------------------------------------------------------------------

describe('ICMP port unreachable', () => {
  async function expectRefused(s) {
    await until(() => s.errors.length >= 1, 3000, 'error handler')
    const { self, nargs, err } = s.errors[0]
    expect(nargs).toBe(1)
    expect(self).toBe(s)
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ code: 'ECONNREFUSED', syscall: 'recv', errno: -111, errqueue: true })
    expect(err.message).toBe('ECONNREFUSED: connection refused, recv')
    expect(Object.keys(err)).toEqual(['code', 'syscall', 'errno', 'errqueue'])
    expect(s.closed).toBe(false)
  }

  test('a connected socket gets error(err) with ECONNREFUSED from recv', async () => {
    const port = await deadPort()
    const c = await receiver({ connect: { hostname: V4, port } })
    expect(c.send('anyone?')).toBe(true)
    await expectRefused(c)
  })

  testQueue('an unconnected socket gets error(err) with ECONNREFUSED from recv', async () => {
    const port = await deadPort()
    const s = await receiver()
    expect(s.send('anyone?', port, V4)).toBe(true)
    await expectRefused(s)
  })

  test6('an IPv6 connected socket gets ECONNREFUSED too', async () => {
    const port = await deadPort(V6)
    const c = await receiver({ hostname: V6, connect: { hostname: V6, port } })
    expect(c.send('anyone?')).toBe(true)
    await expectRefused(c)
  })

  testQueue('the socket keeps working after the error', async () => {
    const port = await deadPort()
    const r = await receiver()
    const s = await receiver()
    s.send('anyone?', port, V4)
    await until(() => s.errors.length >= 1, 3000, 'error handler')
    expect(s.send('still here', r.port, V4)).toBe(true)
    await until(() => r.got.length === 1, 3000, 'datagram')
    expect(text(r.got[0].data)).toBe('still here')
  })
})

// --- drain, handlers, reload --------------------------------------------------------------

describe('handlers', () => {
  test('drain(socket) fires once after creation and not after ordinary sends', async () => {
    const r = await receiver()
    const calls = []
    const s = await open({
      socket: {
        drain(...args) {
          calls.push({ self: this, args })
        },
      },
    })
    await until(() => calls.length === 1, 3000, 'drain')
    expect(calls[0].self).toBe(s)
    expect(calls[0].args).toEqual([s])
    expect(calls[0].args[0]).toBe(s)
    for (let i = 0; i < 10; i++) s.send('x', r.port, V4)
    await until(() => r.got.length === 10, 3000, 'datagrams')
    await sleep(100)
    expect(calls.length).toBe(1)
  })

  test('a partial sendMany is followed by drain', async () => {
    const r = await receiver()
    let drains = 0
    const s = await open({
      socket: {
        drain() {
          drains++
        },
        error() {},
      },
    })
    await until(() => drains === 1, 3000, 'first drain')
    expect(s.sendMany(['a', r.port, V4, 'b', r.port, V6])).toBe(1)
    await until(() => drains === 2, 3000, 'second drain')
  })

  test('a throwing data handler reports the thrown value to error(err)', async () => {
    const r = await receiver({}, {
      data(_socket, data) {
        const what = text(data)
        if (what === 'str') throw 'a string'
        if (what === 'ok') return
        throw new TypeError(`boom-${what}`)
      },
    })
    const s = await open()
    s.send('a', r.port, V4)
    s.send('b', r.port, V4)
    s.send('str', r.port, V4)
    await until(() => r.errors.length === 3, 3000, 'errors')
    const [a, b, str] = r.errors
    expect(a.nargs).toBe(1)
    expect(a.self).toBe(r)
    expect(a.err).toBeInstanceOf(TypeError)
    expect(a.err.message).toBe('boom-a')
    expect(b.err.message).toBe('boom-b')
    expect(str.err).toBe('a string')
    expect(r.closed).toBe(false)
  })

  test('a throwing drain handler reports to error(err)', async () => {
    const errors = []
    const s = await open({
      socket: {
        drain() {
          throw new Error('drain-boom')
        },
        error(err) {
          errors.push({ self: this, err })
        },
      },
    })
    await until(() => errors.length === 1, 3000, 'error')
    expect(errors[0].self).toBe(s)
    expect(errors[0].err.message).toBe('drain-boom')
  })

  test('reload({ socket }) switches the data handler and keeps the others', async () => {
    const r = await receiver()
    const s = await open()
    const second = []
    s.send('one', r.port, V4)
    await until(() => r.got.length === 1, 3000, 'first datagram')
    expect(r.reload({ socket: { data: (_s, data) => second.push(text(data)) } })).toBeUndefined()
    s.send('two', r.port, V4)
    await until(() => second.length === 1, 3000, 'datagram to new handler')
    expect(second).toEqual(['two'])
    expect(r.got.length).toBe(1)
    // The error handler was not named in reload(), so it is still the original one.
    if (!hasErrorQueue) return
    const port = await deadPort()
    r.send('x', port, V4)
    await until(() => r.errors.length === 1, 3000, 'error to kept handler')
  })

  test('reload() resets binaryType unless it is given again', async () => {
    const got = []
    const r = await open({ binaryType: 'arraybuffer', socket: { data: (_s, data) => got.push(data) } })
    const s = await open()
    s.send('a', r.port, V4)
    await until(() => got.length === 1, 3000, 'first')
    expect(tag(got[0])).toBe('[object ArrayBuffer]')
    r.reload({ socket: { data: (_s, data) => got.push(data) } })
    s.send('b', r.port, V4)
    await until(() => got.length === 2, 3000, 'second')
    expect(Buffer.isBuffer(got[1])).toBe(true)
    r.reload({ binaryType: 'uint8array', socket: {} })
    s.send('c', r.port, V4)
    await until(() => got.length === 3, 3000, 'third')
    expect(got[2].constructor.name).toBe('Uint8Array')
  })
})

// --- close, ref, dispose --------------------------------------------------------------------

describe('close', () => {
  test('close() marks the socket closed and later sends throw "Socket is closed"', async () => {
    const r = await receiver()
    const s = await open()
    expect(s.close()).toBeUndefined()
    expect(s.closed).toBe(true)
    expect(s.fd).toBe(-1)
    expect(s.close()).toBeUndefined()
    for (const fn of [() => s.send('x', r.port, V4), () => s.send(), () => s.sendMany(['x', r.port, V4]), () => s.sendMany(5)]) {
      const err = thrown(fn)
      expect(err).toBeInstanceOf(Error)
      expect(err.message).toBe('Socket is closed')
      expect(err.code).toBeUndefined()
    }
    expect(s.ref()).toBeUndefined()
    expect(s.unref()).toBeUndefined()
    expect(s.reload({ socket: {} })).toBeUndefined()
  })

  test('option setters on a closed socket throw EBADF', async () => {
    const s = await open()
    s.close()
    const calls = [
      () => s.setBroadcast(true),
      () => s.setTTL(64),
      () => s.setMulticastTTL(2),
      () => s.setMulticastLoopback(true),
      () => s.setMulticastInterface(V4),
      () => s.addMembership('239.255.0.1'),
      () => s.dropMembership('239.255.0.1'),
      () => s.addSourceSpecificMembership(V4, '232.1.1.1'),
      () => s.dropSourceSpecificMembership(V4, '232.1.1.1'),
      () => s.setTTL(),
    ]
    for (const call of calls) {
      const err = thrown(call)
      expect(err).toBeInstanceOf(Error)
      expect(err).toMatchObject({ code: 'EBADF', errno: -9, syscall: 'setsockopt' })
      expect(err.message).toBe('EBADF: bad file descriptor, setsockopt')
    }
  })

  test('port and address keep the value they had when first read', async () => {
    const a = await open()
    const port = a.port
    a.close()
    expect(a.port).toBe(port)
    expect(a.address).toBeUndefined()
    expect(a.hostname).toBe(V4)
    const b = await open()
    const address = b.address
    b.close()
    expect(b.address).toBe(address)
    expect(b.port).toBeUndefined()
  })

  test('close() releases the port at once: it can be bound again', async () => {
    for (let i = 0; i < 20; i++) {
      const a = await receiver()
      const port = a.port
      a.close()
      const b = await open({ port })
      expect(b.port).toBe(port)
      b.close()
    }
  })

  test('a closed socket no longer receives', async () => {
    const r = await receiver()
    const s = await receiver()
    const port = r.port
    r.close()
    s.send('late', port, V4)
    await sleep(100)
    expect(r.got.length).toBe(0)
  })

  test('ref() and unref() return undefined', async () => {
    const s = await open()
    expect(s.unref()).toBeUndefined()
    expect(s.ref()).toBeUndefined()
  })

  test('Symbol.dispose closes the socket', async () => {
    const s = await open()
    expect(typeof s[Symbol.dispose]).toBe('function')
    expect(s[Symbol.dispose]).not.toBe(s.close)
    expect(s[Symbol.dispose]()).toBeUndefined()
    expect(s.closed).toBe(true)
  })
})

// --- a paced burst --------------------------------------------------------------------------

test('10,000 datagrams sent with sendMany in paced batches of 64 all arrive, each once', async () => {
  const N = 10000
  const BATCH = 64
  const seen = new Uint8Array(N)
  let count = 0
  let duplicates = 0
  const r = await open({
    socket: {
      data(_s, data) {
        const seq = data.readUInt32BE(0)
        if (seen[seq]++) duplicates++
        else count++
      },
      error() {},
    },
  })
  let drained = deferred()
  const s = await open({
    socket: {
      drain: () => drained.resolve(),
      error() {},
    },
  })
  await within(drained.promise, 3000, 'initial drain')
  for (let start = 0; start < N; start += BATCH) {
    const packets = []
    for (let seq = start; seq < Math.min(start + BATCH, N); seq++) {
      const payload = Buffer.alloc(64, seq & 0xff)
      payload.writeUInt32BE(seq, 0)
      packets.push(payload, r.port, V4)
    }
    let done = 0
    while (done < packets.length) {
      drained = deferred()
      done += s.sendMany(packets.slice(done)) * 3
      if (done < packets.length) await within(drained.promise, 3000, 'drain after a short sendMany')
    }
    await new Promise(setImmediate)
  }
  await within(waitFor(() => count === N, 5000).catch(() => {}), 6000, `all ${N} datagrams`)
  expect(count).toBe(N)
  expect(duplicates).toBe(0)
  expect(seen.every((n) => n === 1)).toBe(true)
})

// --- process liveness ------------------------------------------------------------------------

describe('process liveness', () => {
  const { run, expectAliveAfter } = fixtureRunner()

  test('an open UDP socket keeps the process alive', async () => {
    const proc = run('udp-ref.js')
    await proc.line('bound')
    await expectAliveAfter(proc, 1500)
  })

  test('unref() then ref() keeps the process alive', async () => {
    const proc = run('udp-ref.js', ['unref-ref'])
    await proc.line('bound')
    await expectAliveAfter(proc, 1500)
  })

  test('an unref()ed UDP socket lets the process exit by itself', async () => {
    const result = await within(run('udp-unref.js').exited, 10000, 'child exit')
    expect(result.stderr).toBe('')
    expect(result.stdout).toMatch(/^bound \d+\n$/)
    expect(result.code).toBe(0)
    expect(result.ms).toBeLessThan(3000)
  })

  test('close() lets the process exit by itself', async () => {
    const result = await within(run('udp-close.js').exited, 10000, 'child exit')
    expect(result.stderr).toBe('')
    expect(result.stdout).toBe('got ping\n')
    expect(result.code).toBe(0)
    expect(result.ms).toBeLessThan(3000)
  })
})

// --- a hostname that resolves slowly ----------------------------------------------------------

// Each run is a child process in a user, mount and network namespace of its own: resolv.conf is
// empty there (glibc then asks 127.0.0.1:53), and fixtures/slow-dns.js answers on 127.0.0.1:53
// after a delay, or never. RES_OPTIONS bounds glibc's wait.
const { spawn, spawnSync } = require('node:child_process')
const NAMESPACE = ['-rmn', 'sh', '-c', 'mount --bind /dev/null /etc/resolv.conf && ip link set lo up && exec "$@"', 'sh']
const canUnshare = process.platform === 'linux' && spawnSync('unshare', [...NAMESPACE, 'true']).status === 0
const testNs = canUnshare ? test : test.skip
const NS = canUnshare ? '' : ' (skipped: needs `unshare -rmn`, mount and `ip`)'

/** Runs fixtures/udp-slow-name.js in its namespace; resolves with its JSON line. */
async function slowName(delay, mode) {
  const child = spawn('unshare', [...NAMESPACE, process.execPath, require('node:path').join(__dirname, 'fixtures', 'udp-slow-name.js'), String(delay), mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RES_OPTIONS: 'timeout:2 attempts:1' },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const code = await within(new Promise((resolve) => child.on('close', resolve)), 10000, 'udp-slow-name.js').finally(() => child.kill('SIGKILL'))
  expect(stderr).toBe('')
  expect(code).toBe(0)
  return JSON.parse(stdout)
}

describe(`udpSocket() with a hostname that resolves slowly${NS}`, () => {
  testNs('timers keep firing while the name resolves; the promise resolves with the address', async () => {
    const result = await slowName(800, 'bind')
    expect(result.address).toBe(V4)
    expect(result.ms).toBeGreaterThanOrEqual(700)
    if (onBun) {
      // Bun 1.4.4 resolves on the JS thread: the call itself takes the 800 ms, no timer runs.
      expect(result.callMs).toBeGreaterThanOrEqual(700)
      expect(result.ticks).toBe(0)
    } else {
      expect(result.callMs).toBeLessThan(100)
      expect(result.ticks).toBeGreaterThanOrEqual(20)
      // The call's async resource exists while it resolves (what --detectOpenHandles shows).
      expect(result.pendingResources).toBe(1)
    }
  })

  testNs('connect.hostname resolves off the JS thread too', async () => {
    const result = await slowName(800, 'connect')
    expect([result.address, result.remote]).toEqual([V4, V4])
    if (onBun) expect(result.ticks).toBe(0) // Bun blocks, as above
    else expect(result.ticks).toBeGreaterThanOrEqual(20)
  })

  testNs('a name never answered rejects with getaddrinfo\'s error once the resolver gives up', async () => {
    const result = await slowName('never', 'bind')
    expect(result.ms).toBeGreaterThanOrEqual(1500)
    if (onBun) {
      // Bun blocks for the resolver's 2 s, then throws its own description of EAI_AGAIN.
      expect(result.ticks).toBe(0)
      expect(result.error).toEqual({ code: 'ESRCH', syscall: 'bind', message: 'bind ESRCH slow.test' })
    } else {
      expect(result.ticks).toBeGreaterThanOrEqual(40)
      expect(result.error).toEqual({ code: 'ENOTFOUND', syscall: 'getaddrinfo', message: 'getaddrinfo ENOTFOUND slow.test' })
    }
  })

  testNs('the pending socket alone keeps the process alive until the promise settles', async () => {
    const result = await slowName(800, 'quiet')
    expect(result.address).toBe(V4)
    expect(result.ms).toBeGreaterThanOrEqual(700)
  })

  testNs('a Worker terminated while its name resolves leaves no socket open', async () => {
    const result = await slowName(800, 'worker')
    expect(result.terminated).toBe(true)
    expect(result.after).toBe(result.before)
  })
})

// The package's own native half (not Bun's API): it takes what lib/udp.js builds, and a direct
// call that does not hold together is refused with EINVAL, never a panic. Bun has no such half.
;(onBun ? test.skip : test)('the native sendMany and send refuse inconsistent arguments with EINVAL', () => {
  const native = require('../lib/native').udpSocket({ hostname: V4, port: 0 })
  try {
    const port = native.address().port
    const two = Buffer.alloc(2)
    // Fewer ports and address indices than datagrams; an index past the addresses.
    expect(native.sendMany(two, new Uint32Array([1, 1]), new Uint32Array([port]), new Uint32Array([0]), [V4])).toMatchObject({ code: 'EINVAL' })
    expect(native.sendMany(two, new Uint32Array([1, 1]), new Uint32Array([port, port]), new Uint32Array([0, 1]), [V4])).toMatchObject({ code: 'EINVAL' })
    // Lengths that do not add up to the bytes; a port past 65535; no IP literal.
    expect(native.sendMany(two, new Uint32Array([1, 5]), undefined, undefined, undefined)).toMatchObject({ code: 'EINVAL' })
    expect(native.send(two, 65536 + port, V4)).toMatchObject({ code: 'EINVAL' })
    expect(native.send(two, port, 'localhost')).toMatchObject({ code: 'EINVAL' })
    expect(native.sendMany(two, new Uint32Array([1, 1]), new Uint32Array([port, port]), new Uint32Array([0, 0]), [V4])).toBe(2)
  } finally {
    native.close()
  }
})
