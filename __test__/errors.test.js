'use strict'
// Failures: connect errors, listen errors, argument validation, throwing handlers. Runs under
// Jest (bun → package) and `bun test` (real Bun).

const fs = require('node:fs')
const path = require('node:path')
const { listen, connect } = require('bun')
const { deferred, within, waitFor, tempDir, hasIPv6, freePort, autoClose, thrown } = require('./helpers')

// --- local helpers ------------------------------------------------------------------------

const track = autoClose()

/** Asserts class, code and exact message of a thrown error. */
function expectError(err, Class, code, message) {
  expect(err).toBeInstanceOf(Class)
  if (code !== undefined) expect(err).toMatchObject({ code })
  expect(err.message).toBe(message)
}

/** A listener with one connected client, both ends opened. */
async function pair({ server = {}, client = {} } = {}) {
  const serverOpen = deferred()
  const listener = track(
    listen({
      hostname: '127.0.0.1',
      port: 0,
      socket: {
        data() {},
        ...server,
        open(socket) {
          serverOpen.resolve(track(socket))
          if (server.open) server.open.call(this, socket)
        },
      },
    }),
  )
  const c = track(await within(connect({ hostname: '127.0.0.1', port: listener.port, socket: { data() {}, ...client } }), 5000, 'connect'))
  const s = await within(serverOpen.promise, 5000, 'server open')
  return { listener, client: c, server: s }
}

const noop = () => {}

// --- connect failures ---------------------------------------------------------------------

/** Connects with every handler logging; resolves with { calls, ceArgs, rejection }. */
async function failingConnect(target) {
  const calls = []
  const ce = deferred()
  const socket = {
    open: () => calls.push('open'),
    data: () => calls.push('data'),
    close: () => calls.push('close'),
    end: () => calls.push('end'),
    error: () => calls.push('error'),
    connectError(s, err) {
      ce.resolve({ args: arguments.length, socket: s, self: this, readyState: s.readyState, err })
    },
  }
  const promise = connect({ ...target, socket })
  expect(promise).toBeInstanceOf(Promise)
  const rejection = await within(promise.then(() => null, (err) => err), 5000, 'connect rejection')
  const ceArgs = await within(ce.promise, 5000, 'connectError')
  return { calls, ceArgs, rejection }
}

