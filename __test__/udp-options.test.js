'use strict'
// UDP argument checking and socket options: Bun.udpSocket option validation and bind/connect
// failures, send()/sendMany()/reload() validation, and the setBroadcast/setTTL/multicast
// setters. Runs under Jest (bun → package) and `bun test` (real Bun).

const { udpSocket } = require('bun')
const { within, waitFor, sleep, hasIPv6, autoClose, thrown } = require('./helpers')

const V4 = '127.0.0.1'
const V6 = '::1'
const test6 = hasIPv6() ? test : test.skip

// --- local helpers ------------------------------------------------------------------------

const track = autoClose()

/** A UDP socket bound to loopback on port 0, closed after the test. */
async function open(options = {}) {
  const socket = await within(udpSocket({ hostname: V4, port: 0, ...options }), 2000, 'udpSocket')
  track(socket)
  return socket
}

/** A socket that records the datagrams it receives; errors are swallowed. */
async function receiver(options = {}) {
  const got = []
  const socket = await open({
    ...options,
    socket: {
      data(_socket, data) {
        got.push(Buffer.from(data).toString())
      },
      error() {},
    },
  })
  return Object.assign(socket, { got })
}

const until = (predicate, ms = 3000, what = 'condition') => within(waitFor(predicate, ms, what), ms + 500, what)

/** Asserts that `fn` throws synchronously a TypeError with code ERR_INVALID_ARG_TYPE and `message`. */
function expectArgError(fn, message) {
  const err = thrown(fn)
  expect(err).toBeInstanceOf(TypeError)
  expect(err.code).toBe('ERR_INVALID_ARG_TYPE')
  expect(err.message).toBe(message)
  expect(Object.keys(err)).toEqual([])
}

/** Asserts that `fn` throws synchronously an OS Error with these fields. */
function expectOsError(fn, code, errno, syscall, message) {
  const err = thrown(fn)
  expect(err).toBeInstanceOf(Error)
  expect(err).not.toBeInstanceOf(TypeError)
  expect(err).toMatchObject({ code, errno, syscall })
  expect(err.message).toBe(message)
  return err
}

const EINVAL = ['EINVAL', -22, 'setsockopt', 'EINVAL: invalid argument, setsockopt']
const EADDRINUSE = ['EADDRINUSE', -98, 'setsockopt', 'EADDRINUSE: address already in use, setsockopt']
const EADDRNOTAVAIL = ['EADDRNOTAVAIL', -99, 'setsockopt', 'EADDRNOTAVAIL: address not available, setsockopt']

// --- udpSocket options --------------------------------------------------------------------

