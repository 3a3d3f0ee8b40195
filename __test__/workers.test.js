'use strict'
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { listen } = require('bun')
const { deferred, within } = require('./helpers')

test('terminating a Worker closes the sockets it opened', async () => {
  const closed = deferred()
  const server = listen({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      data() {},
      close(socket, err) {
        closed.resolve(err)
      },
    },
  })
  try {
    const worker = new Worker(path.join(__dirname, 'fixtures', 'worker-client.js'), {
      workerData: { port: server.port },
    })
    const connected = deferred()
    worker.on('message', connected.resolve)
    worker.on('error', connected.reject)
    await within(connected.promise, 5000, 'worker connect')
    await within(worker.terminate(), 5000, 'worker terminate')
    await within(closed.promise, 5000, 'peer close after terminate')
  } finally {
    server.stop(true)
  }
})