describe('connect failures', () => {
  test('nothing listening: connectError(socket, err) with readyState -1 and the promise rejects', async () => {
    const port = await freePort()
    const { calls, ceArgs, rejection } = await failingConnect({ hostname: '127.0.0.1', port })
    expect(ceArgs.args).toBe(2)
    expect(ceArgs.self).toBe(ceArgs.socket)
    expect(ceArgs.readyState).toBe(-1)
    expect(Object.prototype.toString.call(ceArgs.socket)).toBe('[object TCPSocket]')
    for (const err of [ceArgs.err, rejection]) {
      expect(err).toBeInstanceOf(Error)
      expect(err).toMatchObject({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect' })
      expect(err.message).toBe('Failed to connect')
      expect(Object.keys(err).sort()).toEqual(['code', 'errno', 'syscall'])
    }
    // The rejection is a distinct Error of the same shape.
    expect(rejection).not.toBe(ceArgs.err)
    expect(calls).toEqual([])
  })

  test('without a connectError handler the promise rejects with ECONNREFUSED', async () => {
    const port = await freePort()
    const err = await within(
      connect({ hostname: '127.0.0.1', port, socket: { data: noop } }).then(() => null, (e) => e),
      5000,
      'rejection',
    )
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect', message: 'Failed to connect' })
  })

  ;(hasIPv6() ? test : test.skip)('ECONNREFUSED on ::1 too', async () => {
    const port = await freePort('::1')
    const { ceArgs, rejection } = await failingConnect({ hostname: '::1', port })
    expect(ceArgs.err).toMatchObject({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect' })
    expect(rejection).toMatchObject({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect' })
  })

  test('a missing unix socket path gives ENOENT', async () => {
    const unix = path.join(tempDir(), 'missing.sock')
    const { calls, ceArgs, rejection } = await failingConnect({ unix })
    expect(ceArgs.readyState).toBe(-1)
    for (const err of [ceArgs.err, rejection]) {
      expect(err).toBeInstanceOf(Error)
      expect(err).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'connect', message: 'Failed to connect' })
    }
    expect(calls).toEqual([])
  })

  test('an unresolvable host gives ENOTFOUND from getaddrinfo', async () => {
    const { calls, ceArgs, rejection } = await failingConnect({ hostname: 'nonexistent.invalid', port: 80 })
    for (const err of [ceArgs.err, rejection]) {
      expect(err).toBeInstanceOf(Error)
      expect(err).toMatchObject({
        code: 'ENOTFOUND',
        errno: 4,
        syscall: 'getaddrinfo',
        hostname: 'nonexistent.invalid',
        message: 'getaddrinfo ENOTFOUND nonexistent.invalid',
      })
    }
    expect(calls).toEqual([])
  })

  test('a throwing connectError makes the promise reject with the thrown error', async () => {
    const port = await freePort()
    const boom = new Error('boom')
    const promise = connect({
      hostname: '127.0.0.1',
      port,
      socket: {
        data: noop,
        connectError() {
          throw boom
        },
      },
    })
    await expect(within(promise, 5000, 'rejection')).rejects.toBe(boom)
  })
})

// --- listen failures ------------------------------------------------------------------------

describe('listen failures', () => {
  test('EADDRINUSE is thrown synchronously with errno 98, syscall, address and port', async () => {
    const first = track(listen({ hostname: '127.0.0.1', port: 0, socket: { data: noop } }))
    for (const exclusive of [undefined, true, false]) {
      const err = thrown(() => listen({ hostname: '127.0.0.1', port: first.port, exclusive, socket: { data: noop } }))
      expect(err).toBeInstanceOf(Error)
      expect(err).toMatchObject({
        code: 'EADDRINUSE',
        errno: 98,
        syscall: 'listen',
        address: '127.0.0.1',
        port: first.port,
        message: 'Failed to listen at 127.0.0.1',
      })
    }
  })

  test('a unix path already listened on gives EADDRINUSE without a port', () => {
    const unix = path.join(tempDir(), 'busy.sock')
    track(listen({ unix, socket: { data: noop } }))
    const err = thrown(() => listen({ unix, socket: { data: noop } }))
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ code: 'EADDRINUSE', errno: 98, syscall: 'listen', address: unix })
    expect(err.message).toBe(`Failed to listen at ${unix}`)
    expect('port' in err).toBe(false)
  })

  test('a unix path that is a regular file gives EADDRINUSE and leaves the file alone', () => {
    const unix = path.join(tempDir(), 'file.sock')
    fs.writeFileSync(unix, 'keep me')
    const err = thrown(() => listen({ unix, socket: { data: noop } }))
    expect(err).toMatchObject({ code: 'EADDRINUSE', errno: 98, syscall: 'listen', address: unix })
    expect(fs.readFileSync(unix, 'utf8')).toBe('keep me')
  })

  test('a unix path in a missing directory gives ENOENT (positive errno)', () => {
    const unix = path.join(tempDir(), 'nope', 'x.sock')
    const err = thrown(() => listen({ unix, socket: { data: noop } }))
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'listen', address: unix })
    expect(err.message).toBe(`Failed to listen at ${unix}`)
  })

  test('hostname 123 gives EADDRNOTAVAIL', () => {
    const err = thrown(() => listen({ hostname: 123, port: 0, socket: { data: noop } }))
    expect(err).toMatchObject({ code: 'EADDRNOTAVAIL', errno: 99, syscall: 'listen', address: '123', port: 0 })
    expect(err.message).toBe('Failed to listen at 123')
  })

  test('an unresolvable hostname throws ENOTFOUND synchronously', () => {
    const err = thrown(() => listen({ hostname: '[::1]', port: 0, socket: { data: noop } }))
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ code: 'ENOTFOUND', errno: 4, syscall: 'getaddrinfo', hostname: '[::1]' })
    expect(err.message).toBe('getaddrinfo ENOTFOUND [::1]')
  })
})

// --- argument validation -----------------------------------------------------------------------

