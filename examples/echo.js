'use strict'
// An echo server and a client talking over loopback, with Bun's socket API on Node.
//   node examples/echo.js

const { listen, connect } = require('..')

const server = listen({
  hostname: '127.0.0.1',
  port: 0,
  socket: {
    open(socket) {
      console.log(`server: client connected from ${socket.remoteAddress}:${socket.remotePort}`)
    },
    data(socket, data) {
      console.log(`server: received ${JSON.stringify(data.toString())}, echoing it back`)
      socket.write(data)
    },
    close() {
      console.log('server: client disconnected')
      server.stop()
    },
  },
})
console.log(`server: listening on ${server.hostname}:${server.port}`)

const messages = ['hello', 'from Bun.connect', 'on Node.js']

connect({
  hostname: '127.0.0.1',
  port: server.port,
  socket: {
    open(socket) {
      console.log(`client: connected to ${socket.remoteAddress}:${socket.remotePort}`)
      socket.write(messages.shift())
    },
    data(socket, data) {
      console.log(`client: got ${JSON.stringify(data.toString())} back`)
      const next = messages.shift()
      if (next === undefined) socket.end()
      else socket.write(next)
    },
    close() {
      console.log('client: closed')
    },
  },
})
