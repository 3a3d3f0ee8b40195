'use strict'
// bun-sockets: Bun.listen, Bun.connect and Bun.udpSocket for Node.js.

const { listen, connect } = require('./lib/tcp')

module.exports = { listen, connect }
module.exports.default = module.exports