const H = { hostname: '127.0.0.1', port: 1 }
const data = noop
const T = [TypeError, 'ERR_INVALID_ARG_TYPE']
const R = [RangeError, 'ERR_OUT_OF_RANGE']
const atLeast = 'Expected at least "data" or "drain" callback'
const either = 'Expected either "hostname" or "unix"'
const binaryTypes = 'SocketHandler.binaryType must be "arraybuffer", "buffer", or "uint8array"'

// [title, options, [Class, code], message] — same for listen() and connect().
const optionCases = [
  ['empty options', {}, T, 'SocketOptions.socket is required'],
  ['missing socket', { ...H }, T, 'SocketOptions.socket is required'],
  ['socket: 5', { ...H, socket: 5 }, T, 'SocketHandler must be an object'],
  ['socket: null', { ...H, socket: null }, T, 'SocketHandler must be an object'],
  ['socket: {}', { ...H, socket: {} }, T, atLeast],
  ['only open', { ...H, socket: { open: noop } }, T, atLeast],
  ['data: null', { ...H, socket: { data: null } }, T, atLeast],
  ['data: 1', { ...H, socket: { data: 1 } }, T, 'Expected "onData" callback to be a function'],
  ['open: 1', { ...H, socket: { data, open: 1 } }, T, 'Expected "onOpen" callback to be a function'],
  ['close: "x"', { ...H, socket: { data, close: 'x' } }, T, 'Expected "onClose" callback to be a function'],
  ['error: {}', { ...H, socket: { data, error: {} } }, T, 'Expected "onError" callback to be a function'],
  ['end: 1', { ...H, socket: { data, end: 1 } }, T, 'Expected "onEnd" callback to be a function'],
  ['timeout: 1', { ...H, socket: { data, timeout: 1 } }, T, 'Expected "onTimeout" callback to be a function'],
  ['drain: 1', { ...H, socket: { data, drain: 1 } }, T, 'Expected "onWritable" callback to be a function'],
  ['connectError: 1', { ...H, socket: { data, connectError: 1 } }, T, 'Expected "onConnectError" callback to be a function'],
  ['handshake: 1', { ...H, socket: { data, handshake: 1 } }, T, 'Expected "onHandshake" callback to be a function'],
  ['missing port', { hostname: '127.0.0.1', socket: { data } }, T, 'Missing "port"'],
  ['port: null', { hostname: '127.0.0.1', port: null, socket: { data } }, T, 'Missing "port"'],
  ['port: -1', { ...H, port: -1, socket: { data } }, R, 'SocketOptions.port must be in the range [0, 65535] (received -1)'],
  ['port: 65536', { ...H, port: 65536, socket: { data } }, R, 'SocketOptions.port must be in the range [0, 65535] (received 65536)'],
  ['port: 1.5', { ...H, port: 1.5, socket: { data } }, R, 'SocketOptions.port must be an integer (received 1.5)'],
  ['port: NaN', { ...H, port: NaN, socket: { data } }, R, 'SocketOptions.port must be an integer (received NaN)'],
  ['port: "abc"', { ...H, port: 'abc', socket: { data } }, R, 'SocketOptions.port must be an integer (received NaN)'],
  ['port: {}', { ...H, port: {}, socket: { data } }, R, 'SocketOptions.port must be an integer (received NaN)'],
  ['port: Infinity', { ...H, port: Infinity, socket: { data } }, R, 'SocketOptions.port must be an integer (received Infinity)'],
  ['no hostname', { port: 0, socket: { data } }, T, either],
  ['hostname: ""', { hostname: '', port: 0, socket: { data } }, T, either],
  ['hostname: null', { hostname: null, port: 0, socket: { data } }, T, either],
  ['unix: 5', { unix: 5, socket: { data } }, T, 'SocketOptions.unix must be a string'],
  ['unix: ""', { unix: '', socket: { data } }, T, either],
  ['binaryType: "bogus"', { ...H, socket: { data, binaryType: 'bogus' } }, T, binaryTypes],
  ['binaryType: "nodebuffer"', { ...H, socket: { data, binaryType: 'nodebuffer' } }, T, binaryTypes],
  ['binaryType: "BUFFER"', { ...H, socket: { data, binaryType: 'BUFFER' } }, T, binaryTypes],
  ['binaryType: "arrayBuffer"', { ...H, socket: { data, binaryType: 'arrayBuffer' } }, T, binaryTypes],
  ['binaryType: 5', { ...H, socket: { data, binaryType: 5 } }, T, 'SocketHandler.binaryType must be a string'],
  ['binaryType: null', { ...H, socket: { data, binaryType: null } }, T, 'SocketHandler.binaryType must be a string'],
  ['allowHalfOpen: "x"', { ...H, allowHalfOpen: 'x', socket: { data } }, T, 'SocketOptions.allowHalfOpen must be a boolean'],
  ['exclusive: "x"', { ...H, exclusive: 'x', socket: { data } }, T, 'SocketOptions.exclusive must be a boolean'],
  ['reusePort: 1', { ...H, reusePort: 1, socket: { data } }, T, 'SocketOptions.reusePort must be a boolean'],
  ['ipv6Only: "x"', { ...H, ipv6Only: 'x', socket: { data } }, T, 'SocketOptions.ipv6Only must be a boolean'],
  // Only undefined stands for false.
  ['allowHalfOpen: null', { ...H, allowHalfOpen: null, socket: { data } }, T, 'SocketOptions.allowHalfOpen must be a boolean'],
  ['exclusive: null', { ...H, exclusive: null, socket: { data } }, T, 'SocketOptions.exclusive must be a boolean'],
  ['reusePort: null', { ...H, reusePort: null, socket: { data } }, T, 'SocketOptions.reusePort must be a boolean'],
  ['ipv6Only: null', { ...H, ipv6Only: null, socket: { data } }, T, 'SocketOptions.ipv6Only must be a boolean'],
  ['tls: 5', { ...H, tls: 5, socket: { data } }, T, 'TLSOptions must be an object'],
  // Order: first failing check wins.
  ['port before handlers', { ...H, port: -1, socket: {} }, R, 'SocketOptions.port must be in the range [0, 65535] (received -1)'],
  ['handlers before hostname', { socket: {} }, T, atLeast],
  ['binaryType before port', { ...H, port: -1, socket: { data, binaryType: 'bogus' } }, T, binaryTypes],
  ['allowHalfOpen before port', { ...H, port: -1, allowHalfOpen: 1, socket: { data } }, T, 'SocketOptions.allowHalfOpen must be a boolean'],
  ['tls before exclusive', { ...H, exclusive: 1, tls: 5, socket: { data } }, T, 'TLSOptions must be an object'],
  ['exclusive before reusePort', { ...H, exclusive: 1, reusePort: 1, socket: { data } }, T, 'SocketOptions.exclusive must be a boolean'],
  ['reusePort before ipv6Only', { ...H, ipv6Only: 1, reusePort: 1, socket: { data } }, T, 'SocketOptions.reusePort must be a boolean'],
  ['ipv6Only before unix', { unix: 5, ipv6Only: 1, socket: { data } }, T, 'SocketOptions.ipv6Only must be a boolean'],
]

