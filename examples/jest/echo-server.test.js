'use strict'
// Runs under Jest on Node, with `bun` mapped to bun-sockets (see jest.config.js), and under
// `bun test` on Bun, unchanged.
const { connect } = require('bun')
const { startUpperEcho } = require('./echo-server')

test('the echo server answers in upper case', async () => {
  const server = startUpperEcho()
  let resolveReply
  const reply = new Promise((resolve) => (resolveReply = resolve))
  const client = await connect({
    hostname: '127.0.0.1',
    port: server.port,
    socket: {
      data(socket, data) {
        resolveReply(String(data))
      },
    },
  })
  client.write('hello')
  expect(await reply).toBe('HELLO')
  client.end()
  server.stop(true)
})