describe('udpSocket option validation', () => {
  const PORT_MSG = 'Expected "port" to be an integer between 0 and 65535'
  const CPORT_MSG = 'Expected "connect.port" to be an integer between 1 and 65535'
  const cases = [
    ['no options', undefined, 'Expected an object'],
    ['null', null, 'Expected an object'],
    ['a number', 5, 'Expected an object'],
    ['port -1', { port: -1 }, PORT_MSG],
    ['port 65536', { port: 65536 }, PORT_MSG],
    ['port 1.5', { port: 1.5 }, PORT_MSG],
    ['port "abc"', { port: 'abc' }, PORT_MSG],
    ['hostname 123', { hostname: 123 }, 'Expected "hostname" to be a string'],
    ['socket 5', { socket: 5 }, 'Expected "socket" to be an object'],
    ['socket.data 5', { socket: { data: 5 } }, 'Expected "socket.data" to be a function'],
    ['socket.drain "x"', { socket: { drain: 'x' } }, 'Expected "socket.drain" to be a function'],
    ['socket.error {}', { socket: { error: {} } }, 'Expected "socket.error" to be a function'],
    ['binaryType "bogus"', { binaryType: 'bogus', socket: {} }, `Expected "socket.binaryType" to be 'arraybuffer', 'uint8array', or 'buffer'`],
    ['binaryType "dataview"', { binaryType: 'dataview', socket: {} }, `Expected "socket.binaryType" to be 'arraybuffer', 'uint8array', or 'buffer'`],
    ['binaryType 5', { binaryType: 5, socket: {} }, 'Expected "socket.binaryType" to be a string'],
    ['connect 5', { connect: 5 }, 'Expected "connect" to be an object'],
    ['connect without hostname', { connect: { port: 9 } }, 'Expected "connect.hostname" to be a string'],
    ['connect hostname ""', { connect: { hostname: '', port: 9 } }, 'Expected "connect.hostname" to be a string'],
    ['connect without port', { connect: { hostname: V4 } }, 'Expected "connect.port" to be an integer'],
    ['connect port 0', { connect: { hostname: V4, port: 0 } }, CPORT_MSG],
    ['connect port 65536', { connect: { hostname: V4, port: 65536 } }, CPORT_MSG],
    ['flags "x"', { flags: 'x' }, 'The "flags" property must be of type number, got string'],
    ['port before connect', { connect: 5, port: -1 }, PORT_MSG],
    ['hostname before socket', { hostname: 5, socket: 5 }, 'Expected "hostname" to be a string'],
    ['binaryType before handlers', { binaryType: 'bogus', socket: { data: 5 } }, `Expected "socket.binaryType" to be 'arraybuffer', 'uint8array', or 'buffer'`],
  ]
  test.each(cases)('%s throws synchronously', (_label, options, message) => {
    const args = options === undefined ? [] : [{ hostname: V4, ...options }]
    if (options === null || typeof options !== 'object') args[0] = options
    expectArgError(() => udpSocket(...args), message)
  })

  test('accepted binaryType spellings', async () => {
    for (const [option, getter] of [
      ['Buffer', 'buffer'],
      ['nodebuffer', 'buffer'],
      ['ArrayBuffer', 'arraybuffer'],
      ['Uint8Array', 'uint8array'],
      ['Int8Array', 'int8array'],
      ['float64array', 'float64array'],
      [undefined, 'buffer'],
    ]) {
      const s = await open({ binaryType: option, socket: {} })
      expect(s.binaryType).toBe(getter)
    }
  })

  test('binding a port that is in use throws EADDRINUSE synchronously', async () => {
    const a = await open()
    const err = thrown(() => udpSocket({ hostname: V4, port: a.port }))
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ code: 'EADDRINUSE', errno: 98, syscall: 'bind', address: V4 })
    expect(err.message).toBe(`bind EADDRINUSE ${V4}`)
  })

  test('binding an address that is not local throws EADDRNOTAVAIL synchronously', () => {
    const err = thrown(() => udpSocket({ hostname: '1.2.3.4', port: 0 }))
    expect(err).toMatchObject({ code: 'EADDRNOTAVAIL', errno: 99, syscall: 'bind', address: '1.2.3.4' })
    expect(err.message).toBe('bind EADDRNOTAVAIL 1.2.3.4')
  })

  test('connecting an IPv4 socket to an IPv6 address throws EAFNOSUPPORT synchronously', () => {
    const err = thrown(() => udpSocket({ hostname: V4, port: 0, connect: { hostname: V6, port: 9 } }))
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ code: 'EAFNOSUPPORT', errno: -97, syscall: 'connect' })
    expect(err.message).toBe('EAFNOSUPPORT: address family not supported, connect')
  })
})

// --- send validation ----------------------------------------------------------------------