describe('argument validation', () => {
  test.each([[[]], [[undefined]], [[null]], [[5]], [['str']]])('non-object options %p', (args) => {
    expectError(thrown(() => listen(...args)), TypeError, 'ERR_INVALID_ARG_TYPE', 'Expected object')
    expectError(thrown(() => connect(...args)), TypeError, 'ERR_INVALID_ARG_TYPE', 'Expected options object')
  })

  for (const [title, options, [Class, code], message] of optionCases) {
    test(`${title} → ${Class.name} "${message}"`, () => {
      expectError(thrown(() => listen({ ...options })), Class, code, message)
      expectError(thrown(() => connect({ ...options })), Class, code, message)
    })
  }

  test('validation errors have no own enumerable keys', () => {
    expect(Object.keys(thrown(() => listen({})))).toEqual([])
    expect(Object.keys(thrown(() => connect({ ...H, port: -1, socket: { data } })))).toEqual([])
  })

  test('accepted: drain-only handlers, tls: false, numeric port strings', async () => {
    const a = track(listen({ hostname: '127.0.0.1', port: 0, socket: { drain: noop } }))
    const b = track(listen({ hostname: '127.0.0.1', port: '0', tls: false, socket: { data } }))
    expect(a.port).toBeGreaterThan(0)
    expect(b.port).toBeGreaterThan(0)
    const s = track(await within(connect({ hostname: '127.0.0.1', port: String(b.port), socket: { drain: noop } }), 5000, 'connect'))
    expect(s.readyState).toBe(1)
  })
})

