'use strict'
// Bun socket code under test: an echo server that upper-cases what it receives.
const { listen } = require('bun')

function startUpperEcho() {
  return listen({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      data(socket, data) {
        socket.write(String(data).toUpperCase())
      },
    },
  })
}

module.exports = { startUpperEcho }
