'use strict'
// Shared test utilities. Everything here works the same under Jest (with `bun` mapped to the
// package) and under `bun test` (real Bun).

const os = require('node:os')
const path = require('node:path')
const fs = require('node:fs')
// Waits use node:timers, which Jest's fake timers leave alone (fake-timers.test.js).
const timers = require('node:timers')

/** True when the suite runs on real Bun rather than on the package. */
const onBun = typeof globalThis.Bun !== 'undefined' && typeof process.versions.bun === 'string'

/**
 * True when the errors a UDP send causes later (ICMP port unreachable on an unconnected socket,
 * an oversized datagram) reach `error`: Linux's error queue, which Bun on Linux reads and so does
 * this package's Linux build, but not its portable one (macOS, the BSDs, and Linux with the
 * `portable-fallbacks` feature: scripts/test-portable.sh).
 */
const hasErrorQueue = onBun ? process.platform === 'linux' : require('../lib/native').HAS_ERROR_QUEUE

/**
 * A test global (afterEach, expect) for these helpers. `bun test` gives the globals only to the
 * test files that name them, so here they come from bun:test when the global is missing.
 */
function testGlobal(name) {
  return typeof globalThis[name] === 'function' ? globalThis[name] : require('bun:test')[name]
}

const afterEachTest = (fn) => testGlobal('afterEach')(fn)

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
    timer = timers.setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => timers.clearTimeout(timer))
}

/** Resolves once `predicate()` is true, polling every few ms; rejects after `ms`. */
async function waitFor(predicate, ms = 5000, what = 'condition') {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`)
    await sleep(5)
  }
}

const sleep = (ms) => new Promise((resolve) => timers.setTimeout(resolve, ms))

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

/**
 * Runs fixtures from __test__/fixtures in child processes (`process.execPath`: node with the
 * package under Jest, bun under `bun test`), and kills and reaps them after each test. `run`
 * returns { child, exited, line, alive }: `exited` resolves with { code, signal, ms, stdout,
 * stderr }, `line(text)` once stdout has a line starting with `text`.
 */
function fixtureRunner() {
  const path = require('node:path')
  const { spawn } = require('node:child_process')
  let children = []
  afterEachTest(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    await Promise.all(children.map((child) => within(child.closed, 5000, 'child to be reaped').catch(() => {})))
    children = []
  })
  function run(name, args = [], execArgv = []) {
    const started = Date.now()
    const child = spawn(process.execPath, [...execArgv, path.join(__dirname, 'fixtures', name), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    let stdout = ''
    let stderr = ''
    let exitedAt = 0
    const waiters = []
    const hasLine = (text) => stdout.split('\n').some((l) => l.startsWith(text))
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (text) => {
      stdout += text
      for (const w of waiters) if (hasLine(w.text)) w.resolve()
    })
    child.stderr.on('data', (text) => {
      stderr += text
    })
    child.on('exit', () => {
      exitedAt = Date.now()
    })
    child.closed = new Promise((resolve) => {
      child.on('close', (code, signal) => resolve({ code, signal, ms: (exitedAt || Date.now()) - started, stdout, stderr }))
    })
    const line = (text) => {
      const d = deferred()
      waiters.push({ text, resolve: d.resolve })
      if (hasLine(text)) d.resolve()
      return within(d.promise, 10000, `"${text}" from ${name}`)
    }
    const alive = () => child.exitCode === null && child.signalCode === null
    return { child, exited: child.closed, line, alive }
  }
  /** Asserts the child is still running after `ms`, then kills it. */
  async function expectAliveAfter(proc, ms) {
    const expect = testGlobal('expect')
    const outcome = await Promise.race([proc.exited.then((r) => ({ exited: r })), sleep(ms).then(() => null)])
    expect(outcome).toBeNull()
    expect(proc.alive()).toBe(true)
    proc.child.kill('SIGKILL')
    const result = await within(proc.exited, 5000, 'killed child to exit')
    expect(result.signal).toBe('SIGKILL')
  }
  return { run, expectAliveAfter }
}

/**
 * Returns `track(handle)`: what it is given (listeners, TCP or UDP sockets) is closed after each
 * test, even a failed one.
 */
function autoClose() {
  const opened = []
  afterEachTest(() => {
    for (const handle of opened.splice(0).reverse()) {
      if (typeof handle.stop === 'function') handle.stop(true)
      else if (typeof handle.terminate === 'function') handle.terminate()
      else handle.close()
    }
  })
  return (handle) => {
    opened.push(handle)
    return handle
  }
}

/** The error `fn` throws synchronously, or undefined after closing whatever it opened. */
function thrown(fn) {
  let result
  try {
    result = fn()
  } catch (err) {
    return err
  }
  if (result && typeof result.stop === 'function') result.stop(true)
  // A TCP socket terminates; a UDP socket has only close().
  if (result && typeof result.then === 'function') result.then((s) => (s.terminate ?? s.close).call(s), () => {})
  return undefined
}

/** Writes `buf` through `socket.write`, resuming from `drain`; `done` resolves once all went out. */
function sender(buf, chunkSize = 64 * 1024) {
  let offset = 0
  const done = deferred()
  const pump = (socket) => {
    while (offset < buf.length) {
      const chunk = buf.subarray(offset, offset + chunkSize)
      const n = socket.write(chunk)
      if (n < 0) return done.reject(new Error(`write returned ${n} at offset ${offset}`))
      offset += n
      if (n < chunk.length) return // the rest goes on `drain`
    }
    done.resolve()
  }
  return { pump, done: done.promise }
}

/**
 * A seeded generator (mulberry32) for randomized tests. The seed comes from BUN_SOCKETS_SEED when
 * set, so a failure can be replayed; `seeded` puts it into the failure message.
 */
function rng(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    seed,
    next,
    /** An integer in [lo, hi]. */
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (list) => list[Math.floor(next() * list.length)],
    /** Random bytes, reproducible from the seed. */
    bytes(n) {
      const out = Buffer.allocUnsafe(n)
      for (let i = 0; i < n; i += 4) out.writeUInt32LE((next() * 4294967296) >>> 0, Math.min(i, n - 4))
      return n < 4 ? out.fill(7) : out
    },
  }
}

/** A fresh seed, or the one BUN_SOCKETS_SEED asks for. */
function newSeed() {
  const fixed = process.env.BUN_SOCKETS_SEED
  return fixed !== undefined && fixed !== '' ? Number(fixed) >>> 0 : Math.floor(Math.random() * 2 ** 32)
}

/** Runs `fn(random)` and, if it fails, names the seed that replays it (BUN_SOCKETS_SEED=...). */
async function seeded(fn, seed = newSeed()) {
  try {
    return await fn(rng(seed))
  } catch (err) {
    const replay = `[replay with BUN_SOCKETS_SEED=${seed}]`
    if (err instanceof Error) {
      err.message = `${replay} ${err.message}`
      throw err
    }
    throw new Error(`${replay} ${String(err)}`)
  }
}

/** How many sockets this process holds open, from /proc/self/fd (Linux). */
function openSockets() {
  return fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')
    } catch {
      return false
    }
  }).length
}

module.exports = {
  openSockets,
  onBun,
  hasErrorQueue,
  rng,
  seeded,
  deferred,
  within,
  waitFor,
  sleep,
  tempDir,
  hasIPv6,
  freePort,
  fixtureRunner,
  autoClose,
  thrown,
  sender,
}