describe('send() validation', () => {
  const PORT_MSG = 'Expected "port" to be an integer between 1 and 65535'
  const DATA_MSG = 'Expected ArrayBufferView or string as first argument'

  test('an unconnected socket needs exactly three arguments', async () => {
    const s = await open()
    expectArgError(() => s.send(), 'Expected 3 arguments, got 0')
    expectArgError(() => s.send('x'), 'Expected 3 arguments, got 1')
    expectArgError(() => s.send('x', 9), 'Expected 3 arguments, got 2')
  })

  test('a connected socket takes the data alone', async () => {
    const r = await open()
    const c = await open({ connect: { hostname: V4, port: r.port } })
    expectArgError(() => c.send(), 'Expected 1 argument, got 0')
    expectArgError(() => c.send('x', null), 'Expected 1 argument, got 2')
    expectArgError(() => c.send('x', r.port, V4), 'Cannot specify destination on connected socket')
    expectArgError(() => c.send('x', undefined, undefined), 'Cannot specify destination on connected socket')
  })

  test('the port must be an integer between 1 and 65535', async () => {
    const r = await receiver()
    const s = await open()
    for (const port of [-1, 0, 65536, 1.5, 'abc', NaN, Infinity, null, undefined]) {
      expectArgError(() => s.send('x', port, V4), PORT_MSG)
    }
    expect(s.send('numeric string', String(r.port), V4)).toBe(true)
    await until(() => r.got.length === 1, 3000, 'datagram')
    expect(r.got).toEqual(['numeric string'])
  })

  test('the address must be an IP address', async () => {
    const r = await receiver()
    const s = await open()
    for (const address of ['localhost', '', ' 127.0.0.1', '[127.0.0.1]', '127.0.0.1:80', null, undefined]) {
      expectArgError(() => s.send('x', r.port, address), 'Invalid address')
    }
    expect(s.send('short form', r.port, '127.1')).toBe(true)
    await until(() => r.got.length === 1, 3000, 'datagram')
    expect(r.got).toEqual(['short form'])
  })

  test('a number as address is handed to the kernel, which refuses it', async () => {
    const s = await open()
    expectOsError(() => s.send('x', 9, 127), 'EINVAL', -22, 'send', 'EINVAL: invalid argument, send')
  })

  test('the data must be a string, a buffer source or a view', async () => {
    const s = await open()
    for (const data of [5, {}, null, undefined, true, [1, 2]]) {
      expectArgError(() => s.send(data, 9, V4), DATA_MSG)
    }
  })

  test('port is checked before address, address before data', async () => {
    const s = await open()
    expectArgError(() => s.send(5, -1, 'zzz'), PORT_MSG)
    expectArgError(() => s.send(5, 1, 'zzz'), 'Invalid address')
    expectArgError(() => s.send(5, 1, V4), DATA_MSG)
  })
})

// --- sendMany validation --------------------------------------------------------------------

describe('sendMany() validation', () => {
  const PAYLOAD_MSG = 'Expected ArrayBufferView or string as payload'
  const PORT_MSG = 'Expected "port" to be an integer between 1 and 65535'

  test('bad arrays throw and send nothing', async () => {
    const r = await receiver()
    const s = await open()
    const P = r.port
    const bad = [
      [['b1', P, V4, 'b2'], 'Expected 3 arguments for each packet'],
      [['c1', P], 'Expected 3 arguments for each packet'],
      [[5, P, V4], PAYLOAD_MSG],
      [['e1', P, V4, 5, P, V4], PAYLOAD_MSG],
      [[null, P, V4], PAYLOAD_MSG],
      [['p1', P, V4, 'p2', 0, V4], PORT_MSG],
      [['p3', 65536, V4], PORT_MSG],
      [['p4', 'abc', V4], PORT_MSG],
      [['a1', P, 'localhost'], 'Invalid address'],
      [['a2', P, V4, 'a3', P, 'zzz'], 'Invalid address'],
    ]
    for (const [packets, message] of bad) expectArgError(() => s.sendMany(packets), message)
    s.send('sentinel', P, V4)
    await until(() => r.got.length === 1, 3000, 'sentinel')
    await sleep(50)
    expect(r.got).toEqual(['sentinel'])
  })

  test('a number as address is refused by the kernel', async () => {
    const s = await open()
    expectOsError(() => s.sendMany(['x', 9, 127]), 'EINVAL', -22, 'send', 'EINVAL: invalid argument, send')
  })

  test('the argument must be an array', async () => {
    const s = await open()
    expectArgError(() => s.sendMany(), 'Expected 1 argument, got 0')
    for (const arg of ['abc', { length: 3, 0: 'x', 1: 9, 2: V4 }, new Uint8Array(3), undefined]) {
      expectArgError(() => s.sendMany(arg), "Expected first argument to be a array for 'sendMany'.")
    }
  })

  test('a connected socket takes payloads only', async () => {
    const r = await open()
    const c = await open({ connect: { hostname: V4, port: r.port } })
    expectArgError(() => c.sendMany(['c6', r.port, V4]), PAYLOAD_MSG)
    expectArgError(() => c.sendMany(['c7', {}]), PAYLOAD_MSG)
    expectArgError(() => c.sendMany('abc'), "Expected first argument to be a array for 'sendMany'.")
  })
})

