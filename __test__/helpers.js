'use strict'
// Shared test utilities. Everything here works the same under Jest (with `bun` mapped to the
// package) and under `bun test` (real Bun).

const os = require('node:os')
const path = require('node:path')
const fs = require('node:fs')

/** True when the suite runs on real Bun rather than on the package. */
const onBun = typeof globalThis.Bun !== 'undefined' && typeof process.versions.bun === 'string'

/** A promise with its resolve/reject exposed. */
function deferred() {
  let resolve, reject
  const promise = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Rejects if `promise` does not settle within `ms`. */
function within(promise, ms = 5000, what = 'operation') {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Resolves once `predicate()` is true, polling every few ms; rejects after `ms`. */
async function waitFor(predicate, ms = 5000, what = 'condition') {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`)
    await sleep(5)
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A fresh directory for unix socket paths. */
function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bun-sockets-'))
}

/** ::1 when the machine has IPv6 loopback. */
function hasIPv6() {
  return Object.values(os.networkInterfaces()).some((list) =>
    (list ?? []).some((i) => i.family === 'IPv6' && i.address === '::1'),
  )
}

/** A port that was free a moment ago (bound and released by Node's net). */
async function freePort(host = '127.0.0.1') {
  const net = require('node:net')
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, host, resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

module.exports = { onBun, deferred, within, waitFor, sleep, tempDir, hasIPv6, freePort }
