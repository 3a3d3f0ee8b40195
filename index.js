'use strict'
// bun-sockets: Bun.listen, Bun.connect and Bun.udpSocket for Node.js.

const { listen, connect } = require('./lib/tcp')
const { udpSocket } = require('./lib/udp')
const { ArrayBufferSink } = require('./lib/sink')

module.exports = { listen, connect, udpSocket, ArrayBufferSink }
module.exports.default = module.exports
