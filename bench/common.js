'use strict'
// Small helpers shared by the benchmark's child processes.

const HOST = '127.0.0.1'
const MiB = 1024 * 1024

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

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

/**
 * Writes `buf` on a bun-sockets socket, keeping what the kernel did not take in the socket's
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

module.exports = { HOST, MiB, sleep, deferred, pattern, now, sendBun, flushBun, connLoop }
