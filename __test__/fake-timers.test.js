'use strict'
// Sockets under `jest.useFakeTimers()` (default settings, which fake setImmediate,
// queueMicrotask and process.nextTick too): the package schedules its own work with the real
// functions, so a TLS echo and a close after the peer's `end` finish without the test advancing
// the clock. Waits are bounded by helpers.js's `within`, on node:timers, which fake timers leave
// alone.

const fs = require('node:fs')
const path = require('node:path')
const { listen, connect } = require('bun')
const { deferred, autoClose, within } = require('./helpers')

const pem = (name) => fs.readFileSync(path.join(__dirname, 'fixtures', 'certs', name), 'utf8')
const track = autoClose()

beforeEach(() => {
  jest.useFakeTimers()
})
afterEach(() => {
  jest.useRealTimers()
})

test('the timers are fake in these tests', () => {
  let fired = false
  setTimeout(() => {
    fired = true
  }, 10)
  expect(fired).toBe(false)
  jest.advanceTimersByTime(10)
  expect(fired).toBe(true)
})

test('a TLS echo completes under fake timers', async () => {
  const server = track(
    listen({
      hostname: '127.0.0.1',
      port: 0,
      tls: { key: pem('server-key.pem'), cert: pem('server.pem') },
      socket: {
        open: track,
        data(socket, data) {
          socket.write(data)
        },
      },
    }),
  )
  const echoed = deferred()
  const handshake = deferred()
  await within(
    connect({
      hostname: '127.0.0.1',
      port: server.port,
      tls: { ca: pem('ca.pem'), serverName: 'localhost' },
      socket: {
        open: track,
        handshake(socket, success, error) {
          handshake.resolve({ success, error })
          socket.write('over tls')
        },
        data(socket, data) {
          echoed.resolve(String(data))
        },
      },
    }),
    5000,
    'connect',
  )
  expect(await within(handshake.promise, 5000, 'handshake')).toEqual({ success: true, error: null })
  expect(await within(echoed.promise, 5000, 'echo')).toBe('over tls')
})

test('a client closes after the peer ends, under fake timers', async () => {
  const serverClosed = deferred()
  const server = track(
    listen({
      hostname: '127.0.0.1',
      port: 0,
      socket: {
        open(socket) {
          track(socket)
          socket.end()
        },
        data() {},
        close() {
          serverClosed.resolve()
        },
      },
    }),
  )
  const events = []
  const clientClosed = deferred()
  track(
    await within(
      connect({
        hostname: '127.0.0.1',
        port: server.port,
        socket: {
          data() {},
          end() {
            events.push('end')
          },
          close(socket) {
            events.push(`close ${socket.readyState}`)
            clientClosed.resolve()
          },
        },
      }),
      5000,
      'connect',
    ),
  )
  await within(clientClosed.promise, 5000, 'client close')
  await within(serverClosed.promise, 5000, 'server close')
  expect(events[0]).toBe('end')
  expect(events[1]).toMatch(/^close /)
})