// --- socket method arguments ----------------------------------------------------------------

describe('bad method arguments', () => {
  test('write() rejects non-data values with ERR_INVALID_ARG_TYPE', async () => {
    const { client } = await pair()
    const prefix = 'The "data" argument must be of type string, buffer, or blob. Received '
    const cases = [
      [123, 'type number (123)'],
      [null, 'null'],
      [{}, 'an instance of Object'],
      [[1, 2], 'an instance of Array'],
      [true, 'type boolean (true)'],
    ]
    for (const [value, received] of cases) {
      expectError(thrown(() => client.write(value)), TypeError, 'ERR_INVALID_ARG_TYPE', prefix + received)
    }
    expectError(thrown(() => client.write(123, 1)), TypeError, 'ERR_INVALID_ARG_TYPE', prefix + 'type number (123)')
    expectError(thrown(() => client.end(123)), TypeError, 'ERR_INVALID_ARG_TYPE', prefix + 'type number (123)')
    // A rejected end() leaves the socket open.
    expect(client.readyState).toBe(1)
    expect(client.bytesWritten).toBe(0)
  })

  test('write() offset and length range and type errors', async () => {
    const { client } = await pair()
    const range = (name, max, got) =>
      `The value of "${name}" is out of range. It must be >= 0 and <= ${max}. Received ${got}`
    for (const value of ['abcdef', Buffer.from('abcdef')]) {
      expectError(thrown(() => client.write(value, 10)), RangeError, 'ERR_OUT_OF_RANGE', range('byteOffset', 6, 10))
      expectError(thrown(() => client.write(value, -1)), RangeError, 'ERR_OUT_OF_RANGE', range('byteOffset', 9007199254740991, -1))
      expectError(thrown(() => client.write(value, 2, 10)), RangeError, 'ERR_OUT_OF_RANGE', range('byteLength', 4, 10))
      expectError(thrown(() => client.write(value, 0, -1)), RangeError, 'ERR_OUT_OF_RANGE', range('byteLength', 9007199254740991, -1))
      const offsetMsg = "Expected byteOffset to be a integer for 'Socket.write'."
      for (const offset of [1.5, NaN, 2 ** 53]) {
        expectError(thrown(() => client.write(value, offset, 1)), TypeError, 'ERR_INVALID_ARG_TYPE', offsetMsg)
      }
      const lengthMsg = "Expected byteLength to be a integer for 'Socket.write'."
      expectError(thrown(() => client.write(value, 2, 1.5)), TypeError, 'ERR_INVALID_ARG_TYPE', lengthMsg)
      expectError(thrown(() => client.write(value, 2, NaN)), TypeError, 'ERR_INVALID_ARG_TYPE', lengthMsg)
    }
    expectError(thrown(() => client.write('abcdef', null, 3)), TypeError, 'ERR_INVALID_ARG_TYPE', "Expected byteOffset to be a integer for 'Socket.write'.")
    expect(client.write(undefined, 1, 1)).toBe(0)
    expect(client.bytesWritten).toBe(0)
  })

  test('encoding together with offset/length is not supported', async () => {
    const { client } = await pair()
    const message =
      'Support encoding with offset and length altogether. Only either encoding or offset, length is supported, but not both combinations yet.'
    for (const args of [['abcdef', 2, '3'], ['abcdef', 1, 2, 'x']]) {
      const err = thrown(() => client.write(...args))
      expect(err).toBeInstanceOf(Error)
      expect(err.message).toBe(message)
    }
  })

  test('socket.reload() errors', async () => {
    const { client } = await pair()
    expectError(thrown(() => client.reload()), Error, undefined, 'Expected 1 argument')
    expectError(thrown(() => client.reload(5)), Error, undefined, 'Expected options object')
    expectError(thrown(() => client.reload(null)), Error, undefined, 'Expected options object')
    expectError(thrown(() => client.reload({})), Error, undefined, 'Expected "socket" option')
    expectError(thrown(() => client.reload({ socket: {} })), TypeError, 'ERR_INVALID_ARG_TYPE', atLeast)
    expectError(thrown(() => client.reload({ socket: 5 })), TypeError, 'ERR_INVALID_ARG_TYPE', 'SocketHandler must be an object')
    expectError(thrown(() => client.reload({ socket: { data: 1 } })), TypeError, 'ERR_INVALID_ARG_TYPE', 'Expected "onData" callback to be a function')
    expectError(thrown(() => client.reload({ socket: { data, binaryType: 'x' } })), TypeError, 'ERR_INVALID_ARG_TYPE', binaryTypes)
    expect(client.reload({ socket: { data } })).toBeUndefined()
  })

  test('listener.reload() errors', () => {
    const listener = track(listen({ hostname: '127.0.0.1', port: 0, socket: { data } }))
    expectError(thrown(() => listener.reload()), Error, undefined, 'Expected 1 argument')
    expectError(thrown(() => listener.reload(5)), TypeError, 'ERR_INVALID_ARG_TYPE', 'Expected options object')
    expectError(thrown(() => listener.reload({})), Error, undefined, 'Expected "socket" object')
    expectError(thrown(() => listener.reload({ socket: {} })), TypeError, 'ERR_INVALID_ARG_TYPE', atLeast)
    expectError(thrown(() => listener.reload({ socket: 5 })), TypeError, 'ERR_INVALID_ARG_TYPE', 'SocketHandler must be an object')
    expect(listener.reload({ socket: { data } })).toBeUndefined()
    listener.stop()
    // Bun's (odd) message once the listener is stopped.
    expectError(thrown(() => listener.reload({ socket: { data } })), Error, undefined, 'Expected 1 argument')
  })

  test('setKeepAlive() validates initialDelay', async () => {
    const { client } = await pair()
    const range = 'The value of "initialDelay" is out of range. It must be >= 0 and <= 9007199254740991. Received -1'
    expectError(thrown(() => client.setKeepAlive(true, -1)), RangeError, 'ERR_OUT_OF_RANGE', range)
    const notNumber = 'The "initialDelay" property must be of type number. Received string'
    expectError(thrown(() => client.setKeepAlive(true, 'x')), TypeError, 'ERR_INVALID_ARG_TYPE', notNumber)
    const notInteger = 'The "initialDelay" property must be of type integer. Received number'
    expectError(thrown(() => client.setKeepAlive(true, 1.5)), TypeError, 'ERR_INVALID_ARG_TYPE', notInteger)
  })

  test('timeout() errors', async () => {
    const { client } = await pair()
    expectError(thrown(() => client.timeout(-1)), Error, undefined, 'Timeout must be a positive integer')
    expectError(thrown(() => client.timeout()), Error, undefined, 'Expected 1 argument, got 0')
    expect(client.timeout(0)).toBeUndefined()
  })
})

