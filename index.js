'use strict'
// bun-sockets: Bun.listen, Bun.connect and Bun.udpSocket for Node.js.

const { connect } = require('./lib/tcp')
const { listen } = require('./lib/listener')
const { udpSocket } = require('./lib/udp')
const { ArrayBufferSink } = require('./lib/sink')

module.exports = { listen, connect, udpSocket, ArrayBufferSink }
module.exports.default = module.exports