// --- reload validation ----------------------------------------------------------------------

describe('reload() validation', () => {
  test('reload() checks its options like udpSocket()', async () => {
    const s = await open()
    expectArgError(() => s.reload(), 'Expected 1 argument')
    expectArgError(() => s.reload(5), 'Expected an object')
    expectArgError(() => s.reload({ socket: 5 }), 'Expected "socket" to be an object')
    expectArgError(() => s.reload({ socket: { data: 5 } }), 'Expected "socket.data" to be a function')
    expectArgError(() => s.reload({ binaryType: 'bogus', socket: {} }), `Expected "socket.binaryType" to be 'arraybuffer', 'uint8array', or 'buffer'`)
    expectArgError(() => s.reload({ port: -1 }), 'Expected "port" to be an integer between 0 and 65535')
    expectArgError(() => s.reload({ connect: 5 }), 'Expected "connect" to be an object')
  })

  test('reload() does not rebind or reconnect', async () => {
    const r = await receiver()
    const s = await open()
    const port = s.port
    expect(s.reload({ hostname: V4, port: 1234, connect: { hostname: V4, port: 9 }, socket: {} })).toBeUndefined()
    expect(s.send('still unconnected', r.port, V4)).toBe(true)
    await until(() => r.got.length === 1, 3000, 'datagram')
    expect(s.port).toBe(port)
  })
})

// --- socket options -----------------------------------------------------------------------

