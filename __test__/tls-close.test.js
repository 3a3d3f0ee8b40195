'use strict'
// A TLS socket closed before its handshake finished, by itself or by its peer (FIN or reset):
// Bun ends the handshake first, as failed with ECONNRESET ("Client network socket disconnected
// before secure TLS connection was established"), or with the `open` it had held back when there
// is no `handshake` handler, and then closes without an error. Checked on bun@1.4.4.

const fs = require('node:fs')
const path = require('node:path')
const { listen, connect } = require('bun')
const { deferred, within, sleep, autoClose } = require('./helpers')

const pem = (name) => fs.readFileSync(path.join(__dirname, 'fixtures', 'certs', name), 'utf8')
const SERVER_TLS = { key: pem('server-key.pem'), cert: pem('server.pem') }
const CLIENT_TLS = { ca: pem('ca.pem'), serverName: 'localhost' }
const DISCONNECTED = 'Client network socket disconnected before secure TLS connection was established'

const track = autoClose()

/** Handlers that log each event of one side; `act(socket)` runs in `open` (or when the promise resolves). */
function side(log, withHandshake, act) {
  const closed = deferred()
  const handlers = {
    open(socket) {
      log.push('open')
      act?.(socket)
    },
    data() {},
    error: (_s, err) => log.push(`error ${err.code}`),
    close(_s, err) {
      log.push(err ? `close ${err.code}` : 'close')
      closed.resolve()
    },
  }
  if (withHandshake) {
    handlers.handshake = (_s, success, err) => {
      log.push(`handshake ${success} ${err?.code}`)
      if (err?.code === 'ECONNRESET') expect(err.message).toBe(DISCONNECTED)
    }
  }
  return { handlers, closed: closed.promise }
}

async function pair({ closer, how, withHandshake }) {
  const logs = { client: [], server: [] }
  const act = (who) => (closer === who ? (socket) => socket[how]() : undefined)
  const server = side(logs.server, withHandshake, act('server'))
  const client = side(logs.client, withHandshake, withHandshake ? act('client') : undefined)
  const listener = track(listen({ hostname: '127.0.0.1', port: 0, tls: SERVER_TLS, socket: server.handlers }))
  const socket = track(await connect({ hostname: '127.0.0.1', port: listener.port, tls: CLIENT_TLS, socket: client.handlers }))
  // Without a handshake handler `open` waits for the handshake: the client acts on the promise.
  if (!withHandshake && closer === 'client') socket[how]()
  await within(Promise.all([server.closed, client.closed]), 5000, 'both sides to close')
  await sleep(20) // nothing may follow the close
  return logs
}

describe('with a handshake handler: handshake(false, ECONNRESET), then close without an error', () => {
  for (const closer of ['client', 'server']) {
    for (const how of ['close', 'end', 'terminate']) {
      test(`the ${closer} calls ${how}() in open`, async () => {
        const logs = await pair({ closer, how, withHandshake: true })
        const ended = ['open', 'handshake false ECONNRESET', 'close']
        expect(logs).toEqual({ client: ended, server: ended })
      })
    }
  }
})

describe('without one: the held-back open, then close without an error', () => {
  // Only the client has its socket before the handshake (from connect()'s promise).
  for (const how of ['close', 'terminate']) {
    test(`the client calls ${how}() before the handshake`, async () => {
      const logs = await pair({ closer: 'client', how, withHandshake: false })
      expect(logs).toEqual({ client: ['open', 'close'], server: ['open', 'close'] })
    })
  }
})
