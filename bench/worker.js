'use strict'
// One measurement in a fresh process: `node bench/worker.js <workload> <bun|node> '<params json>'`.
// Server and client both live in this process and both use the implementation under test.
// The result goes to the parent over IPC (or to stdout as JSON when run by hand).

const dgram = require('node:dgram')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { HOST, MiB, sleep, deferred, pattern, now, sendBun, flushBun, connLoop } = require('./common')

const loadBun = () => require(path.join(__dirname, '..'))

// ---------------------------------------------------------------------------------------------
// Helpers: a server/client pair per implementation.

function nodeListen(onConnection) {
  const server = net.createServer(onConnection)
  const ready = deferred()
  server.on('error', ready.reject)
  server.listen(0, HOST, () => ready.resolve(server))
  return ready.promise
}

function nodeConnect(port) {
  const ready = deferred()
  const s = net.connect({ host: HOST, port })
  s.once('connect', () => ready.resolve(s))
  s.once('error', ready.reject)
  return ready.promise
}

/** The state sendBun/flushBun keep per bun-sockets socket. */
const bunState = () => ({ q: [], rx: 0 })

/** A bun-sockets echo server honouring short writes: pauses reading while output is queued. */
function bunEchoServer(bun) {
  return bun.listen({
    hostname: HOST,
    port: 0,
    socket: {
      open(s) {
        s.data = bunState()
      },
      data(s, chunk) {
        if (!sendBun(s, chunk)) s.pause()
      },
      drain(s) {
        if (flushBun(s)) s.resume()
      },
      error() {},
    },
  })
}

// ---------------------------------------------------------------------------------------------
// 1 and 2. Bulk transfer: the client sends `bytes` in `chunk`-byte writes, honouring
// backpressure. One-way: a server counts the bytes. Echo: the server sends everything back and
// the client counts what returns. The clock runs from the first write to the last byte counted.

async function bulkBun({ bytes, chunk, echo }) {
  const bun = loadBun()
  const block = pattern(chunk)
  const done = deferred()
  let received = 0
  const server = echo
    ? bunEchoServer(bun)
    : bun.listen({
        hostname: HOST,
        port: 0,
        socket: {
          data(s, buf) {
            received += buf.length
            if (received >= bytes) done.resolve()
          },
          error() {},
        },
      })

  let sent = 0
  let cur = null // the part of the current block the kernel has not taken yet
  let writes = 0
  let shortWrites = 0
  const pump = (s) => {
    for (;;) {
      if (cur === null) {
        if (sent >= bytes) return
        cur = bytes - sent >= chunk ? block : block.subarray(0, bytes - sent)
      }
      const n = s.write(cur)
      writes++
      if (n < 0) return done.reject(new Error('client socket closed while sending'))
      sent += n
      if (n === cur.length) {
        cur = null
        continue
      }
      shortWrites++
      cur = cur.subarray(n)
      return // the drain handler resumes
    }
  }
  const client = await bun.connect({
    hostname: HOST,
    port: server.port,
    socket: {
      data(s, buf) {
        received += buf.length
        if (received >= bytes) done.resolve()
      },
      drain: pump,
      close(s, err) {
        if (received < bytes) done.reject(err ?? new Error('client closed early'))
      },
      error(s, err) {
        done.reject(err)
      },
    },
  })
  const t0 = now()
  pump(client)
  await done.promise
  const ms = now() - t0
  client.end()
  server.stop(true)
  if (received !== bytes) throw new Error(`received ${received} bytes, expected ${bytes}`)
  return { value: bytes / MiB / (ms / 1000), ms, writes, shortWrites }
}

async function bulkNode({ bytes, chunk, echo }) {
  const block = pattern(chunk)
  const done = deferred()
  let received = 0
  const server = await nodeListen((s) => {
    s.on('error', () => {})
    if (echo) {
      s.pipe(s)
    } else {
      s.on('data', (buf) => {
        received += buf.length
        if (received >= bytes) done.resolve()
      })
    }
  })
  const client = await nodeConnect(server.address().port)
  client.on('error', (err) => done.reject(err))
  if (echo) {
    client.on('data', (buf) => {
      received += buf.length
      if (received >= bytes) done.resolve()
    })
  }
  let sent = 0
  let waits = 0
  const pump = () => {
    while (sent < bytes) {
      const buf = bytes - sent >= chunk ? block : block.subarray(0, bytes - sent)
      sent += buf.length
      if (!client.write(buf)) {
        waits++
        client.once('drain', pump)
        return
      }
    }
  }
  const t0 = now()
  pump()
  await done.promise
  const ms = now() - t0
  client.destroy()
  server.close()
  if (received !== bytes) throw new Error(`received ${received} bytes, expected ${bytes}`)
  return { value: bytes / MiB / (ms / 1000), ms, drainWaits: waits }
}