describe('socket options (IPv4)', () => {
  test('setBroadcast and setMulticastLoopback return their argument', async () => {
    const s = await open()
    expect(s.setBroadcast(true)).toBe(true)
    expect(s.setBroadcast(false)).toBe(false)
    expect(s.setBroadcast('yes')).toBe('yes')
    expect(s.setBroadcast(0)).toBe(0)
    expect(s.setMulticastLoopback(true)).toBe(true)
    expect(s.setMulticastLoopback(false)).toBe(false)
    expect(s.setMulticastLoopback(0)).toBe(0)
  })

  test('setTTL and setMulticastTTL return the integer set and refuse values outside 1..255', async () => {
    const s = await open()
    expect(s.setTTL(64)).toBe(64)
    expect(s.setTTL(1)).toBe(1)
    expect(s.setTTL(255)).toBe(255)
    expect(s.setTTL('64')).toBe(64)
    expect(s.setTTL(1.7)).toBe(1)
    for (const ttl of [0, 256, -1, 'abc', null]) expectOsError(() => s.setTTL(ttl), ...EINVAL)
    expect(s.setMulticastTTL(2)).toBe(2)
    expect(s.setMulticastTTL(255)).toBe(255)
    for (const ttl of [0, 256, -1, 'x']) expectOsError(() => s.setMulticastTTL(ttl), ...EINVAL)
  })

  test('setMulticastInterface returns true, false for an unparsable address, or throws', async () => {
    const s = await open()
    expect(s.setMulticastInterface(V4)).toBe(true)
    expect(s.setMulticastInterface('0.0.0.0')).toBe(true)
    expect(s.setMulticastInterface('bogus')).toBe(false)
    expect(s.setMulticastInterface(null)).toBe(false)
    expectOsError(() => s.setMulticastInterface('1.2.3.4'), ...EADDRNOTAVAIL)
  })

  test('addMembership / dropMembership', async () => {
    const s = await open()
    expect(s.addMembership('239.255.0.1')).toBe(true)
    expectOsError(() => s.addMembership('239.255.0.1'), ...EADDRINUSE)
    expect(s.dropMembership('239.255.0.1')).toBe(true)
    expectOsError(() => s.dropMembership('239.255.0.1'), ...EADDRNOTAVAIL)
    expect(s.addMembership('239.255.0.2', V4)).toBe(true)
    expect(s.dropMembership('239.255.0.2', V4)).toBe(true)
    expect(s.addMembership('239.255.0.3', 'bogus')).toBe(true)
    expectArgError(() => s.addMembership('239.255.0.4', V6), 'Family mismatch between address and interface')
    for (const group of ['127.0.0.1', 'bogus']) expectOsError(() => s.addMembership(group), ...EINVAL)
    expectOsError(() => s.dropMembership('bogus'), ...EINVAL)
  })

  test('addSourceSpecificMembership / dropSourceSpecificMembership', async () => {
    const s = await open()
    expect(s.addSourceSpecificMembership(V4, '232.1.1.1')).toBe(true)
    expectOsError(() => s.addSourceSpecificMembership(V4, '232.1.1.1'), ...EADDRNOTAVAIL)
    expect(s.dropSourceSpecificMembership(V4, '232.1.1.1')).toBe(true)
    expectOsError(() => s.dropSourceSpecificMembership(V4, '232.1.1.1'), ...EINVAL)
    expectOsError(() => s.dropSourceSpecificMembership(V4, '232.1.1.2'), ...EINVAL)
    expect(s.addSourceSpecificMembership(V4, '232.1.1.3', V4)).toBe(true)
    expectArgError(() => s.addSourceSpecificMembership(V6, '232.1.1.1'), 'Family mismatch between source and group addresses')
    expectArgError(() => s.addSourceSpecificMembership(V4, '232.1.1.4', V6), 'Family mismatch among source, group and interface addresses')
    expectOsError(() => s.addSourceSpecificMembership('bogus', '232.1.1.1'), ...EINVAL)
    expectOsError(() => s.addSourceSpecificMembership(V4, 'bogus'), ...EINVAL)
  })

  test('setters need their arguments', async () => {
    const s = await open()
    for (const name of ['setBroadcast', 'setTTL', 'setMulticastTTL', 'setMulticastLoopback', 'setMulticastInterface', 'addMembership', 'dropMembership']) {
      expectArgError(() => s[name](), 'Expected 1 argument, got 0')
    }
    expectArgError(() => s.addSourceSpecificMembership(), 'Expected 2 arguments, got 0')
    expectArgError(() => s.addSourceSpecificMembership(V4), 'Expected 2 arguments, got 1')
    expectArgError(() => s.dropSourceSpecificMembership(V4), 'Expected 2 arguments, got 1')
  })
})

describe('socket options (IPv6)', () => {
  test6('setters on an IPv6 socket', async () => {
    const s = await open({ hostname: V6 })
    expect(s.setBroadcast(true)).toBe(true)
    expect(s.setTTL(64)).toBe(64)
    for (const ttl of [0, 256, -1]) expectOsError(() => s.setTTL(ttl), ...EINVAL)
    expect(s.setMulticastTTL(2)).toBe(2)
    for (const ttl of [256, -1]) expectOsError(() => s.setMulticastTTL(ttl), ...EINVAL)
    expect(s.setMulticastLoopback(true)).toBe(true)
    expect(s.setMulticastInterface(V6)).toBe(true)
    expect(s.setMulticastInterface('::')).toBe(true)
  })

  test6('memberships on an IPv6 socket', async () => {
    const s = await open({ hostname: V6 })
    expect(s.addMembership('ff02::1')).toBe(true)
    expect(s.dropMembership('ff02::1')).toBe(true)
    expect(s.addMembership('ff02::2', V6)).toBe(true)
    expect(s.addMembership('ff05::1')).toBe(true)
    expect(s.addSourceSpecificMembership(V6, 'ff3e::1')).toBe(true)
    expect(s.dropSourceSpecificMembership(V6, 'ff3e::1')).toBe(true)
  })

  test('an IPv6 group or interface on an IPv4 socket is refused with ENOPROTOOPT', async () => {
    const s = await open()
    const ENOPROTOOPT = ['ENOPROTOOPT', -92, 'setsockopt', 'ENOPROTOOPT: protocol not available, setsockopt']
    expectOsError(() => s.setMulticastInterface(V6), ...ENOPROTOOPT)
    expectOsError(() => s.addMembership('ff02::1'), ...ENOPROTOOPT)
  })
})

