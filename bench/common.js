'use strict'
// Small helpers shared by the benchmark's child processes, under Node and under Bun.

const fs = require('node:fs')
const path = require('node:path')

const HOST = '127.0.0.1'
const MiB = 1024 * 1024

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Bun's socket API: Bun's own under Bun, this package under Node. Workers for bun-sockets and
 * for Bun run the same code; only the provider differs.
 */
/** A Node module loaded on first use: the Bun-API processes never pay for node:net, node:tls or
 * node:dgram (several MB of RSS) that only the node runs use. */
function lazyModule(name) {
  let loaded = null
  return new Proxy({}, { get: (_, key) => (loaded ??= require(name))[key] })
}

const loadBun = () => globalThis.Bun ?? require(path.join(__dirname, '..'))

/** A promise with its resolve/reject exposed. */
function deferred() {
  let resolve, reject
  const promise = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** A buffer of `size` bytes of a repeating, non-trivial pattern. */
function pattern(size) {
  const buf = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + 7) & 0xff
  return buf
}

/** High-resolution clock in milliseconds. */
const now = () => Number(process.hrtime.bigint()) / 1e6

/** Keeps the calling thread busy for `ms` (a consumer doing work per chunk). */
function spin(ms) {
  const end = now() + ms
  while (now() < end);
}

/**
 * Writes `buf` on a Bun-API socket, keeping what the kernel did not take in the socket's
 * queue (`s.data.q`); the socket's `drain` handler must call `flushBun(s)`. Returns false when
 * bytes were left queued (the caller may pause its input until the queue is empty).
 */
function sendBun(s, buf) {
  const st = s.data
  if (st.q.length > 0) {
    st.q.push(buf)
    return false
  }
  const n = s.write(buf)
  if (n === buf.length) return true
  if (n < 0) return false // closed
  st.q.push(n === 0 ? buf : buf.subarray(n))
  return false
}

/** Sends what sendBun queued; true once the queue is empty. */
function flushBun(s) {
  const q = s.data.q
  while (q.length > 0) {
    const buf = q[0]
    const n = s.write(buf)
    if (n < 0) return false
    if (n < buf.length) {
      q[0] = buf.subarray(n)
      return false
    }
    q.shift()
  }
  return true
}

/**
 * A sender of `bytes` in `chunk`-byte writes on a Bun-API socket, honouring backpressure: what
 * the kernel did not take is re-sent on `drain` (call `pump(s)` from the drain handler).
 */
function bunPump(bytes, chunk, onError) {
  const block = pattern(chunk)
  const stats = { sent: 0, writes: 0, shortWrites: 0 }
  let cur = null // the part of the current block not taken yet
  const pump = (s) => {
    for (;;) {
      if (cur === null) {
        if (stats.sent >= bytes) return
        cur = bytes - stats.sent >= chunk ? block : block.subarray(0, bytes - stats.sent)
      }
      const n = s.write(cur)
      stats.writes++
      if (n < 0) return onError(new Error('client socket closed while sending'))
      stats.sent += n
      if (n === cur.length) {
        cur = null
        continue
      }
      stats.shortWrites++
      if (n > 0) cur = cur.subarray(n)
      return // the drain handler resumes
    }
  }
  return { pump, stats }
}

/** The same for a node:net or node:tls socket: waits for 'drain' when write() returns false. */
function nodePump(socket, bytes, chunk) {
  const block = pattern(chunk)
  const stats = { sent: 0, drainWaits: 0 }
  const pump = () => {
    while (stats.sent < bytes) {
      const buf = bytes - stats.sent >= chunk ? block : block.subarray(0, bytes - stats.sent)
      stats.sent += buf.length
      if (!socket.write(buf)) {
        stats.drainWaits++
        socket.once('drain', pump)
        return
      }
    }
  }
  return { pump, stats }
}

/**
 * Peak RSS of this process: the kernel's high-water mark (VmHWM) where /proc exists, and a
 * sample every `everyMs` on the JS thread either way (it can miss a short peak; VmHWM cannot).
 */
function rssPeak(everyMs = 20) {
  let sampled = process.memoryUsage.rss()
  const timer = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage.rss())
  }, everyMs)
  return () => {
    clearInterval(timer)
    sampled = Math.max(sampled, process.memoryUsage.rss())
    const hwm = procStatusKiB('VmHWM')
    return { peakRssMiB: (hwm !== null ? hwm * 1024 : sampled) / MiB, sampledPeakRssMiB: sampled / MiB }
  }
}

function procStatusKiB(field) {
  try {
    const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s*(\\d+) kB`, 'm'))
    return m ? Number(m[1]) : null
  } catch {
    return null
  }
}

/** CPU time per thread (ns, from schedstat) keyed by thread id, or null without /proc. */
function threadTimes() {
  try {
    const out = new Map()
    for (const tid of fs.readdirSync('/proc/self/task')) {
      try {
        const comm = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()
        const ns = Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0])
        out.set(tid, { comm, ns })
      } catch {
        // the thread ended between readdir and read
      }
    }
    return out
  } catch {
    return null
  }
}

/**
 * Keeps up to `inflight` cycles going, each started by `startOne(done)` and ended by
 * `done(err)`; resolves with the cycles completed per second over `seconds` after `warmup`.
 */
function connLoop({ inflight, seconds, warmup }, startOne) {
  const out = deferred()
  let done = 0
  let errors = 0
  let firstError = null
  let stopped = false
  let active = 0
  let c0 = 0
  let t0 = 0
  const slotFreed = (err) => {
    active--
    if (err) {
      errors++
      firstError ??= err
    } else done++
    if (errors > 100) {
      stopped = true
      out.reject(firstError)
    }
    fill()
  }
  const fill = () => {
    while (!stopped && active < inflight) {
      active++
      startOne(slotFreed)
    }
  }
  setTimeout(() => {
    c0 = done
    t0 = now()
    setTimeout(() => {
      stopped = true
      const ms = now() - t0
      const n = done - c0
      out.resolve({ value: n / (ms / 1000), ms, connections: n, errors, firstError: firstError?.message })
    }, seconds * 1000)
  }, warmup * 1000)
  fill()
  return out.promise
}

module.exports = {
  lazyModule,
  HOST,
  MiB,
  sleep,
  loadBun,
  deferred,
  pattern,
  now,
  spin,
  sendBun,
  flushBun,
  bunPump,
  nodePump,
  rssPeak,
  threadTimes,
  connLoop,
}