// --- throwing handlers ----------------------------------------------------------------------

describe('throwing handlers', () => {
  test('a throwing data handler goes to error(socket, err) with the same error; the socket stays open', async () => {
    const errors = []
    const thrownErrors = []
    const { client, server } = await pair({
      server: {
        data(socket, chunk) {
          const err = new Error(`boom ${chunk}`)
          thrownErrors.push(err)
          throw err
        },
        error(socket, err) {
          errors.push({ args: arguments.length, self: this === socket, socket, err, readyState: socket.readyState })
        },
      },
    })
    client.write('a')
    await waitFor(() => errors.length === 1, 5000, 'first error')
    expect(errors[0].err).toBe(thrownErrors[0])
    expect(errors[0]).toMatchObject({ args: 2, self: true, socket: server, readyState: 1 })
    client.write('b')
    await waitFor(() => errors.length === 2, 5000, 'second error')
    expect(errors[1].err).toBe(thrownErrors[1])
    expect(errors[1].err.message).toBe('boom b')
    expect(server.readyState).toBe(1)
    expect(client.readyState).toBe(1)
  })

  test('a throwing server open handler goes to error, then the socket closes', async () => {
    const log = []
    const boom = new Error('open boom')
    const clientClosed = deferred()
    const listener = track(
      listen({
        hostname: '127.0.0.1',
        port: 0,
        socket: {
          data,
          open() {
            log.push('S open')
            throw boom
          },
          error: (s, err) => log.push(`S error same=${err === boom} rs=${s.readyState}`),
          close: (s, err) => log.push(`S close ${err}`),
        },
      }),
    )
    const client = track(
      await within(
        connect({
          hostname: '127.0.0.1',
          port: listener.port,
          socket: {
            data,
            end: () => log.push('C end'),
            close: (s, err) => clientClosed.resolve(log.push(`C close ${err}`)),
          },
        }),
        5000,
        'connect',
      ),
    )
    await within(clientClosed.promise, 5000, 'client close')
    expect(client.readyState).toBe(-1)
    expect(log).toEqual(['S open', 'S error same=true rs=1', 'S close undefined', 'C end', 'C close undefined'])
  })

  test('a throwing client open handler goes to error; the promise still resolves, closed', async () => {
    const log = []
    const serverClosed = deferred()
    const listener = track(
      listen({
        hostname: '127.0.0.1',
        port: 0,
        socket: {
          data,
          end: () => log.push('S end'),
          close: (s, err) => serverClosed.resolve(log.push(`S close ${err}`)),
        },
      }),
    )
    const client = await within(
      connect({
        hostname: '127.0.0.1',
        port: listener.port,
        socket: {
          data,
          open() {
            throw new Error('client open boom')
          },
          error: (s, err) => log.push(`C error ${err.message} rs=${s.readyState}`),
          close: (s, err) => log.push(`C close ${err}`),
        },
      }),
      5000,
      'connect',
    )
    log.push(`resolved rs=${client.readyState}`)
    await within(serverClosed.promise, 5000, 'server close')
    expect(log).toEqual(['C error client open boom rs=1', 'C close undefined', 'resolved rs=-1', 'S end', 'S close undefined'])
  })

  test('a throwing end handler goes to error, then the socket closes', async () => {
    const log = []
    const serverClosed = deferred()
    const { client } = await pair({
      server: {
        end() {
          log.push('S end')
          throw new Error('end boom')
        },
        error: (s, err) => log.push(`S error ${err.message} rs=${s.readyState}`),
        close: (s, err) => serverClosed.resolve(log.push(`S close ${err}`)),
      },
    })
    client.end()
    await within(serverClosed.promise, 5000, 'server close')
    expect(log).toEqual(['S end', 'S error end boom rs=1', 'S close undefined'])
  })

  test('a throwing close handler goes to error after the close', async () => {
    const log = []
    const { client } = await pair({
      client: {
        close() {
          log.push('C close')
          throw new Error('close boom')
        },
        error: (s, err) => log.push(`C error ${err.message} rs=${s.readyState}`),
      },
    })
    client.end()
    expect(log).toEqual(['C close', 'C error close boom rs=-1'])
  })
})