// --- addresses the setters refuse, as Bun 1.4.4 refuses them ---------------------------------

describe('bad addresses in the multicast setters', () => {
  const ENOPROTOOPT = ['ENOPROTOOPT', -92, 'setsockopt', 'ENOPROTOOPT: protocol not available, setsockopt']
  // Not an IP literal to Bun: garbage, spaces, brackets, an IPv4 scope, too many parts.
  const GARBAGE = ['bogus', '', ' 239.1.1.1', '239.1.1.1 ', '[ff02::1]', '239.1.1.1%lo', '239.1.1.1.1', 'ff02::1::']

  test('a group that is no IP literal, or no group, is EINVAL; an IPv6 one on an IPv4 socket ENOPROTOOPT', async () => {
    const s = await open()
    for (const group of [...GARBAGE, '1.2.3.4', '0.0.0.0']) expectOsError(() => s.addMembership(group), ...EINVAL)
    for (const group of GARBAGE) expectOsError(() => s.dropMembership(group), ...EINVAL)
    for (const group of ['1.2.3.4', '0.0.0.0']) expectOsError(() => s.dropMembership(group), ...EADDRNOTAVAIL)
    for (const group of ['ff02::1%lo', 'ff02::1%', '::ffff:239.1.1.1', '::', 'FF02::1', 'ff02::0.0.0.1']) {
      expectOsError(() => s.addMembership(group), ...ENOPROTOOPT)
    }
    // inet_aton's forms are addresses to Bun.
    for (const group of ['239.1', '0xef.1.1.2', '4009820419']) {
      expect(s.addMembership(group)).toBe(true)
      expect(s.dropMembership(group)).toBe(true)
    }
  })

  test('an interface that is no IP literal is ignored; one of the other family is a TypeError', async () => {
    const s = await open()
    for (const iface of GARBAGE) {
      expect(s.addMembership('239.1.1.9', iface)).toBe(true)
      expect(s.dropMembership('239.1.1.9', iface)).toBe(true)
    }
    for (const iface of ['ff02::1%lo', '::ffff:127.0.0.1', '::']) {
      expectArgError(() => s.addMembership('239.1.1.10', iface), 'Family mismatch between address and interface')
    }
    expectOsError(() => s.addMembership('239.1.1.10', '1.2.3.4'), 'ENODEV', -19, 'setsockopt', 'ENODEV: no such device, setsockopt')
  })

  test('source-specific: a source or group that is no IP literal is EINVAL', async () => {
    const s = await open()
    for (const bad of GARBAGE) {
      expectOsError(() => s.addSourceSpecificMembership(bad, '232.1.1.9'), ...EINVAL)
      expectOsError(() => s.addSourceSpecificMembership(V4, bad), ...EINVAL)
      expectOsError(() => s.dropSourceSpecificMembership(bad, '232.1.1.9'), ...EINVAL)
    }
    for (const bad of ['ff02::1%lo', '::']) {
      expectArgError(() => s.addSourceSpecificMembership(bad, '232.1.1.9'), 'Family mismatch between source and group addresses')
    }
  })

  test('setMulticastInterface: false for no IP literal, EINVAL for a multicast address', async () => {
    const s = await open()
    for (const iface of GARBAGE) expect(s.setMulticastInterface(iface)).toBe(false)
    // Bun refuses a multicast address itself, without asking the kernel (which would say
    // EADDRNOTAVAIL).
    for (const iface of ['239.1.1.1', '224.0.0.1', '239.1', '0xef.1.1.1']) expectOsError(() => s.setMulticastInterface(iface), ...EINVAL)
    for (const iface of ['127.1', '0x7f.0.0.1', '2130706433']) expect(s.setMulticastInterface(iface)).toBe(true)
    for (const iface of ['1.2.3.4', '255.255.255.255']) expectOsError(() => s.setMulticastInterface(iface), ...EADDRNOTAVAIL)
  })

  test6('an IPv6 socket takes an IPv4 interface, which must be local, and scoped IPv6 ones', async () => {
    for (const hostname of [V6, '::']) {
      const s = await open({ hostname })
      // The IPv4 interface is set (IP_MULTICAST_IF) on the IPv6 socket too, and checked there.
      for (const iface of ['127.0.0.1', '127.1', '0.0.0.0']) expect(s.setMulticastInterface(iface)).toBe(true)
      for (const iface of ['1.2.3.4', '10.0.0.1']) expectOsError(() => s.setMulticastInterface(iface), ...EADDRNOTAVAIL)
      for (const iface of ['239.1.1.1', '239.1']) expectOsError(() => s.setMulticastInterface(iface), ...EINVAL)
      for (const iface of ['::1', '::1%lo', '::1%1', 'fe80::1%lo', '::ffff:127.0.0.1', '::']) expect(s.setMulticastInterface(iface)).toBe(true)
      for (const group of ['ff02::1%lo', 'ff02::1%', 'FF02::1']) {
        expect(s.addMembership(group)).toBe(true)
        expect(s.dropMembership(group)).toBe(true)
      }
      for (const group of [...GARBAGE, '::ffff:239.1.1.1', '::']) expectOsError(() => s.addMembership(group), ...EINVAL)
      expect(s.addSourceSpecificMembership('::1%lo', 'ff3e::9')).toBe(true)
      expectOsError(() => s.addSourceSpecificMembership('::1', '::ffff:239.1.1.1'), ...EINVAL)
    }
  })
})

