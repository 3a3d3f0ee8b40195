'use strict'
// bun-sockets: Bun.listen, Bun.connect and Bun.udpSocket for Node.js.

const { listen, connect } = require('./lib/tcp')
const { udpSocket } = require('./lib/udp')

module.exports = { listen, connect, udpSocket }
module.exports.default = module.exports