// ---------------------------------------------------------------------------------------------
// 3. Ping-pong: `conns` connections, each with one `size`-byte message in flight; the server
// echoes, the client sends the next message once the whole previous one is back. Counted over
// `seconds` after `warmup` seconds.

function pingpongClock({ seconds, warmup }, count) {
  // Returns a promise of { value, ms } and a `running()` predicate for the senders.
  const out = deferred()
  let stopped = false
  let c0 = 0
  let t0 = 0
  setTimeout(() => {
    c0 = count()
    t0 = now()
    setTimeout(() => {
      stopped = true
      const ms = now() - t0
      const n = count() - c0
      out.resolve({ value: n / (ms / 1000), ms, roundTrips: n })
    }, seconds * 1000)
  }, warmup * 1000)
  return { result: out.promise, running: () => !stopped }
}

async function pingpongBun(params) {
  const { conns, size } = params
  const bun = loadBun()
  const msg = pattern(size)
  const server = bunEchoServer(bun)
  let count = 0
  const failed = deferred()
  const clock = pingpongClock(params, () => count)
  const handlers = {
    open(s) {
      s.data = bunState()
      s.setNoDelay(true)
    },
    data(s, buf) {
      const st = s.data
      st.rx += buf.length
      if (st.rx >= size) {
        st.rx -= size
        count++
        if (clock.running()) sendBun(s, msg)
      }
    },
    drain: flushBun,
    close(s, err) {
      if (clock.running()) failed.reject(err ?? new Error('client closed during the run'))
    },
    error(s, err) {
      failed.reject(err)
    },
  }
  const clients = await Promise.all(
    Array.from({ length: conns }, () => bun.connect({ hostname: HOST, port: server.port, socket: handlers })),
  )
  for (const s of clients) sendBun(s, msg)
  const result = await Promise.race([clock.result, failed.promise])
  for (const s of clients) s.end()
  server.stop(true)
  return result
}

async function pingpongNode(params) {
  const { conns, size } = params
  const msg = pattern(size)
  const server = await nodeListen((s) => {
    s.setNoDelay(true)
    s.on('error', () => {})
    s.pipe(s)
  })
  const port = server.address().port
  let count = 0
  const failed = deferred()
  const clock = pingpongClock(params, () => count)
  const clients = await Promise.all(Array.from({ length: conns }, () => nodeConnect(port)))
  for (const s of clients) {
    s.setNoDelay(true)
    let rx = 0
    s.on('data', (buf) => {
      rx += buf.length
      if (rx >= size) {
        rx -= size
        count++
        if (clock.running()) s.write(msg)
      }
    })
    s.on('error', (err) => failed.reject(err))
    s.on('close', () => {
      if (clock.running()) failed.reject(new Error('client closed during the run'))
    })
    s.write(msg)
  }
  const result = await Promise.race([clock.result, failed.promise])
  for (const s of clients) s.destroy()
  server.close()
  return result
}

// ---------------------------------------------------------------------------------------------
// 4. Connection rate: up to `inflight` connections at a time. A cycle is: connect, the server
// accepts, the client closes as soon as it is connected, and the server's socket closes (the
// slot is then reused). Bun's socket.end() closes at once (FIN, fd closed), so the node client
// uses destroy(), which does the same on the wire. Counted over `seconds` after `warmup`.


