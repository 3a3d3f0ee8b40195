'use strict'
// require('bun-sockets/polyfill'): makes Bun.listen, Bun.connect, Bun.udpSocket and
// Bun.ArrayBufferSink available on Node, so code written for Bun runs unchanged.
//
// Under real Bun (process.versions.bun set) it does nothing at all, not even load the addon: Bun's
// own implementations stay. Elsewhere it creates globalThis.Bun as a plain object when absent and
// fills in only the members that are missing, so another shim's (or the user's) choices survive
// and requiring it twice is harmless.

const onBun = typeof process !== 'undefined' && process.versions != null && typeof process.versions.bun === 'string'

if (!onBun) {
  const api = require('./index.js')
  if (globalThis.Bun === undefined) globalThis.Bun = {}
  const Bun = globalThis.Bun
  for (const name of ['listen', 'connect', 'udpSocket', 'ArrayBufferSink']) {
    if (Bun[name] === undefined) Bun[name] = api[name]
  }
}
