'use strict'
// Code written for Bun: answers each message with its SHA-256, using two things from `bun`.
const { listen, CryptoHasher } = require('bun')

function startDigestServer() {
  return listen({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      data(socket, data) {
        socket.write(new CryptoHasher('sha256').update(data).digest('hex'))
      },
    },
  })
}

module.exports = { startDigestServer }