async function connrateBun(params) {
  const bun = loadBun()
  // Each accepted socket frees one slot when it closes.
  const waiting = []
  const server = bun.listen({
    hostname: HOST,
    port: 0,
    socket: {
      data() {},
      close() {
        waiting.shift()?.()
      },
      error() {},
    },
  })
  const clientHandlers = {
    open(s) {
      s.end()
    },
    data() {},
    error() {},
  }
  const result = await connLoop(params, (free) => {
    waiting.push(free)
    bun.connect({ hostname: HOST, port: server.port, socket: clientHandlers }).catch((err) => {
      waiting.pop()
      free(err)
    })
  })
  server.stop(true)
  return result
}

async function connrateNode(params) {
  const waiting = []
  const server = await nodeListen((s) => {
    s.on('data', () => {})
    s.on('error', () => {})
    s.on('close', () => waiting.shift()?.())
  })
  const port = server.address().port
  const result = await connLoop(params, (free) => {
    waiting.push(free)
    const s = net.connect({ host: HOST, port })
    s.once('connect', () => s.destroy())
    s.once('error', (err) => {
      waiting.pop()
      free(err)
    })
  })
  server.close()
  return result
}

// ---------------------------------------------------------------------------------------------
// 5. UDP: a sender socket sends `size`-byte datagrams to a receiver socket, both on 127.0.0.1 in
// this process, for `warmup` + `seconds` seconds. Pacing, the same for both implementations:
// `batch` datagrams per event-loop turn, then setImmediate (the receiver gets its turn in the
// loop's poll phase in between). Mode 'send': one send() call per datagram; 'sendMany': one
// sendMany() call per batch (node: `batch` send() calls, it has no sendMany). Backpressure:
// bun-sockets — stop on a false send() / a short sendMany() and resume the rest on `drain`;
// node — don't start a batch while getSendQueueCount() > 0. Rates count the `seconds` window
// after the warm-up; loss counts the whole run, after the receiver has gone quiet.

/** The kernel's UDP counters (system-wide), to tell receive-buffer overflows from other losses. */
function udpCounters() {
  try {
    const lines = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'))
    const keys = lines[0].split(' ')
    const values = lines[1].split(' ').map(Number)
    return Object.fromEntries(keys.map((k, i) => [k, values[i]]))
  } catch {
    return {}
  }
}

/**
 * The run's clock and bookkeeping. `pump()` sends one batch and returns false when it waits for
 * `drain` (then `resume()` restarts it); otherwise the next batch follows after setImmediate.
 */
function udpRun({ seconds, warmup }, counters, pump) {
  const out = deferred()
  let phase = 'warmup' // -> 'measure' -> 'stopped'
  let s0 = 0
  let r0 = 0
  let t0 = 0
  let cpu0 = null
  let window = null
  const kernel0 = udpCounters()
  const turn = () => {
    if (phase === 'stopped') return
    if (pump() !== false) setImmediate(turn)
  }
  setTimeout(() => {
    phase = 'measure'
    s0 = counters.sent
    r0 = counters.received
    t0 = now()
    cpu0 = process.cpuUsage()
    setTimeout(async () => {
      const ms = now() - t0
      const cpu = process.cpuUsage(cpu0)
      window = { ms, sent: counters.sent - s0, received: counters.received - r0 }
      phase = 'stopped'
      // Let the datagrams in flight arrive: done once the count has not moved for 100 ms.
      let last = -1
      for (let i = 0; i < 50 && counters.received !== last; i++) {
        last = counters.received
        await sleep(100)
      }
      const lost = counters.sent - counters.received
      const kernel1 = udpCounters()
      out.resolve({
        value: (window.received / ms) * 1000,
        sentPerSec: (window.sent / ms) * 1000,
        receivedPerSec: (window.received / ms) * 1000,
        lossPct: counters.sent > 0 ? (lost / counters.sent) * 100 : NaN,
        ms,
        windowSent: window.sent,
        windowReceived: window.received,
        totalSent: counters.sent,
        totalReceived: counters.received,
        badLength: counters.badLength,
        senderWaits: counters.waits,
        // CPU time of the whole process (all threads) in the timed window, in % of one core.
        cpuPct: ((cpu.user + cpu.system) / 1000 / ms) * 100,
        // Datagrams the kernel dropped for a full receive buffer, machine-wide, during the run.
        rcvbufErrors: kernel1.RcvbufErrors - kernel0.RcvbufErrors,
      })
    }, seconds * 1000)
  }, warmup * 1000)
  return { result: out.promise, resume: () => setImmediate(turn), start: turn, stopped: () => phase === 'stopped' }
}