// --- an Error returned from a handler -----------------------------------------------------

describe('an Error returned from open', () => {
  test('client: goes to error(socket, err), then the socket closes gracefully (what open wrote arrives)', async () => {
    const log = []
    const returned = new TypeError('returned, not thrown')
    const serverClosed = deferred()
    const listener = track(
      listen({
        hostname: '127.0.0.1',
        port: 0,
        socket: {
          data: (s, chunk) => log.push(`S data ${chunk}`),
          close: () => serverClosed.resolve(log.push('S close')),
        },
      }),
    )
    const client = await within(
      connect({
        hostname: '127.0.0.1',
        port: listener.port,
        socket: {
          data,
          open(socket) {
            socket.write('hi')
            return returned
          },
          error: (s, err) => log.push(`C error same=${err === returned} rs=${s.readyState}`),
          close: () => log.push('C close'),
        },
      }),
      5000,
      'connect',
    )
    await within(serverClosed.promise, 5000, 'server close')
    expect(client.readyState).toBe(-1)
    expect(log).toEqual(['C error same=true rs=1', 'C close', 'S data hi', 'S close'])
  })

  test('server: the same; a returned value that is no Error changes nothing', async () => {
    const log = []
    const clientClosed = deferred()
    let opened = 0
    const listener = track(
      listen({
        hostname: '127.0.0.1',
        port: 0,
        socket: {
          data,
          open: () => (++opened === 1 ? 'not an error' : new Error('second')),
          error: (s, err) => log.push(`S error ${err.message}`),
          close: () => log.push('S close'),
        },
      }),
    )
    const first = track(await within(connect({ hostname: '127.0.0.1', port: listener.port, socket: { data } }), 5000, 'connect'))
    const second = await within(
      connect({ hostname: '127.0.0.1', port: listener.port, socket: { data, close: () => clientClosed.resolve() } }),
      5000,
      'connect',
    )
    await within(clientClosed.promise, 5000, 'second client closed')
    expect(log).toEqual(['S error second', 'S close'])
    expect(first.readyState).toBe(1)
    expect(second.readyState).toBe(-1)
  })
})

