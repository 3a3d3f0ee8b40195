import { test } from 'node:test'
import assert from 'node:assert/strict'
import { listen, connect } from 'bun'

test('echo over loopback', async () => {
  const server = listen({
    hostname: '127.0.0.1',
    port: 0,
    socket: { data: (socket, data) => socket.write(data) },
  })
  const reply = new Promise((resolve) => {
    connect({
      hostname: '127.0.0.1',
      port: server.port,
      socket: { data: (socket, data) => resolve([socket, String(data)]) },
    }).then((client) => client.write('esm'))
  })
  const [client, text] = await reply
  assert.equal(text, 'esm')
  client.end()
  server.stop(true)
})