async function udpBun(params) {
  const { size, batch, mode } = params
  const { udpSocket } = loadBun()
  const msg = pattern(size)
  const counters = { sent: 0, received: 0, badLength: 0, waits: 0 }
  const failed = deferred()
  const receiver = await udpSocket({
    hostname: HOST,
    port: 0,
    socket: {
      data(s, data) {
        counters.received++
        if (data.length !== size) counters.badLength++
      },
      error(err) {
        failed.reject(err)
      },
    },
  })
  const port = receiver.port
  // sendMany's argument for a full batch, and what is left of it after a short send.
  const full = []
  for (let i = 0; i < batch; i++) full.push(msg, port, HOST)
  let rest = null // packets (sendMany) or datagram count (send) still to go in this batch
  let waiting = false
  let run = null
  const pump = () => {
    if (mode === 'sendMany') {
      const packets = rest ?? full
      const n = sender.sendMany(packets)
      counters.sent += n
      if (n * 3 === packets.length) {
        rest = null
        return true
      }
      rest = packets.slice(n * 3)
    } else {
      let left = rest ?? batch
      while (left > 0 && sender.send(msg, port, HOST)) {
        counters.sent++
        left--
      }
      if (left === 0) {
        rest = null
        return true
      }
      rest = left
    }
    counters.waits++
    waiting = true
    return false // `drain` resumes
  }
  const sender = await udpSocket({
    hostname: HOST,
    port: 0,
    socket: {
      data() {},
      drain() {
        // Also fires once right after creation; resume only a sender that is waiting.
        if (waiting && !run.stopped()) {
          waiting = false
          run.resume()
        }
      },
      error(err) {
        failed.reject(err)
      },
    },
  })
  run = udpRun(params, counters, pump)
  run.start()
  const result = await Promise.race([run.result, failed.promise])
  sender.close()
  receiver.close()
  return result
}

async function udpNode(params) {
  const { size, batch } = params
  const msg = pattern(size)
  const counters = { sent: 0, received: 0, badLength: 0, waits: 0 }
  const failed = deferred()
  const bind = (sock) => {
    const ready = deferred()
    sock.once('error', ready.reject)
    sock.bind(0, HOST, () => {
      sock.removeListener('error', ready.reject)
      sock.on('error', (err) => failed.reject(err))
      ready.resolve()
    })
    return ready.promise
  }
  const receiver = dgram.createSocket('udp4')
  receiver.on('message', (data) => {
    counters.received++
    if (data.length !== size) counters.badLength++
  })
  await bind(receiver)
  const port = receiver.address().port
  const sender = dgram.createSocket('udp4')
  await bind(sender)
  const pump = () => {
    // libuv queues what the kernel did not take at once; wait for that queue to empty.
    if (sender.getSendQueueCount() > 0) {
      counters.waits++
      return true // try again next turn
    }
    for (let i = 0; i < batch; i++) sender.send(msg, port, HOST)
    counters.sent += batch
    return true
  }
  const run = udpRun(params, counters, pump)
  run.start()
  const result = await Promise.race([run.result, failed.promise])
  sender.close()
  receiver.close()
  return result
}

// ---------------------------------------------------------------------------------------------

const WORKLOADS = {
  bulk: { bun: bulkBun, node: bulkNode },
  pingpong: { bun: pingpongBun, node: pingpongNode },
  connrate: { bun: connrateBun, node: connrateNode },
  udp: { bun: udpBun, node: udpNode },
  ...require('./tls'),
}

async function main() {
  const [workload, impl, json] = process.argv.slice(2)
  const fn = WORKLOADS[workload]?.[impl]
  if (fn === undefined) throw new Error(`usage: worker.js <${Object.keys(WORKLOADS).join('|')}> <bun|node> [params]`)
  const result = await fn(JSON.parse(json ?? '{}'))
  if (process.send) process.send({ result }, () => process.exit(0))
  else {
    console.log(JSON.stringify(result))
    process.exit(0)
  }
}

main().catch((err) => {
  const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  if (process.send) process.send({ error }, () => process.exit(1))
  else {
    console.error(error)
    process.exit(1)
  }
})