// --- hostname and serverName forms ------------------------------------------------------------

describe('hostname and serverName forms', () => {
  const nonEmpty = 'Expected a non-empty "hostname"'
  const cases = [
    ['hostname: []', { hostname: [], port: 1, socket: { data } }, T, nonEmpty],
    ['hostname: [""]', { hostname: [''], port: 1, socket: { data } }, T, nonEmpty],
    ['hostname: new String("")', { hostname: new String(''), port: 1, socket: { data } }, T, nonEmpty],
    ['hostname: 0', { hostname: 0, port: 1, socket: { data } }, T, either],
    ['hostname: false', { hostname: false, port: 1, socket: { data } }, T, either],
    ['hostname with NUL', { hostname: '127.0.0.1\0', port: 1, socket: { data } }, T, '"hostname" must not contain null bytes'],
    ['hostname NUL before port', { hostname: 'x\0', socket: { data } }, T, '"hostname" must not contain null bytes'],
    ['serverName with NUL', { ...H, tls: { serverName: 'a\0b' }, socket: { data } }, T, '"serverName" must not contain null bytes'],
    ['servername with NUL', { ...H, tls: { servername: '\0' }, socket: { data } }, T, '"serverName" must not contain null bytes'],
    // Checked right after `exclusive`: before the handlers, the hostname and TLS files.
    ['serverName NUL before handlers', { ...H, tls: { serverName: 'a\0' }, socket: {} }, T, '"serverName" must not contain null bytes'],
    ['serverName NUL before hostname', { port: 1, tls: { serverName: 'a\0' }, socket: { data } }, T, '"serverName" must not contain null bytes'],
    ['serverName NUL before keyFile', { ...H, tls: { serverName: 'a\0', keyFile: '/nonexistent' }, socket: { data } }, T, '"serverName" must not contain null bytes'],
    ['exclusive before serverName NUL', { ...H, exclusive: 1, tls: { serverName: 'a\0' }, socket: { data } }, T, 'SocketOptions.exclusive must be a boolean'],
    ['TLS types before serverName NUL', { ...H, tls: { serverName: 'a\0', rejectUnauthorized: 1 }, socket: { data } }, T, 'TLSOptions.rejectUnauthorized must be a boolean'],
  ]
  for (const [title, options, [Class, code], message] of cases) {
    test(`${title} → ${Class.name} "${message}"`, () => {
      expectError(thrown(() => listen({ ...options })), Class, code, message)
      expectError(thrown(() => connect({ ...options })), Class, code, message)
    })
  }

  const ipv6 = hasIPv6() ? test : test.skip
  ipv6('connect() takes an IPv6 address in brackets; listen() does not', async () => {
    const listener = track(listen({ hostname: '::1', port: 0, socket: { data } }))
    const socket = track(await within(connect({ hostname: '[::1]', port: listener.port, socket: { data } }), 5000, 'connect'))
    expect(socket.remoteAddress).toBe('::1')
    const err = thrown(() => listen({ hostname: '[::1]', port: 0, socket: { data } }))
    expect([err.code, err.message]).toEqual(['ENOTFOUND', 'getaddrinfo ENOTFOUND [::1]'])
  })

  test('an IPv4 address in brackets is no address: connect() rejects with ENOTFOUND', async () => {
    const err = await within(connect({ hostname: '[127.0.0.1]', port: 1, socket: { data } }).then(() => null, (e) => e), 5000, 'connect')
    expect([err.code, err.message]).toEqual(['ENOTFOUND', 'getaddrinfo ENOTFOUND [127.0.0.1]'])
  })
})
