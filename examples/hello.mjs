import { listen, connect } from 'bun-sockets'

const server = listen({
  hostname: '127.0.0.1',
  port: 0,
  socket: {
    data(socket, data) {
      socket.write(data) // echo it back
    },
  },
})

const client = await connect({
  hostname: '127.0.0.1',
  port: server.port,
  socket: {
    data(socket, data) {
      console.log(`echoed: ${data}`)
      socket.end()
      server.stop(true) // nothing left open: the process exits
    },
  },
})
client.write('hello')
