'use strict'
// This project's `bun` module on Node: the sockets from bun-sockets, and small shims for the rest
// of Bun that the code and its tests use. jest.config.js maps `bun` here and runs it first, so
// `Bun.sleep` and `Bun.listen` work as globals too.
const crypto = require('node:crypto')
const { listen, connect, udpSocket, ArrayBufferSink } = require('bun-sockets')

class CryptoHasher {
  constructor(algorithm) {
    this.hash = crypto.createHash(algorithm)
  }
  update(data) {
    this.hash.update(data)
    return this
  }
  digest(encoding) {
    return encoding === undefined ? this.hash.digest() : this.hash.digest(encoding)
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

module.exports = { listen, connect, udpSocket, ArrayBufferSink, CryptoHasher, sleep }

// Under real Bun the global is Bun's own.
if (typeof process.versions.bun !== 'string') globalThis.Bun = { ...module.exports, ...globalThis.Bun }
