'use strict'
const { createHash } = require('node:crypto')
const { startDigestServer } = require('./digest-server')

test('the server answers with the SHA-256 of what it got', async () => {
  const server = startDigestServer()
  let answer = ''
  const client = await Bun.connect({
    hostname: '127.0.0.1',
    port: server.port,
    socket: {
      data(socket, data) {
        answer += data
      },
    },
  })
  client.write('hello')
  while (answer.length < 64) await Bun.sleep(5)
  expect(answer).toBe(createHash('sha256').update('hello').digest('hex'))
  client.end()
  server.stop(true)
})