// --- closed while an argument was read ---------------------------------------------------------

describe('a socket closed while an argument is coerced', () => {
  /** An argument whose valueOf/toString closes `socket` and then gives `value`. */
  const closing = (socket, value) => ({
    valueOf() {
      socket.close()
      return value
    },
    toString() {
      socket.close()
      return String(value)
    },
  })

  /** Bun's error: a plain Error without a code. */
  function expectClosed(fn) {
    const err = thrown(fn)
    expect(err).toBeInstanceOf(Error)
    expect(err.message).toBe('Socket is closed')
    expect(Object.keys(err)).toEqual([])
  }

  for (const [name, value] of [['setTTL', 5], ['setMulticastTTL', 5], ['setMulticastInterface', V4], ['addMembership', '224.0.0.114']]) {
    test(`${name}(): "Socket is closed", not EBADF`, async () => {
      const s = await open()
      expectClosed(() => s[name](closing(s, value)))
      expect(s.closed).toBe(true)
    })
  }

  test('send() whose port closes the socket: "Socket is closed"', async () => {
    const s = await open()
    expectClosed(() => s.send('x', closing(s, 9), V4))
  })

  test('on a socket already closed the setters keep giving EBADF', async () => {
    const s = await open()
    s.close()
    expectOsError(() => s.setTTL(5), 'EBADF', -9, 'setsockopt', 'EBADF: bad file descriptor, setsockopt')
  })
})

describe('udpSocket port forms', () => {
  test('port: NaN throws the range error (it binds no random port)', async () => {
    expectArgError(() => udpSocket({ port: NaN }), 'Expected "port" to be an integer between 0 and 65535')
  })

  test('null, undefined, false, "" and [] mean port 0; 0n throws', async () => {
    for (const port of [null, undefined, false, '', []]) {
      const s = track(await within(udpSocket({ hostname: V4, port }), 2000, 'udpSocket'))
      expect(s.port).toBeGreaterThan(0)
    }
    const err = thrown(() => udpSocket({ port: 0n }))
    expect(err).toBeInstanceOf(TypeError)
    expect(err.message).toBe("Conversion from 'BigInt' to 'number' is not allowed.")
  })
})
