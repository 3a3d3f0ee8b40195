'use strict'
// Many connections at once over loopback, each sending a checksummed payload through an echo
// server, then closing in one of Bun's three ways. Nothing may be lost, reordered, or left open.
const crypto = require('node:crypto')
const { listen, connect } = require('bun')
const { within } = require('./helpers')

const CONNECTIONS = 200
const PAYLOAD = 64 * 1024

function digest(bytes) {
  return crypto.createHash('sha256').update(bytes).digest('hex')
}

test('200 concurrent echo connections each get their bytes back intact, then close cleanly', async () => {
  let serverClosed = 0
  const server = listen({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(socket) {
        socket.data = { pending: [] }
      },
      data(socket, chunk) {
        // Echo, keeping what the kernel did not take yet, in order.
        const queue = socket.data.pending
        if (queue.length > 0) return void queue.push(chunk)
        const n = socket.write(chunk)
        if (n < chunk.length) queue.push(chunk.subarray(Math.max(n, 0)))
      },
      drain(socket) {
        const queue = socket.data.pending
        while (queue.length > 0) {
          const chunk = queue[0]
          const n = socket.write(chunk)
          if (n < chunk.length) {
            queue[0] = chunk.subarray(Math.max(n, 0))
            return
          }
          queue.shift()
        }
      },
      close() {
        serverClosed++
      },
    },
  })

  const closeWith = ['end', 'close', 'terminate']
  const runs = Array.from({ length: CONNECTIONS }, (_, i) =>
    new Promise((resolve, reject) => {
      const payload = crypto.randomBytes(PAYLOAD)
      const received = []
      let receivedBytes = 0
      let sent = 0
      const pump = (socket) => {
        while (sent < payload.length) {
          const n = socket.write(payload.subarray(sent, Math.min(sent + 16384, payload.length)))
          if (n <= 0) return
          sent += n
        }
      }
      connect({
        hostname: '127.0.0.1',
        port: server.port,
        socket: {
          open: pump,
          drain: pump,
          data(socket, chunk) {
            received.push(Buffer.from(chunk))
            receivedBytes += chunk.length
            if (receivedBytes === payload.length) {
              const same = digest(Buffer.concat(received)) === digest(payload)
              socket[closeWith[i % 3]]()
              same ? resolve() : reject(new Error(`connection ${i}: echo differs`))
            }
          },
          error(socket, err) {
            reject(err)
          },
          connectError(socket, err) {
            reject(err)
          },
        },
      }).catch(reject)
    }),
  )
  try {
    await within(Promise.all(runs), 30000, 'all echoes')
    await within(
      new Promise((resolve) => {
        const check = () => (serverClosed === CONNECTIONS ? resolve() : setTimeout(check, 10))
        check()
      }),
      10000,
      'server sides closed',
    )
  } finally {
    server.stop(true)
  }
  expect(serverClosed).toBe(CONNECTIONS)
}, 60000)
