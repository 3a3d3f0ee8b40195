'use strict'
// A line-based chat server: every line a client sends goes to every other client.
//   node examples/chat.js [port]        then, in other terminals:  nc 127.0.0.1 <port>
// With `--demo`, two scripted clients talk and the server stops afterwards.

const { listen, connect } = require('..')

const clients = new Set()
const server = listen({
  hostname: '127.0.0.1',
  port: Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 0),
  socket: {
    open(socket) {
      socket.data = { name: `guest${socket.remotePort}`, pending: '' }
      clients.add(socket)
      broadcast(socket, `* ${socket.data.name} joined\n`)
    },
    data(socket, chunk) {
      // Lines may arrive split across chunks, or several in one.
      const text = socket.data.pending + chunk.toString()
      const lines = text.split('\n')
      socket.data.pending = lines.pop()
      for (const line of lines) {
        if (line.startsWith('/nick ')) socket.data.name = line.slice(6).trim()
        else broadcast(socket, `${socket.data.name}: ${line}\n`)
      }
    },
    close(socket) {
      clients.delete(socket)
      broadcast(socket, `* ${socket.data.name} left\n`)
    },
  },
})
console.log(`chat server on ${server.hostname}:${server.port}`)

function broadcast(from, line) {
  for (const client of clients) if (client !== from) client.write(line)
}

if (process.argv.includes('--demo')) demo()

async function demo() {
  const say = (name) => ({
    data(socket, chunk) {
      process.stdout.write(`[${name} sees] ${chunk}`)
    },
  })
  const alice = await connect({ hostname: '127.0.0.1', port: server.port, socket: say('alice') })
  const bob = await connect({ hostname: '127.0.0.1', port: server.port, socket: say('bob') })
  alice.write('/nick alice\n')
  bob.write('/nick bob\n')
  setTimeout(() => alice.write('hello bob\n'), 50)
  setTimeout(() => bob.write('hi alice!\n'), 100)
  setTimeout(() => {
    alice.end()
    bob.end()
    server.stop(true)
  }, 200)
}
